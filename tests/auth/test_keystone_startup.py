"""`herald serve` under keystone: refused service credentials stop it, with a clear line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from auth_support import as_user
from keystone_server import Keystone
from support import ServerProcess, free_port


def keystone_environ(keystone: Keystone, **changes: str) -> dict[str, str]:
    service = keystone.accounts["herald"]
    environ = {
        "HERALD_AUTH": "keystone",
        "HERALD_KEYSTONE_AUTH_URL": keystone.url,
        "HERALD_KEYSTONE_USERNAME": service.name,
        "HERALD_KEYSTONE_PASSWORD": service.password,
        "HERALD_KEYSTONE_PROJECT_NAME": service.project_name,
    }
    environ.update({f"HERALD_KEYSTONE_{k.upper()}": v for k, v in changes.items()})
    return environ


def test_serve_with_keystone_prints_it_in_the_banner(keystone: Keystone, tmp_path: Path) -> None:
    alice = keystone.accounts["alice"]
    token = keystone.token(alice.name, alice.password, alice.project_id)
    server = ServerProcess("sqlite:///herald.sqlite3", tmp_path, env=keystone_environ(keystone))
    server.start()
    try:
        answer = httpx.get(server.url + "/v2/queues", headers=as_user(token), timeout=30)
        assert answer.status_code == 200
    finally:
        assert server.stop() == 0
    assert "auth keystone (X-Auth-Token validated by Keystone" in server.log.read_text()


def test_refused_service_credentials_stop_start_up(keystone: Keystone, tmp_path: Path) -> None:
    wrong = "not-the-password-of-herald"
    environ = keystone_environ(keystone, password=wrong)
    server = ServerProcess("sqlite:///herald.sqlite3", tmp_path, env=environ)
    with pytest.raises(RuntimeError, match="refused the service user 'herald' \\(401\\)"):
        server.start()
    assert wrong not in server.log.read_text()


def test_an_unreachable_keystone_only_warns_at_start_up(tmp_path: Path) -> None:
    environ = {
        "HERALD_AUTH": "keystone",
        "HERALD_KEYSTONE_AUTH_URL": f"http://127.0.0.1:{free_port()}",
        "HERALD_KEYSTONE_USERNAME": "herald",
        "HERALD_KEYSTONE_PASSWORD": "secret-of-the-service-user",
        "HERALD_KEYSTONE_PROJECT_NAME": "service",
    }
    server = ServerProcess("sqlite:///herald.sqlite3", tmp_path, env=environ).start()
    try:
        answer = httpx.get(server.url + "/v2/queues", headers=as_user("t0ken"), timeout=30)
        assert answer.status_code == 503
    finally:
        assert server.stop() == 0
    log = server.log.read_text()
    assert "cannot be reached (ConnectFailure); tokens are answered 503 until it answers" in log
    assert "secret-of-the-service-user" not in log
