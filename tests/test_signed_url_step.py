"""The pre-signed URL step: Zaqar's signature, and a signature never reaching the inner step."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from herald import errors
from herald.auth.signed_urls import (
    Grant,
    SignedUrls,
    Signer,
    covers,
    grant,
    parse_expires,
    signed_text,
)
from herald.identity import Caller, ClientIdRule, IdentityStep, Presented

KEY = "secret"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
LATER = datetime(2023, 11, 15, 0, 0, 0)


class Recording(IdentityStep):
    """An inner step that notes what reached it."""

    def __init__(self) -> None:
        self.called: list[str] = []

    def screen(self, presented: Presented) -> None:
        self.called.append("screen")

    async def __call__(self, presented: Presented) -> Caller:
        self.called.append("identify")
        return Caller(project="inner", client_id="c")


def step(inner: IdentityStep | None = None, key: str = KEY) -> SignedUrls:
    return SignedUrls(inner or Recording(), Signer(key), ClientIdRule(), lambda: NOW)


def presented(method: str, path: str, shared: Grant, signature: str, **changes: str) -> Presented:
    headers = {
        "client-id": CLIENT,
        "x-project-id": shared.project,
        "url-signature": signature,
        "url-expires": shared.expires,
        "url-methods": ",".join(shared.methods),
        "url-paths": ",".join(shared.paths),
        **changes,
    }
    return Presented(method, path, headers)


def test_the_signature_is_zaqars_hmac_over_the_literal_backslash_n_text() -> None:
    shared = grant(["/v2/queues/q/messages"], ["POST", "GET"], "demo", LATER)
    text = b"/v2/queues/q/messages\\nGET,POST\\ndemo\\n2023-11-15T00:00:00"
    assert signed_text(shared) == text
    expected = hmac.new(KEY.encode(), text, hashlib.sha256).hexdigest()
    assert Signer(KEY).sign(shared).signature == expected


def test_a_valid_url_makes_a_signed_url_caller_without_the_inner_step() -> None:
    inner = Recording()
    shared = grant(["/v2/queues/q/messages"], ["GET"], "demo", LATER)
    signature = Signer(KEY).sign(shared).signature
    request = presented("GET", "/v2/queues/q/messages/7", shared, signature, x_roles="admin")
    signed = step(inner)
    signed.screen(request)
    caller = asyncio.run(signed(request))
    assert caller == Caller(
        project="demo",
        client_id="3381af922b9e11e3b19171861300734c",
        authenticated_by="signed_url",
        expires=LATER.replace(tzinfo=UTC).timestamp(),
    )
    assert inner.called == []


@pytest.mark.parametrize(
    "changes",
    [
        {"url-signature": ""},
        {"url-signature": "f" * 64},
        {"url-methods": "GET,DELETE"},
        {"url-paths": "/v2/queues/q/claims"},
        {"x-project-id": "other"},
        {"url-expires": "2023-11-15T00:00:01"},
        {"url-expires": "1700000000"},
    ],
)
def test_a_request_with_a_signature_that_does_not_hold_never_reaches_the_inner_step(
    changes: dict[str, str],
) -> None:
    inner = Recording()
    shared = grant(["/v2/queues/q/messages"], ["GET"], "demo", LATER)
    request = presented(
        "GET", "/v2/queues/q/messages", shared, Signer(KEY).sign(shared).signature, **changes
    )
    signed = step(inner)
    with pytest.raises(errors.SignedUrlRefused):
        signed.screen(request)
    with pytest.raises(errors.SignedUrlRefused):
        asyncio.run(signed(request))
    assert inner.called == []


def test_without_a_key_nothing_verifies() -> None:
    shared = grant(["/v2/queues/q/messages"], ["GET"], "demo", LATER)
    # The HMAC of an empty key is still an HMAC; it must not open anything.
    signature = hmac.new(b"", signed_text(shared), hashlib.sha256).hexdigest()
    with pytest.raises(errors.SignedUrlRefused):
        step(key="").screen(presented("GET", "/v2/queues/q/messages", shared, signature))


def test_an_unsigned_request_goes_to_the_inner_step() -> None:
    inner = Recording()
    request = Presented("GET", "/v2/queues", {"client-id": CLIENT, "x-project-id": "p"})
    signed = step(inner)
    signed.screen(request)
    assert asyncio.run(signed(request)).project == "inner"
    assert inner.called == ["screen", "identify"]


def test_fields_holding_a_backslash_never_verify() -> None:
    # Project `foo\nv` signing methods [GET] and project `v` presenting methods
    # [`GET\nfoo`] make the same signed text; refusing backslashes keeps them apart.
    shared = grant(["/v2/queues/q/messages"], ["GET"], "foo\\nv", LATER)
    signature = Signer(KEY).sign(shared).signature
    forged = grant(["/v2/queues/q/messages"], ["GET\\nfoo"], "v", LATER)
    assert signed_text(forged) == signed_text(shared)
    request = presented("GET", "/v2/queues/q/messages", forged, signature)
    with pytest.raises(errors.SignedUrlRefused):
        step().screen(request)


@pytest.mark.parametrize(
    ("signed", "path", "allowed"),
    [
        ("/v2/queues/q/messages", "/v2/queues/q/messages", True),
        ("/v2/queues/q/messages", "/v2/queues/q/messages/1", True),
        ("/v2/queues/q/messages", "/v2/queues/q/messagesx", False),
        ("/v2/queues/q/messages", "/v2/queues/q2/messages", False),
        ("/v2/queues/a.b/messages", "/v2/queues/axb/messages", False),
        ("/v2/queues/q/messages", "/v2/queues/q", False),
        ("/v2/queues/q/messages", "/x/v2/queues/q/messages", False),
    ],
)
def test_a_signed_path_covers_itself_and_what_is_under_it(
    signed: str, path: str, allowed: bool
) -> None:
    assert covers(signed, path) is allowed


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2099-01-02T03:04:05", datetime(2099, 1, 2, 3, 4, 5)),
        ("2099-01-02T03:04:05.75Z", datetime(2099, 1, 2, 3, 4, 5)),
        ("2099-01-02T03:04:05-01:30", datetime(2099, 1, 2, 4, 34, 5)),
    ],
)
def test_expiries_are_read_as_utc_to_the_second(text: str, moment: datetime) -> None:
    assert parse_expires(text) == moment


@pytest.mark.parametrize(
    "text", ["0", "86400", "+5", "1_000", "", "soon", "0001-01-01T00:00:00+01:00"]
)
def test_integers_and_non_dates_are_not_expiries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_expires(text)
