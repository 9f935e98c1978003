"""A live `herald serve` for the admin command tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from admin_support import Herald
from support import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("admin")
    process = ServerProcess(f"sqlite:///{workdir / 'herald.sqlite3'}", workdir).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def herald(server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> Herald:
    return Herald(server.url, capsys)
