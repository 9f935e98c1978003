"""`herald serve` whose message posts skip the JSON body checks, to measure what they cost.

Benchmarks only: a post body is decoded by msgspec alone, so broken UTF-8 inside a
message body and integers beyond 64 bits are stored as sent. Takes the same
arguments as `herald`, with one worker (workers are new processes, without the patch).

    python benchmarks/unchecked_server.py serve --port 8889 --workers 1
"""

from __future__ import annotations

import itertools
import sys
from typing import TypeVar

import msgspec

from herald import cli
from herald.service import messages

T = TypeVar("T")


def decode_unchecked(data: bytes, kind: type[T]) -> T:
    """The post path's decode without the UTF-8 and number checks; errors are msgspec's own."""
    return msgspec.json.decode(data, type=kind)


def main(argv: list[str]) -> int:
    for flag, value in itertools.pairwise(argv):
        if flag == "--workers" and value != "1":
            print("unchecked_server: only one worker carries the patch", file=sys.stderr)
            return 2
    messages.decode_document = decode_unchecked
    print("unchecked_server: JSON body checks of message posts are off", file=sys.stderr)
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
