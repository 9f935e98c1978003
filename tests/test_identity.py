"""The identity step: headers in, a Caller out, or a coded error."""

from __future__ import annotations

import asyncio

import pytest

from herald import errors
from herald.identity import PROJECT_ID_MAX_LEN, Caller, ClientIdRule, NoAuth, Presented

CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"


def identify(**headers: str) -> Caller:
    presented = Presented("GET", "/v2/queues", {k.replace("_", "-"): v for k, v in headers.items()})
    return asyncio.run(NoAuth(ClientIdRule())(presented))


def test_noauth_trusts_the_headers_as_sent() -> None:
    caller = identify(client_id=CLIENT, x_project_id="demo", x_roles="Admin, member")
    assert caller == Caller(
        project="demo",
        client_id="3381af922b9e11e3b19171861300734c",
        roles=frozenset({"admin", "member"}),
        authenticated_by="noauth",
    )
    assert caller.is_admin


@pytest.mark.parametrize("header", ["x-tenant-id", "x-tenant"])
def test_the_project_may_come_from_the_tenant_headers(header: str) -> None:
    caller = identify(**{"client_id": CLIENT, header.replace("-", "_"): "t"})
    assert caller.project == "t" and not caller.is_admin


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x_project_id": "p"}, "client_id_missing"),
        ({"client_id": "not-a-uuid", "x_project_id": "p"}, "client_id_invalid"),
        ({"client_id": CLIENT}, "project_missing"),
        ({"client_id": CLIENT, "x_project_id": ""}, "project_empty"),
        (
            {"client_id": CLIENT, "x_project_id": "p" * (PROJECT_ID_MAX_LEN + 1)},
            "invalid_queue_name",
        ),
        ({"client_id": CLIENT, "x_project_id": "p\x00"}, "invalid_queue_name"),
        ({"client_id": CLIENT, "x_project_id": "p\x7f"}, "invalid_queue_name"),
    ],
)
def test_bad_identity_headers_have_codes(headers: dict[str, str], code: str) -> None:
    with pytest.raises(errors.HeraldError) as raised:
        identify(**headers)
    assert raised.value.code == code


def test_a_project_at_the_length_limit_is_fine() -> None:
    assert len(identify(client_id=CLIENT, x_project_id="p" * PROJECT_ID_MAX_LEN).project) == 256


@pytest.mark.parametrize(
    ("value", "ok"), [("x" * 9, False), ("x" * 10, True), ("x" * 36, True), ("x" * 37, False)]
)
def test_client_ids_without_the_uuid_rule_are_checked_by_length(value: str, ok: bool) -> None:
    rule = ClientIdRule(mode="off")
    if ok:
        assert rule.check(value) == value
    else:
        with pytest.raises(errors.InvalidHeader) as raised:
            rule.check(value)
        assert raised.value.code == "client_id_length"
