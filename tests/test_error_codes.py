"""Every error has a stable code, and the HTTP layer knows every code."""

from __future__ import annotations

import logging

import pytest

from herald import errors
from herald.transport.http.errors import STATUS_AND_TITLE, status_and_document
from herald.transport.http.responses import error_response


def every_error_class() -> list[type[errors.HeraldError]]:
    found: list[type[errors.HeraldError]] = []
    pending: list[type[errors.HeraldError]] = [errors.HeraldError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


@pytest.mark.parametrize("kind", every_error_class(), ids=lambda kind: kind.__name__)
def test_every_error_class_has_a_mapped_code(kind: type[errors.HeraldError]) -> None:
    assert kind.code in STATUS_AND_TITLE


def test_the_domain_errors_have_codes_of_their_own() -> None:
    # Drivers may subclass a domain error for their own use; it then shares its code.
    codes = [kind.code for kind in every_error_class() if kind.__module__ == errors.__name__]
    assert len(codes) == len(set(codes))


def test_an_unavailable_store_keeps_its_address_for_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = errors.ServiceUnavailable("The Redis store at 10.1.2.3:6379/0 cannot be reached")
    with caplog.at_level(logging.WARNING, logger="herald"):
        status, document = status_and_document(error)
    assert status == 503
    assert "10.1.2.3" not in document["description"]
    assert document == {
        "title": "Service temporarily unavailable",
        "description": errors.ServiceUnavailable.GENERIC,
    }
    assert "10.1.2.3" in caplog.text


def test_an_error_without_description_has_only_a_title() -> None:
    assert status_and_document(errors.NotFound()) == (404, {"title": "Not found"})


def test_a_401_carries_its_challenge_as_www_authenticate() -> None:
    error = errors.NotAuthenticated("No API key was presented.", challenge='Bearer realm="herald"')
    assert status_and_document(error) == (
        401,
        {"title": "Unauthorized", "description": "No API key was presented."},
    )
    response = error_response(error)
    assert (b"www-authenticate", b'Bearer realm="herald"') in response.headers
    assert not any(
        name == b"www-authenticate" for name, _ in error_response(errors.NotFound()).headers
    )
