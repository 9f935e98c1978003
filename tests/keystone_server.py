"""A real Keystone for the tests: built into a virtualenv of its own, served by gunicorn.

The virtualenv lives in `.keystone-venv/` at the top of the repository (ignored
by git) and is reused while it holds the pinned Keystone; each test session
gets a fresh SQLite database and fernet keys. `python tests/keystone_server.py
build` builds the virtualenv ahead of a run, as `.ci/run` does.
"""

from __future__ import annotations

import datetime
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import venvs

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".keystone-venv"
KEYSTONE = "keystone==30.0.0"
GUNICORN = "gunicorn==27.0.1"
HINT = (
    "Keystone is built from PyPI into .keystone-venv/ on first use; build it with "
    "`python tests/keystone_server.py build` and read the error it prints"
)

# oslo.config parses sys.argv when Keystone's WSGI module is imported; under
# gunicorn that is gunicorn's own command line, which Keystone would refuse.
_WSGI_WRAPPER = """\
import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402,F401
"""


class KeystoneUnavailable(RuntimeError):
    """Keystone could not be built, set up or started here."""


def build_venv(timeout: float = 900) -> Path:
    """The virtualenv with Keystone and gunicorn, built if missing or for another pin."""
    try:
        return venvs.build_venv(VENV, [KEYSTONE, GUNICORN], "Keystone", timeout)
    except venvs.VenvUnavailable as exc:
        raise KeystoneUnavailable(str(exc)) from exc


@dataclass
class Account:
    """A Keystone user with its password, scoped to one project."""

    name: str
    password: str
    project_id: str
    project_name: str
    user_id: str = ""


@dataclass
class Keystone:
    """One Keystone server: its URL, admin credentials and the accounts the tests use."""

    directory: Path
    port: int
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    process: subprocess.Popen[bytes] | None = None
    accounts: dict[str, Account] = field(default_factory=dict)
    _admin: tuple[str, float] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def log(self) -> Path:
        return self.directory / "keystone.log"

    # Setting up

    def configure(self) -> None:
        """Write keystone.conf and run the database and key set-up steps."""
        d = self.directory
        (d / "keystone.conf").write_text(
            "[DEFAULT]\n"
            f"log_file = {d / 'keystone.log'}\n"
            "[database]\n"
            f"connection = sqlite:///{d / 'keystone.db'}\n"
            "[token]\n"
            "provider = fernet\n"
            "expiration = 3600\n"
            "[fernet_tokens]\n"
            f"key_repository = {d / 'fernet-keys'}\n"
            "[fernet_receipts]\n"
            f"key_repository = {d / 'fernet-receipts'}\n"
            "[credential]\n"
            f"key_repository = {d / 'credential-keys'}\n"
            "[identity]\n"
            "password_hash_algorithm = bcrypt\n"
            # The fewest rounds bcrypt allows: creating users is then quick.
            "password_hash_rounds = 4\n"
            # Keystone's own cache, in the one worker's memory: without it a
            # validation takes half a second here, with it a few milliseconds.
            "[cache]\n"
            "enabled = true\n"
            "backend = dogpile.cache.memory\n"
        )
        (d / "herald_keystone_wsgi.py").write_text(_WSGI_WRAPPER)
        user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        self._manage("db_sync")
        self._manage("fernet_setup", *user)
        self._manage("credential_setup", *user)
        self._manage(
            "bootstrap",
            "--bootstrap-password",
            self.admin_password,
            "--bootstrap-admin-url",
            self.auth_url,
            "--bootstrap-public-url",
            self.auth_url,
            "--bootstrap-internal-url",
            self.auth_url,
            "--bootstrap-region-id",
            "RegionOne",
        )

    def _manage(self, *args: str) -> None:
        command = [str(VENV / "bin" / "keystone-manage"), "--config-file", self._conf, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise KeystoneUnavailable(f"keystone-manage {args[0]} failed: {done.stderr[-2000:]}")

    @property
    def _conf(self) -> str:
        return str(self.directory / "keystone.conf")

    # Running

    def start(self, timeout: float = 60) -> None:
        """Serve Keystone on its port and wait until it answers."""
        command = [
            str(VENV / "bin" / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            # One sync worker: two gave sporadic "database is locked" answers on SQLite.
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--timeout",
            "120",
            "--no-control-socket",
            "--chdir",
            str(self.directory),
            "herald_keystone_wsgi:application",
        ]
        env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": self._conf}
        with open(self.directory / "gunicorn.log", "ab") as out:
            # A session of its own, so that `pause` can stop the master and its worker.
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KeystoneUnavailable(f"gunicorn exited: {self._tail()}")
            try:
                if httpx.get(self.auth_url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise KeystoneUnavailable(f"Keystone did not answer within {timeout} s: {self._tail()}")

    def stop(self) -> None:
        """Stop gunicorn and wait for it; the port is free afterwards."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """Freeze Keystone (SIGSTOP): connections are still accepted, never answered."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def _tail(self) -> str:
        log = self.directory / "gunicorn.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    # Keystone's API

    def token(
        self,
        username: str,
        password: str,
        project_id: str | None = None,
        domain: str = "default",
    ) -> str:
        """A token for the user: scoped to the project, or unscoped without one."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": username, "domain": {"id": domain}, "password": password}
                },
            }
        }
        if project_id is not None:
            auth["scope"] = {"project": {"id": project_id}}
        answer = httpx.post(f"{self.auth_url}/auth/tokens", json={"auth": auth}, timeout=30)
        answer.raise_for_status()
        return answer.headers["x-subject-token"]

    def admin_token(self) -> str:
        """A token for the bootstrap admin, scoped to its `admin` project; issued
        once in a while, since issuing a token takes Keystone a good part of a second."""
        if self._admin is None or time.monotonic() - self._admin[1] > 600:
            admin = self.accounts["admin"]
            self._admin = (
                self.token(admin.name, admin.password, admin.project_id),
                time.monotonic(),
            )
        return self._admin[0]

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        """Keystone's API as the bootstrap admin; raises on an error status."""
        answer = httpx.request(
            method,
            f"{self.auth_url}{path}",
            json=body,
            headers={"X-Auth-Token": self.admin_token(), **headers},
            timeout=30,
        )
        answer.raise_for_status()
        return answer

    def create(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Create a project, user, role, service or endpoint; its JSON record."""
        plural = {"policy": "policies"}.get(kind, kind + "s")
        answer = self.call("POST", f"/{plural}", {kind: fields})
        record: dict[str, Any] = answer.json()[kind]
        return record

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        answer = self.call("GET", f"/{kind}s?name={name}")
        found: list[dict[str, Any]] = answer.json()[kind + "s"]
        return found[0] if found else None

    def grant(self, project_id: str, user_id: str, role: str) -> None:
        record = self.find("role", role) or self.create("role", name=role)
        self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{record['id']}")

    def account(self, name: str, project: str, *roles: str) -> Account:
        """A user with the roles on the project (created if it is new)."""
        record = self.find("project", project) or self.create(
            "project", name=project, domain_id="default"
        )
        password = secrets.token_urlsafe(16)
        user = self.create("user", name=name, password=password, domain_id="default")
        for role in roles:
            self.grant(record["id"], user["id"], role)
        self.accounts[name] = Account(name, password, record["id"], project, user["id"])
        return self.accounts[name]

    def find_admin(self) -> Account:
        """The bootstrap admin, scoped to the `admin` project bootstrap made."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": "admin",
                            "domain": {"id": "default"},
                            "password": self.admin_password,
                        }
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        answer = httpx.post(f"{self.auth_url}/auth/tokens", json=body, timeout=30)
        answer.raise_for_status()
        token = answer.json()["token"]
        return Account(
            "admin", self.admin_password, token["project"]["id"], "admin", token["user"]["id"]
        )

    def revoke(self, token: str) -> None:
        """Revoke the token: Keystone answers 404 when it is validated afterwards."""
        self.call("DELETE", "/auth/tokens", **{"X-Subject-Token": token})

    def short_lived_token(self, account: Account, seconds: float) -> tuple[str, float]:
        """A token for the account that expires in `seconds`, and its expiry (a
        Unix time, which Keystone rounds down to the second): an application
        credential's expiry bounds the expiry of every token issued for it."""
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        user_token = self.token(account.name, account.password, account.project_id)
        created = httpx.post(
            f"{self.auth_url}/users/{account.user_id}/application_credentials",
            json={
                "application_credential": {
                    "name": f"short-{secrets.token_hex(4)}",
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                }
            },
            headers={"X-Auth-Token": user_token},
            timeout=30,
        )
        created.raise_for_status()
        credential = created.json()["application_credential"]
        answer = httpx.post(
            f"{self.auth_url}/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["application_credential"],
                        "application_credential": {
                            "id": credential["id"],
                            "secret": credential["secret"],
                        },
                    }
                }
            },
            timeout=30,
        )
        answer.raise_for_status()
        expires_at = answer.json()["token"]["expires_at"]
        return answer.headers["x-subject-token"], datetime.datetime.fromisoformat(
            expires_at
        ).timestamp()


def launch(directory: Path, port: int) -> Keystone:
    """Build if needed, configure, start, and create the accounts the tests use:
    `herald` (the service user, role `service` on project `service`), `alice`
    (member of A), `bob` (member of B) and `root` (admin of A)."""
    build_venv()
    keystone = Keystone(directory, port)
    keystone.configure()
    keystone.start()
    try:
        admin = keystone.find_admin()
        keystone.accounts["admin"] = admin
        keystone.account("herald", "service", "service")
        keystone.account("alice", "project-a", "member", "reader")
        keystone.account("bob", "project-b", "member", "reader")
        keystone.account("root", "project-a", "admin")
    except Exception:
        keystone.stop()
        raise
    return keystone


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python tests/keystone_server.py build")
    try:
        print(f"Keystone ready in {build_venv()}")
    except KeystoneUnavailable as exc:
        sys.exit(str(exc))
