"""python-zaqarclient's subscription API, unchanged, against `herald serve` on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from zaqarclient.queues import client as zaqar
from zaqarclient.transport import errors as zaqar_errors

from support import ServerProcess


@pytest.fixture
def server(store_uri: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(store_uri, tmp_path).start()
    try:
        yield process
    finally:
        assert process.stop() == 0


def connect(url: str) -> zaqar.Client:
    conf = {
        "auth_opts": {"backend": "noauth", "options": {"os_project_id": "subscribers"}},
        "client_uuid": str(uuid.uuid4()),
    }
    return zaqar.Client(url, version=2, conf=conf)


def test_subscription_lifecycle_with_the_real_client(server: ServerProcess) -> None:
    cli = connect(server.url)
    sub = cli.subscription(
        "alerts", subscriber="http://127.0.0.1:9/hook", ttl=3600, options={"team": "ops"}
    )
    assert sub.id
    assert (sub.subscriber, sub.ttl, sub.options, sub.confirmed) == (
        "http://127.0.0.1:9/hook",
        3600,
        {"team": "ops"},
        False,
    )
    # Subscribing again while unconfirmed answers the same subscription.
    again = cli.subscription("alerts", subscriber="http://127.0.0.1:9/hook", ttl=3600)
    assert again.id == sub.id

    found = cli.subscription("alerts", id=sub.id, auto_create=False)
    found.ensure_exists()
    assert found.options == {"team": "ops"}

    sub.update({"ttl": 7200, "options": {"team": "dev"}})
    reread = cli.subscription("alerts", id=sub.id)
    assert (reread.ttl, reread.options) == (7200, {"team": "dev"})

    for i in range(3):
        cli.subscription("alerts", subscriber=f"mailto:ops{i}@example.com", ttl=600)
    assert len(list(cli.subscriptions("alerts", limit=2))) == 2
    listed = list(cli.subscriptions("alerts", limit=2).stream())
    assert len(listed) == 4
    assert sorted(s.id for s in listed) == [s.id for s in listed]

    sub.delete()
    with pytest.raises(zaqar_errors.ResourceNotFound):
        cli.subscription("alerts", id=sub.id)
    assert len(list(cli.subscriptions("alerts"))) == 3


def test_refusals_reach_the_client_as_its_errors(server: ServerProcess) -> None:
    cli = connect(server.url)
    with pytest.raises(zaqar_errors.MalformedRequest):
        cli.subscription("alerts", subscriber="ftp://nowhere", ttl=3600)
    with pytest.raises(zaqar_errors.MalformedRequest):
        # The client's own default ttl is 60, the least a subscription may have; 59 is not.
        cli.subscription("alerts", subscriber="http://127.0.0.1:9/x", ttl=59)
    sub = cli.subscription("alerts", subscriber="http://127.0.0.1:9/x")
    assert sub.ttl == 60
