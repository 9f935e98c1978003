"""Exit codes, error lines and configuration of the admin commands, run as scripts would."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import backends
from admin_support import Herald, run_herald
from apikey_support import keyed_server
from certificates import self_signed, trusting
from herald.config import load_settings
from support import ServerProcess, free_port


def test_a_refusal_exits_1_with_the_servers_title_and_description_on_one_line(
    herald: Herald,
) -> None:
    missing = herald("message", "peek", "jobs", "no-such-id")
    assert missing.code == 1
    assert missing.out == ""
    assert missing.err == (
        "herald: 404 Not found: Message no-such-id does not exist in queue jobs "
        f"for project {herald.project}.\n"
    )
    bad_name = herald("queue", "create", "not!a!name")
    assert bad_name.code == 1
    assert bad_name.err.startswith("herald: 400 Invalid queue identification: Queue names")
    assert bad_name.err.count("\n") == 1


def test_a_limit_past_the_servers_is_its_refusal(herald: Herald) -> None:
    assert herald("queue", "list", "--limit", "20").code == 0
    past = herald("queue", "list", "--limit", "21")
    assert past.code == 1
    assert past.err.startswith("herald: 400 Invalid API request: Limit must be at least 1")


def test_bad_usage_exits_2_before_any_request(herald: Herald) -> None:
    no_server = herald("queue", "list", server=False)
    assert no_server.code == 2
    assert "give --url or set HERALD_URL" in no_server.err
    not_json = herald("message", "post", "jobs", "not json")
    assert not_json.code == 2
    assert "BODY: not JSON: 'not json'" in not_json.err
    zero = herald("claim", "create", "jobs", "--limit", "0")
    assert zero.code == 2
    assert "expected a number of at least 1, not 0" in zero.err
    claim_for_two = herald("message", "delete", "jobs", "a", "b", "--claim-id", "c")
    assert claim_for_two.code == 2
    assert herald("queue", "stats", "jobs", "--json").json()["messages"]["total"] == 0


def test_an_unreachable_server_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    ran = run_herald("queue", "list", "--url", url, "--project", "p")
    assert ran.code == 3
    assert ran.err.startswith(f"herald: cannot reach {url}: ")
    assert ran.err.count("\n") == 1


def test_a_server_error_exits_3_with_its_title(tmp_path: Path) -> None:
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    with contextmanager(backends.postgres_store_uri)(name) as uri:
        server = ServerProcess(uri + "?min_size=1&connect_timeout=2", tmp_path).start()
        try:
            env = {"HERALD_URL": server.url, "HERALD_PROJECT": "p"}
            assert run_herald("queue", "create", "jobs", env=env).code == 0
            asyncio.run(backends.drop_postgres_database(urlsplit(uri).path[1:]))
            failed = run_herald("queue", "list", env=env)
            assert failed.code == 3
            assert failed.err.startswith("herald: 503 Service temporarily unavailable: ")
        finally:
            server.stop()


def test_the_environment_names_the_server_project_and_client(server: ServerProcess) -> None:
    client_id = str(uuid.uuid4())
    env = {"HERALD_URL": server.url, "HERALD_PROJECT": f"env-{uuid.uuid4().hex[:8]}"}
    assert run_herald("message", "post", "jobs", '"mine"', env=env).code == 0
    mine = {**env, "HERALD_CLIENT_ID": client_id}
    assert run_herald("message", "post", "jobs", '"echoed"', env=mine).code == 0
    hidden = run_herald("message", "list", "jobs", "--json", env=mine).json()["messages"]
    assert [m["body"] for m in hidden] == ["mine"]
    echoed = run_herald("message", "list", "jobs", "--echo", "--json", env=mine).json()
    assert [m["body"] for m in echoed["messages"]] == ["mine", "echoed"]
    other = run_herald("queue", "list", "--project", "someone-else", env=env)
    assert other.out.splitlines() == ["NAME"]


def test_an_apikey_server_takes_the_key_as_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with keyed_server(tmp_path) as keyed:
        key = keyed.key("keyed-project")
        herald = Herald(keyed.url, capsys)
        refused = herald("queue", "list")
        assert refused.code == 1
        assert refused.err.startswith("herald: 401 Unauthorized")
        created = herald("queue", "create", "jobs", "--token", key)
        assert created.code == 0
        monkeypatch.setenv("HERALD_TOKEN", key)
        listed = herald("queue", "list", "--json")
        assert [q["name"] for q in listed.json()["queues"]] == ["jobs"]
        wrong = herald("queue", "list", "--token", key[:-1] + ("A" if key[-1] != "A" else "B"))
        assert wrong.code == 1 and "401" in wrong.err


def test_the_commands_variables_are_no_server_settings_to_warn_about() -> None:
    warnings: list[str] = []
    variables = ("URL", "PROJECT", "TOKEN", "CLIENT_ID")
    load_settings(environ={f"HERALD_{name}": "x" for name in variables}, warn=warnings.append)
    assert warnings == []
    load_settings(environ={"HERALD_TOKENS": "x"}, warn=warnings.append)
    assert warnings == ["ignoring unknown setting in the environment: HERALD_TOKENS"]


def test_https_is_verified_against_ssl_cert_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    flags = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    server = ServerProcess(store, tmp_path, *flags, tls=trusting(cert)).start()
    try:
        env = {"HERALD_URL": server.url, "HERALD_PROJECT": "p"}
        untrusted = run_herald("queue", "list", env=env)
        assert untrusted.code == 3
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.err
        trusted = run_herald("queue", "list", env={**env, "SSL_CERT_FILE": str(cert)})
        assert (trusted.code, trusted.out) == (0, "NAME\n")
    finally:
        server.stop()
