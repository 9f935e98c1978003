"""No password or token reaches a log line or an answer, whatever happens to the request."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from auth_support import ServerFactory, as_user
from keystone_server import Keystone
from support import free_port


def test_no_secret_is_logged_or_answered(
    keystone_herald: ServerFactory,
    keystone: Keystone,
    tokens: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, revoked = tokens("alice"), tokens("alice")
    keystone.revoke(revoked)
    answers: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        for served in (
            keystone_herald(keystone_cache_seconds="0", log_level="debug"),
            keystone_herald(keystone_auth_url=f"http://127.0.0.1:{free_port()}/v3"),
        ):
            for token in (alice, revoked, "garbage"):
                answers.append(
                    httpx.get(served.url + "/v2/queues", headers=as_user(token), timeout=30)
                )
        service_token = keystone_herald(keystone_cache_seconds="0").step.session.get_token()
    assert {a.status_code for a in answers} == {200, 401, 503}
    secrets = {
        "service password": keystone.accounts["herald"].password,
        "user token": alice,
        "revoked token": revoked,
        "service token": str(service_token),
    }
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "keystoneauth" in {r.name.split(".")[0] for r in caplog.records}
    answered = "\n".join(a.text + str(a.headers) for a in answers)
    for name, secret in secrets.items():
        assert secret not in logged, f"the {name} was logged"
        assert secret not in answered, f"the {name} was answered"
