"""Decode and re-encode a typical message post with msgspec, orjson and json.

Run: python benchmarks/json_codecs.py  (prints microseconds per round and ratios
to msgspec, all measured in the same run)."""

from __future__ import annotations

import json
import timeit

import msgspec

try:
    import orjson
except ImportError:  # orjson is only a point of comparison, not a dependency
    orjson = None

BODY = (
    b'{"messages":[{"body":{"event":"order.created","id":12345,"payload":"'
    + b"x" * 96
    + b'"},"ttl":3600}]}'
)


class MessageIn(msgspec.Struct):
    body: msgspec.Raw
    ttl: int | msgspec.UnsetType = msgspec.UNSET


class PostBody(msgspec.Struct):
    messages: list[MessageIn]


decoder = msgspec.json.Decoder(PostBody)
encoder = msgspec.json.Encoder()


def with_msgspec() -> bytes:
    post = decoder.decode(BODY)
    # The body is kept as raw bytes: it is stored and served without re-encoding.
    return bytes(post.messages[0].body)


def validate(document: object) -> bytes:
    assert isinstance(document, dict)
    messages = document["messages"]
    assert isinstance(messages, list)
    for message in messages:
        assert isinstance(message, dict) and "body" in message
        assert isinstance(message.get("ttl", 0), int)
    return b""


def with_orjson() -> bytes:
    document = orjson.loads(BODY)
    validate(document)
    return orjson.dumps(document["messages"][0]["body"])


def with_json() -> bytes:
    document = json.loads(BODY)
    validate(document)
    return json.dumps(document["messages"][0]["body"]).encode()


def main() -> None:
    rounds = 200_000
    results = {"msgspec": timeit.timeit(with_msgspec, number=rounds)}
    if orjson is not None:
        results["orjson"] = timeit.timeit(with_orjson, number=rounds)
    results["json"] = timeit.timeit(with_json, number=rounds)
    base = results["msgspec"]
    print(f"{len(BODY)}-byte post body, {rounds} rounds")
    for name, seconds in results.items():
        print(f"{name:8s} {seconds / rounds * 1e6:6.2f} us/round  {seconds / base:5.2f}x msgspec")


if __name__ == "__main__":
    main()
