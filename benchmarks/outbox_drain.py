"""How fast one Herald process drains its delivery outbox to one webhook subscription, and
the server CPU each delivery costs.

One `herald serve --workers 1` on a fresh SQLite file (durability full) and the counting
receiver of the notification benchmarks (`webhook_receiver.py`). By default the messages
are posted with the delivery engine off, then the server restarts with it on, so that
only the draining is timed; `--together` posts with the engine on and times from the
first post to the last delivery, as `notify.py` does. `[notifications]` settings come
from `HERALD_NOTIFICATIONS_*` in the environment (e.g. `..._PER_SUBSCRIPTION_WINDOW`).

    python benchmarks/outbox_drain.py --messages 30000
    HERALD_NOTIFICATIONS_PER_SUBSCRIPTION_WINDOW=32 python benchmarks/outbox_drain.py
    python benchmarks/outbox_drain.py --messages 40000 --together
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from benchlib import herald_sqlite

import notify

QUEUE = "drain"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--together", action="store_true", help="post with the engine on")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k.startswith("HERALD_")}
    if not args.together:
        env["HERALD_NOTIFICATIONS_ENABLED"] = "false"
    receiver = notify.receiver_server()
    herald = herald_sqlite("outbox-drain", workers=1, durability="full", env=env)
    receiver.start()
    try:
        herald.start()
        notify.fresh_queue(herald.url, QUEUE)
        notify.subscribe(herald.url, "queues", QUEUE, f"{receiver.url}/hook/{QUEUE}")
        notify.receiver_count(receiver, reset=True)
        assert herald.process is not None
        cpu = notify.tree_cpu(herald.process.pid)
        began = time.monotonic()
        path = f"/v2/queues/{QUEUE}/messages"
        asyncio.run(notify.post_messages(herald.url, path, args.messages, 10, 4, 200))
        if not args.together:
            # The same file, the engine on: what it finds is the whole outbox.
            herald.stop()
            herald.env["HERALD_NOTIFICATIONS_ENABLED"] = "true"
            began = time.monotonic()
            herald.start()
            assert herald.process is not None
            cpu = notify.tree_cpu(herald.process.pid)
        counted = notify.wait_for_posts(receiver, args.messages, began + args.timeout)
        cpu = notify.tree_cpu(herald.process.pid) - cpu
    finally:
        herald.stop()
        receiver.stop()
    delivered = int(counted["posts"])
    start = began if args.together else counted["first"]
    rate = delivered / (counted["last"] - start)
    print(
        f"{delivered:,} of {args.messages:,} delivered, {rate:,.0f}/s, "
        f"{cpu / max(delivered, 1) * 1e6:,.0f} µs of server CPU per delivery "
        f"({'posting included' if args.together else 'draining only'})"
    )
    return 0 if delivered >= args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
