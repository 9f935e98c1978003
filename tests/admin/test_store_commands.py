"""`herald store check|migrate` on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

import backends
from admin_support import run_herald
from herald.storage.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from herald.storage.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from support import failed_start, free_port


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    with contextmanager(backends.postgres_store_uri)(name) as uri:
        yield uri


def test_sqlite_check_says_a_new_file_is_behind_and_migrate_brings_it_up(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    behind = run_herald("store", "check", "--store", store)
    assert behind.code == 1
    assert "schema version: 0\n" in behind.out
    assert f"expected schema version: {len(SQLITE_MIGRATIONS)}\n" in behind.out
    assert "herald store migrate" in behind.out
    assert not (tmp_path / "h.sqlite3").exists(), "check must not create or migrate"
    migrated = run_herald("store", "migrate", "--store", store, "--json")
    assert migrated.code == 0
    assert migrated.json() == {
        "store": store,
        "migrated_from": 0,
        "schema_version": len(SQLITE_MIGRATIONS),
        "expected_schema_version": len(SQLITE_MIGRATIONS),
    }
    checked = run_herald("store", "check", "--store", store, "--json")
    assert checked.code == 0
    assert checked.json() == {
        "store": store,
        "reachable": True,
        "schema_version": len(SQLITE_MIGRATIONS),
        "expected_schema_version": len(SQLITE_MIGRATIONS),
        "durability": "full",
    }


def test_the_store_and_durability_come_from_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'store = "sqlite:///{tmp_path / "c.sqlite3"}"\ndurability = "normal"\n')
    assert run_herald("store", "migrate", "--config", str(config)).code == 0
    checked = run_herald("store", "check", env={"HERALD_CONFIG": str(config)})
    assert checked.code == 0
    assert "durability: normal\n" in checked.out


def test_a_sqlite_file_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = f"sqlite:///{path}"
    assert run_herald("store", "migrate", "--store", store).code == 0
    newer = len(SQLITE_MIGRATIONS) + 1
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    for command in ("check", "migrate"):
        refused = run_herald("store", command, "--store", store)
        assert refused.code == 1
        assert refused.err == (
            f"herald: the store {store}: the SQLite file is at schema version {newer}, "
            f"newer than the {len(SQLITE_MIGRATIONS)} this Herald knows; upgrade Herald\n"
        )
    code, said = failed_start(tmp_path, "--store", store)
    assert code == 2
    assert "newer than the" in said


def test_postgres_check_migrate_and_a_newer_schema(tmp_path: Path) -> None:
    with postgres_database() as uri:
        behind = run_herald("store", "check", "--store", uri, "--json")
        assert behind.code == 1
        assert behind.json()["schema_version"] == 0
        assert run_herald("store", "migrate", "--store", uri).code == 0
        checked = run_herald("store", "check", "--store", uri, "--json")
        assert checked.code == 0
        assert checked.json()["schema_version"] == len(POSTGRES_MIGRATIONS)
        again = run_herald("store", "migrate", "--store", uri, "--json").json()
        assert again["migrated_from"] == again["schema_version"] == len(POSTGRES_MIGRATIONS)

        async def from_the_future() -> None:
            conn = await asyncpg.connect(uri)
            try:
                await conn.execute(
                    "INSERT INTO herald.schema_version (version) VALUES ($1)",
                    len(POSTGRES_MIGRATIONS) + 1,
                )
            finally:
                await conn.close()

        asyncio.run(from_the_future())
        for command in ("check", "migrate"):
            refused = run_herald("store", command, "--store", uri)
            assert refused.code == 1
            assert "newer than the" in refused.err and refused.err.count("\n") == 1


def test_redis_has_no_schema_version_and_its_durability_is_the_servers() -> None:
    with contextmanager(backends.redis_store_uri)(f"herald_test_{uuid.uuid4().hex[:12]}") as uri:
        checked = run_herald("store", "check", "--store", uri, "--json")
        assert checked.code == 0, checked.err
        report = checked.json()
        assert report["reachable"] is True
        assert report["schema_version"] is None
        assert report["durability"] == "as the backend server is configured"


def test_an_unreachable_store_exits_3_and_a_bad_uri_2() -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    for command in ("check", "migrate"):
        ran = run_herald("store", command, "--store", closed)
        assert ran.code == 3
        assert "cannot be reached" in ran.err and ran.err.count("\n") == 1
    bad = run_herald("store", "check", "--store", "nosuch://x")
    assert bad.code == 2
    assert bad.err.startswith("herald: unsupported store URI")
