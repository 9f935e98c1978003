"""API keys in Redis: one hash per key, and the ids in sorted sets by creation time.

The two writes are small scripts of their own rather than files in `scripts/`,
which all take a queue's layout of keys. A field that does not apply
(`expires`, `revoked`) is absent from the hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import msgspec

from herald.model import ApiKeyRecord
from herald.storage.kit import encode_json
from herald.storage.redis.codec import text, time_text
from herald.storage.redis.server import Server

# KEYS: the record, every id, the project's ids. ARGV: id, created, then the
# record's fields and values. Creates nothing when the id is taken.
_PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: the record. ARGV: now. The first revocation time stays.
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return false
end
redis.call('HSETNX', KEYS[1], 'revoked', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

_decode_roles = msgspec.json.Decoder(list[str]).decode


class ApiKeys:
    """The key operations of one Redis store; Redis failures become 503s."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._keys = server.keys

    async def put(self, record: ApiKeyRecord) -> bool:
        fields: list[str] = [
            "secret_hash",
            record.secret_hash,
            "project",
            record.project,
            "roles",
            encode_json(list(record.roles)).decode(),
            "created",
            time_text(record.created),
        ]
        if record.expires is not None:
            fields += ["expires", time_text(record.expires)]
        if record.revoked is not None:
            fields += ["revoked", time_text(record.revoked)]
        names = [
            self._keys.api_key(record.id),
            self._keys.api_keys,
            self._keys.project_api_keys(record.project),
        ]
        args = [record.id, time_text(record.created), *fields]
        with self._server.guard():
            # Registering costs a hash of the text; keys are written rarely.
            script = self._server.client.register_script(_PUT)
            return bool(await script(keys=names, args=args))

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        with self._server.guard():
            found = await self._server.client.hgetall(self._keys.api_key(key_id))
        return record_of(key_id, found) if found else None

    async def listing(self, project: str | None) -> list[ApiKeyRecord]:
        index = self._keys.api_keys if project is None else self._keys.project_api_keys(project)
        with self._server.guard():
            client = self._server.client
            ids = [text(i) for i in cast(list[bytes], await client.zrange(index, 0, -1))]
            async with client.pipeline(transaction=False) as pipe:
                for key_id in ids:
                    pipe.hgetall(self._keys.api_key(key_id))
                hashes = await pipe.execute()
        return [record_of(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def revoke(self, key_id: str, now: float) -> ApiKeyRecord | None:
        with self._server.guard():
            script = self._server.client.register_script(_REVOKE)
            flat = await script(keys=[self._keys.api_key(key_id)], args=[time_text(now)])
        if not flat:
            return None
        return record_of(key_id, dict(zip(flat[::2], flat[1::2], strict=True)))


def record_of(key_id: str, found: Mapping[bytes | str, bytes | str]) -> ApiKeyRecord:
    """A key record from its hash's fields."""
    fields = {text(name): text(value) for name, value in found.items()}
    expires, revoked = fields.get("expires"), fields.get("revoked")
    return ApiKeyRecord(
        id=key_id,
        secret_hash=fields["secret_hash"],
        project=fields["project"],
        roles=tuple(_decode_roles(fields["roles"])),
        created=float(fields["created"]),
        expires=None if expires is None else float(expires),
        revoked=None if revoked is None else float(revoked),
    )
