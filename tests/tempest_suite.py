"""OpenStack's conformance suite for Zaqar (zaqar-tempest-plugin), run against Herald.

Tempest and the plugin are built into `.tempest-venv/` at the top of the
repository (ignored by git), reused while it holds the pinned versions; `python
tests/tempest_suite.py build` builds it ahead of a run, as `.ci/run` does. A
run writes a tempest.conf that points at a real Keystone, whose catalog lists
the Herald under test as the `messaging` service, runs the chosen tests in
processes of that virtualenv and reads their results from their subunit
streams.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

import venvs
from keystone_server import Keystone

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".tempest-venv"
TEMPEST = "tempest==47.0.0"
PLUGIN = "zaqar-tempest-plugin==4.3.0"
HINT = (
    "tempest and zaqar-tempest-plugin are built from PyPI into .tempest-venv/ on first use; "
    "build them with `python tests/tempest_suite.py build` and read the error it prints"
)

# The plugin's v2 tests of queues, messages, claims and subscriptions (it has
# no pool or flavor tests).
MODULES = [
    f"zaqar_tempest_plugin.tests.v2.test_{name}"
    for name in (
        "queues",
        "queues_negative",
        "messages",
        "messages_negative",
        "claims",
        "claims_negative",
        "subscriptions",
        "subscriptions_negative",
    )
]


SLOW = ("test_dead_letter_queue",)
"""Tests that wait for claims to expire (two 70 s sleeps; a claim lasts at least 60 s)."""


class TempestUnavailable(RuntimeError):
    """Tempest could not be built or run here."""


def build_venv(timeout: float = 900) -> Path:
    """The virtualenv with tempest and the plugin, built if missing or for another pin."""
    try:
        return venvs.build_venv(VENV, [TEMPEST, PLUGIN], "tempest", timeout)
    except venvs.VenvUnavailable as exc:
        raise TempestUnavailable(str(exc)) from exc


def write_config(directory: Path, keystone: Keystone) -> Path:
    """A tempest.conf for the Keystone: its bootstrap admin makes a project and
    a member user per test class; every service but Zaqar is declared absent."""
    admin = keystone.accounts["admin"]
    conf = directory / "tempest.conf"
    conf.write_text(
        "[DEFAULT]\n"
        f"log_file = {directory / 'tempest.log'}\n"
        "debug = true\n"
        "[oslo_concurrency]\n"
        f"lock_path = {directory / 'locks'}\n"
        "[auth]\n"
        "use_dynamic_credentials = true\n"
        "create_isolated_networks = false\n"
        f"admin_username = {admin.name}\n"
        f"admin_password = {admin.password}\n"
        f"admin_project_name = {admin.project_name}\n"
        "admin_domain_name = Default\n"
        "[identity]\n"
        f"uri_v3 = {keystone.auth_url}\n"
        "auth_version = v3\n"
        "region = RegionOne\n"
        "[identity-feature-enabled]\n"
        "api_v2 = false\n"
        "[service_available]\n"
        "zaqar = true\n"
        "nova = false\n"
        "neutron = false\n"
        "glance = false\n"
        "cinder = false\n"
        "swift = false\n"
        "[messaging]\n"
        "catalog_type = messaging\n"
    )
    return conf


# Run by the tempest virtualenv's Python: subunit's own reader turns the
# stream into one JSON record per test, with its traceback when it failed.
# Class set-up failures are records too (`setUpClass (…)`).
_READ_SUBUNIT = """\
import json, sys
import subunit, testtools

records = {}

def keep(test):
    # A test is first listed as "exists", then reported once it has run; one
    # still "exists" at the end never ran.
    details = test["details"]
    text = "\\n".join(details[k].as_text() for k in ("reason", "traceback") if k in details)
    if test["status"] != "exists" or test["id"] not in records:
        records[test["id"]] = {"test": test["id"], "status": test["status"], "details": text}

stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
result = testtools.StreamToDict(keep)
result.startTestRun()
stream.run(result)
result.stopTestRun()
json.dump(list(records.values()), sys.stdout)
"""


class Outcome(msgspec.Struct, frozen=True):
    """One test's id, its subunit status (success, fail, skip, xfail, ...) and why."""

    test: str
    status: str
    details: str = ""


class Results(msgspec.Struct, frozen=True):
    """Every test the run reported, and the end of the run's own error output."""

    outcomes: list[Outcome]
    output: str

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status not in ("success", "skip")]

    @property
    def passed(self) -> list[str]:
        return [o.test for o in self.outcomes if o.status == "success"]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "skip"]


def run(directory: Path, modules: list[str] = MODULES, timeout: float = 900) -> Results:
    """Run the tests with the tempest.conf in `directory`; their results.

    The tests that sleep through claim expiries run in a process of their own,
    beside one running all the others, so that the run lasts about as long as
    its slowest test."""
    listed = _listed(directory, modules)
    ids = [o.test for o in listed]
    slow = [test for test in ids if any(f".{name}[" in test for name in SLOW)]
    groups = [group for group in (slow, [t for t in ids if t not in slow]) if group]
    running = []
    for number, group in enumerate(groups):
        chosen = directory / f"tests-{number}.txt"
        chosen.write_text("\n".join(group) + "\n")
        running.append(_start(directory, number, ["--load-list", str(chosen), *modules]))
    outcomes: list[Outcome] = []
    errors = []
    for number, process in enumerate(running):
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            for other in running:
                other.kill()
                other.wait()
            raise TempestUnavailable(f"the tempest run took over {timeout} s") from exc
        outcomes += _outcomes((directory / f"results-{number}.subunit").read_bytes())
        errors.append((directory / f"stderr-{number}.txt").read_text(errors="replace")[-2000:])
    # A test listed but never reported (its process died) counts as failed.
    reported = {o.test for o in outcomes}
    outcomes += [o for o in listed if o.test not in reported]
    return Results(outcomes, "\n".join(errors))


def _start(directory: Path, number: int, args: list[str]) -> subprocess.Popen[bytes]:
    # Into files rather than pipes: a pipe nobody reads yet would stall its writer.
    with (
        open(directory / f"results-{number}.subunit", "wb") as out,
        open(directory / f"stderr-{number}.txt", "wb") as err,
    ):
        return subprocess.Popen(
            [str(VENV / "bin" / "python"), "-m", "subunit.run", *args],
            cwd=directory,
            env=_environ(directory),
            stdout=out,
            stderr=err,
        )


def _listed(directory: Path, modules: list[str]) -> list[Outcome]:
    """The tests the modules hold, each as "exists"."""
    try:
        done = subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "subunit.run", "--list", *modules],
            cwd=directory,
            env=_environ(directory),
            capture_output=True,
            timeout=120,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise TempestUnavailable(
            f"listing the tempest tests failed: {exc.stderr[-2000:]!r}"
        ) from None
    except subprocess.TimeoutExpired as exc:
        raise TempestUnavailable("listing the tempest tests took over 120 s") from exc
    return _outcomes(done.stdout)


def _environ(directory: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "HERALD_"))},
        "TEMPEST_CONFIG_DIR": str(directory),
        "TEMPEST_CONFIG": "tempest.conf",
    }


def _outcomes(stream: bytes) -> list[Outcome]:
    """The tests a subunit stream reports, read by subunit itself."""
    read = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", _READ_SUBUNIT],
        input=stream,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if read.returncode != 0:
        raise TempestUnavailable(f"reading the subunit stream failed: {read.stderr[-2000:]!r}")
    return msgspec.json.decode(read.stdout, type=list[Outcome])


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python tests/tempest_suite.py build")
    try:
        print(f"tempest ready in {build_venv()}")
    except TempestUnavailable as exc:
        sys.exit(str(exc))
