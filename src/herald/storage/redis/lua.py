"""The Lua scripts behind the Redis store, and the layout every one is called with.

Each script in `scripts/` is a single atomic state change and runs after
`scripts/prelude.lua`. Every one is called with the same layout:

    KEYS[1..3]   store-wide: expiry index of all messages, expiry index of all
                 claims, the message id counter
    KEYS[4..7]   store-wide: deliveries by due, deliveries by post time, the
                 delivery id counter, expiry index of all subscriptions
    KEYS[8..16]  the queue: record, ids, ready, delayed, claimed, expiry, claims,
                 subscriptions (ids by expiry), subscribers (subscriber -> id)
    KEYS[17]     the project's queue index
    KEYS[18..26] a second queue (where `move` takes messages), when there is one
    ARGV[1..6]   key prefixes of messages, claims, claim members, subscriptions,
                 a subscription's deliveries, and deliveries
    ARGV[7]      the caller's clock; scripts never read Redis's own
    ARGV[8..]    the script's own arguments, described at the top of each script

A script about the outbox alone is called with no queue: its queue keys are
absent. Scripts build no key names of their own: message, claim, subscription
and delivery keys are one of the prefixes above followed by an id. Times
travel as the decimal text Python wrote, so that stored values and sorted-set
scores stay exact; the one time a script computes a time (a moved message's
expiry) it writes it with 17 digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from herald.storage.redis.codec import time_text
from herald.storage.redis.keys import Keys
from herald.storage.redis.wire import Arg

NAMES = (
    "post",
    "claim",
    "move",
    "get_claim",
    "renew",
    "release",
    "list",
    "get",
    "pop",
    "delete_one",
    "delete_many",
    "stats",
    "purge",
    "delete_queue",
    "update_metadata",
    "expire_messages",
    "expire_claims",
    "subscribe",
    "update_subscription",
    "unsubscribe",
    "purge_subscriptions",
    "expire_subscriptions",
    "lease",
    "retry",
    "finish",
)


def sources() -> dict[str, str]:
    """Each script's full text, prelude included, by name."""
    folder = resources.files("herald.storage.redis").joinpath("scripts")
    prelude = folder.joinpath("prelude.lua").read_text("utf-8")
    return {name: prelude + folder.joinpath(f"{name}.lua").read_text("utf-8") for name in NAMES}


async def register(client: aioredis.Redis) -> dict[str, AsyncScript]:
    """Every script, registered with `client` and already loaded into Redis."""
    scripts = {}
    for name, text in sources().items():
        script = client.register_script(text)
        # Loading now surfaces a broken script at start-up, not mid-request.
        await client.script_load(script.script)
        scripts[name] = script
    return scripts


def keys_for(keys: Keys, base: str | None, second_queue: str | None = None) -> list[str]:
    """The KEYS of a call on the queue `base` (and maybe a second queue), or on none."""
    names = [
        keys.expiring,
        keys.claims,
        keys.next_id,
        keys.deliveries_due,
        keys.deliveries_posted,
        keys.next_delivery,
        keys.subscriptions,
    ]
    if base is None:
        return names
    names += [*keys.queue(base), keys.index_of(base)]
    if second_queue is not None:
        names += keys.queue(second_queue)
    return names


def argv_for(keys: Keys, now: float, args: Sequence[Arg]) -> list[Arg]:
    """The ARGV of a call at `now` with the script's own `args`."""
    return [
        keys.message_prefix,
        keys.claim_prefix,
        keys.members_prefix,
        keys.subscription_prefix,
        keys.owed_prefix,
        keys.delivery_prefix,
        time_text(now),
        *args,
    ]
