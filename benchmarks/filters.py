"""What matching a compiled SNS filter policy costs per message body.

For each policy, `FilterPolicy.matches(body)` against a hand-written Python
function that makes the same decision (the floor for Python code), and, as a
scale, decoding the same body from JSON with msgspec, which a delivery does
anyway. The three take turns in each repeat; medians of the repeats, printed
and written with the runs to `results/`.

    python benchmarks/filters.py --repeats 9 --number 20000
"""

from __future__ import annotations

import argparse
import functools
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
from benchlib import machine, markdown_table, median, say, timestamp, write_results

from herald.service.filters import compile_policy

BODY: dict[str, Any] = {
    "event": "order_placed",
    "store": "example_corp",
    "price_usd": 210.75,
    "customer": {"tier": "gold", "country": "DE", "tags": ["vip", "b2b"]},
    "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-7", "qty": 1}],
    "note": "deliver after 5pm",
}

ONE_KEY: dict[str, Any] = {"event": ["order_placed"]}
TYPICAL: dict[str, Any] = {
    "event": ["order_placed", {"prefix": "refund_"}],
    "price_usd": [{"numeric": [">=", 100, "<", 1000]}],
    "customer": {"tier": [{"anything-but": ["free", "trial"]}], "tags": ["vip"]},
    "test": [{"exists": False}],
}


def one_key_by_hand(body: Any) -> bool:
    return isinstance(body, dict) and body.get("event") == "order_placed"


def typical_by_hand(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    event = body.get("event")
    if not (isinstance(event, str) and (event == "order_placed" or event.startswith("refund_"))):
        return False
    price = body.get("price_usd")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not 100 <= price < 1000:
        return False
    customer = body.get("customer")
    if not isinstance(customer, dict):
        return False
    tier = customer.get("tier")
    if not isinstance(tier, str) or tier in ("free", "trial"):
        return False
    tags = customer.get("tags")
    if not (tags == "vip" or (isinstance(tags, list) and "vip" in tags)):
        return False
    return body.get("test") is None


def timed(call: Callable[[], object], number: int) -> float:
    """Nanoseconds per call."""
    return timeit.timeit(call, number=number) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    raw = msgspec.json.encode(BODY)
    decode = msgspec.json.Decoder().decode
    cases = [
        ("1 key, exact", ONE_KEY, one_key_by_hand),
        ("4 keys, typical", TYPICAL, typical_by_hand),
    ]
    rows = []
    for name, document, by_hand in cases:
        policy = compile_policy(document)
        assert policy.matches(BODY) and by_hand(BODY)
        compiled: list[float] = []
        hand: list[float] = []
        decoded: list[float] = []
        for _ in range(args.repeats):
            compiled.append(timed(functools.partial(policy.matches, BODY), args.number))
            hand.append(timed(functools.partial(by_hand, BODY), args.number))
            decoded.append(timed(functools.partial(decode, raw), args.number))
        say(f"{name}: done")
        ratios = [c / h for c, h in zip(compiled, hand, strict=True)]
        rows.append(
            [
                name,
                f"{median(compiled):,.0f}",
                f"{median(hand):,.0f}",
                f"{median(ratios):.2f}x",
                f"{median(decoded):,.0f}",
            ]
        )
    table = markdown_table(
        ["policy", "matches() ns", "by hand ns", "ratio", f"decode {len(raw)}-byte body ns"],
        rows,
    )
    print(table)
    document = {"machine": machine(), "args": vars(args), "rows": rows}
    for path in write_results(f"filters-{timestamp()}", document, table):
        say(f"wrote {path}")


if __name__ == "__main__":
    main()
