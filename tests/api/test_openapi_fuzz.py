"""Schemathesis drives a live server from its own /openapi.json, on every backend: no
5xx, and every answer as the document describes it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import BaseSchema

import backends
from herald.model import Limits
from herald.transport.http.openapi import describe
from herald.transport.http.queues import PATCH_TYPE
from support import make_settings, running_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Queue PATCH bodies are JSON under a media type of Zaqar's own, which schemathesis
# would otherwise have no way to send.
@schemathesis.serializer(PATCH_TYPE)
def _json_patch(ctx: object, value: object) -> bytes:
    return msgspec.json.encode(value)


# Bounds of the run: examples per operation and backend, and seconds per operation (a
# stuck request fails the test rather than holding the suite).
EXAMPLES = 15
pytestmark = pytest.mark.timeout(60)
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in describe(Limits(), admin_mode=True, auth="noauth")["paths"].items()
    for method in item
    if method != "parameters"
]


class Fuzzed:
    """The live server and the schema it serves."""

    def __init__(self, url: str, schema: BaseSchema) -> None:
        self.url = url
        self.schema = schema


@contextmanager
def store_uri(backend: str, directory: Path) -> Iterator[str]:
    """A fresh store of `backend`, removed afterwards."""
    name = f"herald_fuzz_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'herald.sqlite3'}"
    elif backend == "redis":
        yield from backends.redis_store_uri(name)
    else:
        yield from backends.postgres_store_uri(name)


@pytest.fixture(scope="module", params=["sqlite", "redis", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    directory = tmp_path_factory.mktemp("fuzz")
    with store_uri(request.param, directory) as uri:
        settings = make_settings(
            directory, store=uri, admin_mode=True, signed_url_secret_key="fuzz-" * 8
        )
        with running_app(settings) as url:
            yield Fuzzed(url, schemathesis.openapi.from_url(f"{url}/openapi.json"))


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_server_answers_as_its_document_says(fuzzed: Fuzzed, label: str) -> None:
    operation = fuzzed.schema.find_operation_by_label(label)
    assert operation is not None, label

    @hypothesis.given(operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def answers_as_described(case: Case[Any]) -> None:
        case.call_and_validate(base_url=fuzzed.url, checks=CHECKS)

    answers_as_described()
