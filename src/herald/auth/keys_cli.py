"""`herald keys`: create, list and revoke API keys in the configured store.

The store comes from the same settings as `herald serve` (--store, --config,
HERALD_*). Exit codes: 0 done, 1 no such key, 2 bad usage, settings or store.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from herald.auth.keys import NewKey, key_id_of, make_key
from herald.config import ConfigError, Settings, load_settings
from herald.errors import HeraldError
from herald.identity import check_project
from herald.model import ApiKeyRecord
from herald.storage.base import Store
from herald.storage.factory import open_store
from herald.storage.kit import redacted

OK, NOT_FOUND, USAGE = 0, 1, 2
ROLE_MAX_LEN = 255
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


class UsageError(Exception):
    """A value on the command line that cannot be used; exit code 2."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `herald keys` and its commands to the top-level parser."""
    keys: argparse.ArgumentParser = subparsers.add_parser(
        "keys",
        help="create, list and revoke API keys (auth = apikey)",
        description='Manage the API keys that `auth = "apikey"` checks, in the store '
        "`herald serve` would use. Exit codes: 0 done, 1 no such key, 2 bad usage, "
        "settings or store.",
    )
    commands = keys.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser(
        "create",
        help="make a key and print it, once",
        description="Make a key for a project and print it once; only its hash is stored.",
    )
    create.add_argument("--project", required=True, help="the project the key acts for")
    create.add_argument("--roles", default="", help="comma-separated roles, e.g. admin,member")
    create.add_argument(
        "--expires",
        metavar="SECONDS|DATE",
        help="seconds from now, or an ISO 8601 date or time (UTC unless it names an "
        "offset); default: never",
    )
    listing = commands.add_parser(
        "list", help="list keys (never their secrets)", description="List keys, oldest first."
    )
    listing.add_argument("--project", help="only this project's keys")
    revoke = commands.add_parser(
        "revoke",
        help="revoke a key",
        description="Revoke a key for good; every API process refuses it within "
        "[apikey] cache_seconds.",
    )
    revoke.add_argument("id", metavar="ID", help="the key's id (the text before the dot)")
    for command in (create, listing, revoke):
        command.add_argument("--store", help="storage URI (as for herald serve)")
        command.add_argument("--config", help="TOML file with settings (as for herald serve)")
    return keys


def run(args: argparse.Namespace, clock: Callable[[], float] = time.time) -> int:
    """Carry out `herald keys ...`; the exit code."""
    try:
        settings = load_settings(
            args.config,
            overrides={"store": args.store},
            warn=lambda message: print(f"herald: {message}", file=sys.stderr),
        )
        if args.keys_command == "create":
            made = make_key(
                _project(args.project),
                roles_of_option(args.roles),
                now=clock(),
                expires=None if args.expires is None else expiry_of_option(args.expires, clock()),
            )
            return _in_store(settings, lambda store: _create(settings, store, made, clock()))
        if args.keys_command == "list":
            project = None if args.project is None else _project(args.project)
            return _in_store(settings, lambda store: _list(store, project, clock()))
        return _in_store(settings, lambda store: _revoke(store, args.id, clock()))
    except (ConfigError, UsageError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return USAGE


async def _create(settings: Settings, store: Store, made: NewKey, now: float) -> int:
    if not await store.put_key(made.record):
        # Ids are 64 random bits: a clash means something else is wrong.
        print("herald: a key with that id exists already; try again", file=sys.stderr)
        return USAGE
    print(f"key: {made.key}")
    for name, value in describe(made.record, now):
        print(f"{name}: {value}")
    print(
        "herald: keep the key now: it is shown only this once, and only its hash is stored",
        file=sys.stderr,
    )
    if settings.auth != "apikey":
        print(
            f'herald: note: auth is "{settings.auth}"; keys are checked only with auth = "apikey"',
            file=sys.stderr,
        )
    return OK


async def _list(store: Store, project: str | None, now: float) -> int:
    rows = [["ID", "PROJECT", "ROLES", "CREATED", "EXPIRES", "STATUS"]]
    rows += [[value for _, value in describe(r, now)] for r in await store.list_keys(project)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return OK


async def _revoke(store: Store, text: str, now: float) -> int:
    # Given the whole key, only its id is used.
    key_id = key_id_of(text) or text
    before = await store.get_key(key_id)
    after = None if before is None else await store.revoke_key(key_id, now)
    if before is None or after is None:
        print(f"herald: no API key {key_id!r}", file=sys.stderr)
        return NOT_FOUND
    if before.revoked is not None:
        print(f"key {key_id} was already revoked at {iso(before.revoked)}")
    else:
        print(f"revoked key {key_id} of project {after.project}")
    return OK


def describe(record: ApiKeyRecord, now: float) -> list[tuple[str, str]]:
    """What may be shown of a key: never its secret nor its hash."""
    if record.revoked is not None:
        status = f"revoked {iso(record.revoked)}"
    elif record.expires is not None and record.expires <= now:
        status = "expired"
    else:
        status = "active"
    return [
        ("id", record.id),
        ("project", record.project),
        ("roles", ",".join(record.roles) or "-"),
        ("created", iso(record.created)),
        ("expires", "never" if record.expires is None else iso(record.expires)),
        ("status", status),
    ]


def roles_of_option(text: str) -> list[str]:
    """The roles of `--roles a,b`, lower case, each checked."""
    roles = [role.strip().lower() for role in text.split(",") if role.strip()]
    for role in roles:
        if len(role) > ROLE_MAX_LEN or not role.isprintable():
            raise UsageError(
                f"--roles: a role is at most {ROLE_MAX_LEN} printable characters: {role!r}"
            )
    return roles


def expiry_of_option(text: str, now: float) -> float:
    """When `--expires` says the key expires: seconds from `now`, or a date or time."""
    if _SECONDS.fullmatch(text):
        seconds = float(text)
        if seconds <= 0:
            raise UsageError("--expires: a key must live for more than 0 seconds")
        return now + seconds
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--expires: expected seconds or an ISO 8601 date or time, not {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    expires = when.timestamp()
    if expires <= now:
        raise UsageError(f"--expires: {iso(expires)} has passed already")
    return expires


def iso(seconds: float) -> str:
    """A time as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _project(text: str) -> str:
    try:
        return check_project(text)
    except HeraldError:
        raise UsageError(
            f"--project: {text!r} is no project id (1 to 256 characters, no control characters)"
        ) from None


def _in_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    """Open the configured store, do `work` on it and close it; its exit code.

    A store that cannot be opened or fails is exit code 2, as for herald serve."""

    async def session() -> int:
        store = open_store(settings.store, durability=settings.durability)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(session())
    except Exception as exc:
        detail = exc.description if isinstance(exc, HeraldError) else str(exc)
        print(f"herald: the store {redacted(settings.store)} failed: {detail}", file=sys.stderr)
        return USAGE
