"""`herald store check|migrate`: the configured store, looked at or brought up to date
without serving.

Exit codes: 0 done (check: reachable and up to date), 1 the schema is behind
(check) or newer than this Herald, 2 bad usage or settings, 3 the store
cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from herald.admin.client import OK, REFUSED, UNAVAILABLE, USAGE, CommandFailed
from herald.admin.output import print_fields, print_json
from herald.config import ConfigError, load_settings
from herald.errors import HeraldError
from herald.storage.base import SchemaTooNew, SchemaVersion, Store
from herald.storage.factory import open_store
from herald.storage.kit import redacted

EXIT_CODES = (
    "Exit codes: 0 done, 1 the schema is behind (check) or newer than this Herald, "
    "2 bad usage or settings, 3 the store cannot be reached."
)


def add_parser(subparsers: Any) -> None:
    """Add `herald store check|migrate` to the top-level parser."""
    store = subparsers.add_parser(
        "store",
        help="check the configured store or migrate its schema",
        description=f"Look at the store `herald serve` would use. {EXIT_CODES}",
    )
    store.set_defaults(run=run)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="storage URI (as for herald serve)")
    common.add_argument("--config", help="TOML file with settings (as for herald serve)")
    common.add_argument("--json", action="store_true", help="print a JSON document")
    commands = store.add_subparsers(dest="store_command", required=True)
    commands.add_parser(
        "check",
        parents=[common],
        help="report reachability, schema version and durability",
        description="Report whether the store answers, its schema version against the one "
        f"this Herald expects, and what a stored message's durability rests on. {EXIT_CODES}",
    )
    commands.add_parser(
        "migrate",
        parents=[common],
        help="apply pending schema migrations",
        description="Apply the schema migrations the store has not had yet, as serving "
        f"would on start-up, and refuse a store newer than this Herald. {EXIT_CODES}",
    )


def run(args: argparse.Namespace) -> int:
    """Carry out `herald store ...`; the exit code."""
    try:
        settings = load_settings(
            args.config,
            overrides={"store": args.store},
            warn=lambda message: print(f"herald: {message}", file=sys.stderr),
        )
        store = open_store(settings.store, durability=settings.durability)
    except (ConfigError, ValueError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return USAGE
    where = redacted(settings.store)
    work = check if args.store_command == "check" else migrate
    try:
        report, code = asyncio.run(work(store))
    except CommandFailed as failure:
        print(f"herald: the store {where}: {failure.line}", file=sys.stderr)
        return failure.exit_code
    report = {"store": where, **report}
    if args.json:
        print_json(report)
    else:
        print_fields([(name.replace("_", " "), value) for name, value in report.items()])
    return code


async def check(store: Store) -> tuple[dict[str, Any], int]:
    """Reachability, schema and durability; exit code 1 when the schema is behind."""
    version = await _version(store)
    if version is None or version.current == version.latest:
        # Opening migrates, so only a store with nothing to migrate is opened.
        await _opened_and_closed(store)
    report: dict[str, Any] = {"reachable": True, **_schema_fields(version)}
    report["durability"] = _durability(store)
    behind = version is not None and version.current < version.latest
    if behind:
        report["action"] = "run `herald store migrate` (or `herald serve`, which migrates)"
    return report, REFUSED if behind else OK


async def migrate(store: Store) -> tuple[dict[str, Any], int]:
    """Bring the schema up to date; what it was and is now."""
    before = await _version(store)
    await _opened_and_closed(store)
    after = await _version(store)
    report: dict[str, Any] = {}
    if before is not None and after is not None:
        report["migrated_from"] = before.current
    report.update(_schema_fields(after))
    return report, OK


def _schema_fields(version: SchemaVersion | None) -> dict[str, Any]:
    if version is None:
        return {"schema_version": None, "expected_schema_version": None}
    return {"schema_version": version.current, "expected_schema_version": version.latest}


def _durability(store: Store) -> str:
    return store.durability or "as the backend server is configured"


async def _version(store: Store) -> SchemaVersion | None:
    try:
        return await store.schema_version()
    except SchemaTooNew as exc:
        raise CommandFailed(str(exc), REFUSED) from None
    except Exception as exc:
        raise CommandFailed(f"cannot be reached: {_reason(exc)}", UNAVAILABLE) from None


async def _opened_and_closed(store: Store) -> None:
    try:
        await store.open()
    except SchemaTooNew as exc:
        raise CommandFailed(str(exc), REFUSED) from None
    except Exception as exc:
        raise CommandFailed(f"cannot be opened: {_reason(exc)}", UNAVAILABLE) from None
    try:
        if not await store.ping():
            raise CommandFailed("does not answer", UNAVAILABLE)
    finally:
        await store.close()


def _reason(exc: Exception) -> str:
    return exc.description if isinstance(exc, HeraldError) else str(exc) or type(exc).__name__
