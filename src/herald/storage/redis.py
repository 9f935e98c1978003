"""The Redis store: each state change is one Lua script, so API nodes never race.

Layout, atomicity and durability are described in docs/storage-redis.md.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import msgspec
import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from herald.errors import ServiceUnavailable
from herald.model import (
    Claim,
    MessageQuery,
    MessageRef,
    QueueEntry,
    QueueStats,
    StoredMessage,
)
from herald.storage import redis_scripts
from herald.storage.base import (
    DeleteOutcome,
    Plan,
    Prepare,
    Store,
    delete_verdict,
)
from herald.storage.redis_wire import ScriptPipeline, connect

log = logging.getLogger("herald")

DEFAULT_PREFIX = "herald"
# No ":" in a prefix, so that no prefix can pass for the start of another's keys.
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MESSAGE_ID = re.compile(r"^[0-9]{1,15}$")  # sorted-set scores are exact below 2**53
_GC_BATCH = 500
_GC_MAX_BATCHES = 100
_METADATA_RETRIES = 100
_STALE_RETRIES = 20
_METADATA_SEEN_MAX = 10_000
# Replies Redis gives while it cannot serve for now (those redis-py has no
# class for are told by their code); any other error reply is a bug.
_TRANSIENT_ERRORS = (
    redis_errors.OutOfMemoryError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)
_TRANSIENT_CODES = ("MISCONF", "BUSY", "NOREPLICAS")

_encode_json = msgspec.json.Encoder().encode
_decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode


def _quote(text: str) -> str:
    # Percent-encoding leaves no ':' in a name, so no key can pass for another.
    return quote(text, safe="")


def _num(value: float) -> str:
    """A time as text that Redis and Lua read back to the very same double."""
    return repr(float(value))


class Keys:
    """Every key name the driver uses, built here and nowhere else."""

    QUEUE_PARTS = ("ids", "ready", "delayed", "claimed", "expiry", "claims")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.expiring = f"{prefix}:expiring"
        self.claims = f"{prefix}:claims"
        self.next_id = f"{prefix}:next_id"
        self.message_prefix = f"{prefix}:m:"
        self.claim_prefix = f"{prefix}:c:"
        self.members_prefix = f"{prefix}:cm:"

    def queue_base(self, project: str, name: str) -> str:
        """The queue's record; its other keys hang off this name."""
        return f"{self.prefix}:q:{_quote(project)}:{_quote(name)}"

    def queue(self, base: str) -> list[str]:
        """The record, ids, ready, delayed, claimed, expiry and claims keys of a queue."""
        return [base, *(f"{base}:{part}" for part in self.QUEUE_PARTS)]

    def queue_index(self, project: str) -> str:
        return f"{self.prefix}:queues:{_quote(project)}"

    def index_of(self, base: str) -> str:
        """The queue index of the project a queue record belongs to."""
        quoted_project = base[len(self.prefix) + len(":q:") :].split(":", 1)[0]
        return f"{self.prefix}:queues:{quoted_project}"

    def message(self, message_id: str) -> str:
        return self.message_prefix + message_id

    def claim(self, claim_id: str) -> str:
        return self.claim_prefix + claim_id

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":*"


class RedisStore(Store):
    """Queues, messages and claims in one Redis database, under a key prefix."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"invalid Redis key prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _.-")
        self.url = url
        self.keys = Keys(prefix)
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        parts = urlsplit(url)
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._pipeline: ScriptPipeline | None = None
        # Queue metadata as last seen, so that a post is one command: the post
        # script refuses, and sends the current metadata, when it has changed.
        self._metadata_seen: dict[tuple[str, str], bytes] = {}

    @classmethod
    def from_uri(cls, uri: str, *, durability: str = "full") -> RedisStore:
        """Build from `redis[s]://[user:pass@]host:port/db?prefix=NAME`.

        `socket_timeout` and `connect_timeout` (seconds) may also be given in the
        query; `durability` is Redis's own persistence setting, not the URI's."""
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss") or not parts.netloc:
            raise ValueError(f"malformed Redis store URI {uri!r}: expected redis://HOST:PORT/DB")
        options: dict[str, Any] = {}
        passed: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "prefix":
                options["prefix"] = value
            elif name in ("socket_timeout", "connect_timeout"):
                try:
                    options[name] = float(value)
                except ValueError:
                    raise ValueError(f"{name} in {uri!r} must be a number of seconds") from None
            else:
                passed.append((name, value))
        url = urlunsplit(parts._replace(query=urlencode(passed)))
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r}, prefix={self.keys.prefix!r})"

    # Connections

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn an unreachable or unwilling Redis into a 503 the client may retry."""
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            raise ServiceUnavailable(
                f"The Redis store at {self.where} cannot be reached: {exc}"
            ) from exc
        except redis_errors.ResponseError as exc:
            transient = isinstance(exc, _TRANSIENT_ERRORS)
            if not transient and str(exc).split(" ", 1)[0] not in _TRANSIENT_CODES:
                raise
            raise ServiceUnavailable(
                f"The Redis store at {self.where} refused the request: {exc}"
            ) from exc

    @property
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise ServiceUnavailable(f"The Redis store at {self.where} is not open.")
        return self._client

    async def open(self) -> None:
        # No retries inside redis-py: a retried script could run twice, and a
        # failing request should fail fast rather than hang; the pool still
        # replaces dead connections when it hands them out.
        client = connect(
            self.url,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            with self._guard():
                await client.ping()
                scripts = {}
                for name, body in redis_scripts.SCRIPTS.items():
                    script = client.register_script(redis_scripts.PRELUDE + body)
                    # Loading now surfaces a broken script at start-up, not mid-request.
                    await client.script_load(script.script)
                    scripts[name] = script
                await self._report_persistence(client)
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._scripts = scripts
        self._pipeline = ScriptPipeline(client)

    async def _report_persistence(self, client: aioredis.Redis) -> None:
        """Log what a 201 will mean, as far as the server lets us see its settings."""
        try:
            reply = await client.config_get("append*")
        except redis_errors.ResponseError:
            return  # CONFIG is often disabled on managed servers
        config = {_text(k): _text(v) for k, v in reply.items()}
        aof = config.get("appendonly") == "yes"
        fsync = config.get("appendfsync", "")
        if not aof:
            setting = "appendonly no"
        elif fsync != "always":
            setting = f"appendfsync {fsync or '?'}"
        else:
            return
        log.warning(
            "Redis at %s runs with %s: acknowledged messages may be lost if it stops "
            "abruptly (see docs/storage-redis.md)",
            self.where,
            setting,
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._pipeline = None
            await client.aclose()

    async def ping(self) -> bool:
        try:
            with self._guard():
                return bool(await self._redis.ping())
        except ServiceUnavailable:
            return False

    async def _run(
        self,
        script: str,
        base: str,
        now: float,
        args: Sequence[str | bytes | int] = (),
        second_queue: str | None = None,
    ) -> Any:
        """Run one script on a queue (and maybe a second one), in the layout it expects."""
        keys = self.keys
        names = [
            keys.expiring,
            keys.claims,
            keys.next_id,
            *keys.queue(base),
            keys.index_of(base),
        ]
        if second_queue is not None:
            names += keys.queue(second_queue)
        argv = [keys.message_prefix, keys.claim_prefix, keys.members_prefix, _num(now), *args]
        if self._pipeline is None:
            raise ServiceUnavailable(f"The Redis store at {self.where} is not open.")
        with self._guard():
            return await self._pipeline.call(self._scripts[script], names, argv)

    # Queues

    async def create_queue(self, project: str, name: str, metadata: dict[str, Any]) -> bool:
        base = self.keys.queue_base(project, name)
        with self._guard():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(base, "meta", _encode_json(metadata))
                pipe.zadd(self.keys.queue_index(project), {name: 0})
                created, _ = await pipe.execute()
        return bool(created)

    async def queue_metadata(self, project: str, name: str) -> dict[str, Any] | None:
        with self._guard():
            blob = await self._redis.hget(self.keys.queue_base(project, name), "meta")
        return None if blob is None else _decode_metadata(blob)

    async def update_queue_metadata(
        self, project: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        base = self.keys.queue_base(project, name)
        # Optimistic: if anything touches the record between read and write,
        # EXEC fails and `change` runs again on the newer metadata.
        with self._guard():
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(_METADATA_RETRIES):
                    try:
                        await pipe.watch(base)
                        blob = await pipe.hget(base, "meta")
                        if blob is None:
                            return None
                        metadata = change(_decode_metadata(blob))
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hset(base, "meta", _encode_json(metadata))
                        await pipe.execute()
                        return metadata
                    except redis_errors.WatchError:
                        continue
        raise ServiceUnavailable(
            f"The metadata of queue {name} kept changing under concurrent updates; retry."
        )

    async def delete_queue(self, project: str, name: str) -> None:
        await self._run("delete_queue", self.keys.queue_base(project, name), 0.0, [name])

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        prefix: str = "",
    ) -> list[QueueEntry]:
        wanted = _PrefixOnly(prefix)
        index = self.keys.queue_index(project)
        low = b"(" + marker.encode() if marker else b"-"
        chunk = max(limit, 50)
        found: list[QueueEntry] = []
        with self._guard():
            while len(found) < limit:
                names = cast(
                    list[bytes],
                    await self._redis.zrangebylex(index, low, b"+", start=0, num=chunk),
                )
                if not names:
                    break
                async with self._redis.pipeline(transaction=False) as pipe:
                    for raw in names:
                        pipe.hget(self.keys.queue_base(project, raw.decode()), "meta")
                    blobs = await pipe.execute()
                for raw, blob in zip(names, blobs, strict=True):
                    name = raw.decode()
                    if blob is None or not wanted.accepts_name(name):
                        continue
                    metadata = _decode_metadata(blob)
                    if not wanted.accepts_metadata(metadata):
                        continue
                    found.append(QueueEntry(name, metadata))
                    if len(found) == limit:
                        break
                if len(names) < chunk:
                    break
                low = b"(" + names[-1]
        return found

    async def count_queues(self, project: str) -> int:
        with self._guard():
            return int(await self._redis.zcard(self.keys.queue_index(project)))

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        row = await self._run("stats", self.keys.queue_base(project, name), now)
        total, claimed = int(row[0]), int(row[1])
        if not total:
            return QueueStats(claimed=0, total=0)
        return QueueStats(
            claimed=claimed,
            total=total,
            oldest=MessageRef(row[2].decode(), float(row[3])),
            newest=MessageRef(row[4].decode(), float(row[5])),
        )

    async def purge_messages(self, project: str, name: str) -> None:
        await self._run("purge", self.keys.queue_base(project, name), 0.0)

    # Messages

    async def post_messages(
        self,
        project: str,
        queue: str,
        prepare: Prepare,
        client_id: str,
        now: float,
    ) -> list[str]:
        key = (project, queue)
        base = self.keys.queue_base(project, queue)
        seen = self._metadata_seen.get(key)
        fresh = seen is None
        if seen is None:
            seen = await self._metadata_blob(base)
        for _ in range(_STALE_RETRIES):
            try:
                messages = prepare(_decode_metadata(seen) if seen else {})
            except Exception:
                if fresh:
                    raise
                # Refused on metadata that may be stale: decide on the current one.
                seen, fresh = await self._metadata_blob(base), True
                continue
            args: list[str | bytes | int] = [queue, client_id, len(messages), seen]
            for m in messages:
                args += [bytes(m.body), str(m.ttl), _num(now + m.ttl), _num(now + m.delay)]
            # With appendfsync always, Redis answers a script only after the AOF
            # holds it, so the ids below are returned no earlier than durable.
            answer = await self._run("post", base, now, args)
            if isinstance(answer, list):
                seen, fresh = bytes(answer[0]), True
                self._remember(key, seen)
                continue
            self._remember(key, seen or b"{}")
            first = int(answer)
            return [str(first + i) for i in range(len(messages))]
        raise ServiceUnavailable(
            f"The metadata of queue {queue} kept changing during a post; please try again."
        )

    async def _metadata_blob(self, base: str) -> bytes:
        with self._guard():
            blob = await self._redis.hget(base, "meta")
        return b"" if blob is None else blob.encode() if isinstance(blob, str) else blob

    def _remember(self, key: tuple[str, str], blob: bytes) -> None:
        if len(self._metadata_seen) >= _METADATA_SEEN_MAX:
            self._metadata_seen.clear()
        self._metadata_seen[key] = blob

    async def list_messages(
        self, project: str, queue: str, query: MessageQuery, now: float
    ) -> list[StoredMessage]:
        if query.marker and not _MESSAGE_ID.match(query.marker):
            return []
        args = [
            str(int(query.marker)) if query.marker else "",
            str(query.limit),
            _flag(query.echo),
            query.client_id,
            _flag(query.include_claimed),
            _flag(query.include_delayed),
        ]
        rows = await self._run("list", self.keys.queue_base(project, queue), now, args)
        return [_message(row) for row in rows]

    async def get_messages(
        self, project: str, queue: str, ids: list[str], now: float
    ) -> list[StoredMessage]:
        wanted = _message_ids(ids)
        if not wanted:
            return []
        rows = await self._run("get", self.keys.queue_base(project, queue), now, wanted)
        return [_message(row) for row in rows]

    async def delete_messages(
        self,
        project: str,
        queue: str,
        ids: list[str],
        claim_ids: list[str] | None,
        now: float,
    ) -> None:
        wanted = _message_ids(ids)
        if not wanted:
            return
        args = [_flag(claim_ids is not None), str(len(wanted)), *wanted, *(claim_ids or [])]
        await self._run("delete_many", self.keys.queue_base(project, queue), now, args)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> DeleteOutcome:
        wanted = _message_ids([message_id])
        if not wanted:
            return DeleteOutcome.MISSING
        found, live, given_live, deleted = await self._run(
            "delete_one", self.keys.queue_base(project, queue), now, [wanted[0], claim_id or ""]
        )
        if not found:
            return DeleteOutcome.MISSING
        verdict = delete_verdict(live.decode() or None, claim_id, bool(given_live))
        if (verdict is DeleteOutcome.DELETED) != bool(deleted):
            raise RuntimeError(f"the delete script disagrees with delete_verdict ({verdict})")
        return verdict

    async def pop_messages(
        self, project: str, queue: str, limit: int, now: float
    ) -> list[StoredMessage]:
        rows = await self._run("pop", self.keys.queue_base(project, queue), now, [str(limit)])
        return [_message(row) for row in rows]

    # Claims

    async def move_messages(
        self,
        project: str,
        queue: str,
        claim_id: str,
        ids: list[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> int:
        raise NotImplementedError("transitional")

    async def create_claim(self, project: str, queue: str, plan: Plan, now: float) -> Claim | None:
        key = (project, queue)
        base = self.keys.queue_base(project, queue)
        seen = self._metadata_seen.get(key)
        fresh = seen is None
        if seen is None:
            seen = await self._metadata_blob(base)
        for _ in range(_STALE_RETRIES):
            if not seen:
                if fresh:
                    return None
                seen, fresh = await self._metadata_blob(base), True
                continue
            request = plan(_decode_metadata(seen))
            claim_id = str(uuid.uuid4())
            until = now + request.ttl
            rule = None
            args: list[str | bytes | int] = [
                str(request.limit),
                claim_id,
                str(request.ttl),
                _num(until),
                _num(until + request.grace),
                str(request.ttl + request.grace),
                rule.queue if rule else "",
                str(rule.max_claim_count) if rule else "0",
                "" if rule is None or rule.ttl is None else str(int(rule.ttl)),
                seen,
            ]
            dead_letters = self.keys.queue_base(project, rule.queue) if rule else None
            rows = await self._run("claim", base, now, args, dead_letters)
            if rows and isinstance(rows[0], bytes):
                # The metadata changed since it was seen: plan again on the current one.
                seen, fresh = rows[0], True
                self._remember(key, seen)
                continue
            self._remember(key, seen)
            if rows is None:
                return None
            return Claim(claim_id, request.ttl, now, [_message(row) for row in rows])
        raise ServiceUnavailable(
            f"The metadata of queue {queue} kept changing during a claim; please try again."
        )

    async def get_claim(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        row = await self._run("get_claim", self.keys.queue_base(project, queue), now, [claim_id])
        if row is None:
            return None
        ttl, updated, rows = row
        return Claim(claim_id, int(ttl), float(updated), [_message(r) for r in rows])

    async def renew_claim(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        until = now + ttl
        args = [claim_id, str(ttl), _num(until), _num(until + grace), str(ttl + grace)]
        return bool(await self._run("renew", self.keys.queue_base(project, queue), now, args))

    async def release_claim(self, project: str, queue: str, claim_id: str, now: float) -> None:
        await self._run("release", self.keys.queue_base(project, queue), now, [claim_id])

    # Housekeeping

    async def collect_garbage(self, now: float) -> int:
        # Both indexes are scored by expiry, so each batch costs its own size;
        # a bounded number of batches keeps one call from running on forever.
        gone = 0
        for index, field, script in (
            (self.keys.expiring, self.keys.message, "expire_messages"),
            (self.keys.claims, self.keys.claim, "expire_claims"),
        ):
            for _ in range(_GC_MAX_BATCHES):
                batch, removed = await self._collect_batch(now, index, field, script)
                gone += removed
                if batch < _GC_BATCH:
                    break
        return gone

    async def _collect_batch(
        self, now: float, index: str, record: Callable[[str], str], script: str
    ) -> tuple[int, int]:
        """One batch off an expiry index, grouped by queue; (how many seen, how many went)."""
        with self._guard():
            ids = cast(
                list[bytes],
                await self._redis.zrangebyscore(index, "-inf", _num(now), start=0, num=_GC_BATCH),
            )
            if not ids:
                return 0, 0
            async with self._redis.pipeline(transaction=False) as pipe:
                for raw in ids:
                    pipe.hget(record(raw.decode()), "q")
                owners = await pipe.execute()
        by_queue: dict[str, list[str]] = {}
        orphans: list[bytes] = []
        for raw, owner in zip(ids, owners, strict=True):
            if owner is None:
                orphans.append(raw)
            else:
                by_queue.setdefault(owner.decode(), []).append(raw.decode())
        removed = 0
        for base, members in by_queue.items():
            removed += int(await self._run(script, base, now, members))
        if orphans:
            with self._guard():
                await self._redis.zrem(index, *orphans)
        return len(ids), removed


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def _message_ids(ids: list[str]) -> list[str]:
    """The ids that can name a message, each once, in the form the store keeps them."""
    return list(dict.fromkeys(str(int(i)) for i in ids if _MESSAGE_ID.match(i)))


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _message(row: Sequence[Any]) -> StoredMessage:
    message_id, body, ttl, created, claim_id, claim_count = row
    return StoredMessage(
        id=message_id.decode(),
        body=msgspec.Raw(body),
        ttl=int(ttl),
        created=float(created),
        claim_id=claim_id.decode() or None,
        claim_count=int(claim_count),
    )


class _PrefixOnly:
    """Transitional: the name-prefix condition until this driver seeks by prefix."""

    selective = True

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def accepts_name(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def accepts_metadata(self, metadata: dict[str, Any]) -> bool:
        return True
