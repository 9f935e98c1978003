"""`herald claim create|release`."""

from __future__ import annotations

import argparse
from typing import Any

from herald.admin.client import OK, ZaqarClient, queues_path
from herald.admin.messages import MESSAGE_COLUMNS, message_rows
from herald.admin.output import print_json, print_table
from herald.admin.values import positive_int


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    create = commands.add_parser(
        "create",
        parents=[common],
        help="claim messages",
        description="Claim up to --limit messages; prints the claim id and the messages. "
        "No messages to claim is not an error.",
    )
    create.add_argument("queue", metavar="QUEUE")
    create.add_argument("--limit", type=positive_int, help="messages to claim (server default 10)")
    create.add_argument("--ttl", type=positive_int, help="seconds the claim lasts")
    create.add_argument(
        "--grace", type=positive_int, help="seconds the messages outlive the claim at least"
    )
    create.set_defaults(handler=create_claim)
    release = commands.add_parser(
        "release",
        parents=[common],
        help="release a claim",
        description="Release a claim: its messages can be claimed again at once.",
    )
    release.add_argument("queue", metavar="QUEUE")
    release.add_argument("claim_id", metavar="CLAIM_ID")
    release.set_defaults(handler=release_claim)


def create_claim(client: ZaqarClient, args: argparse.Namespace) -> int:
    body = {key: value for key in ("ttl", "grace") if (value := getattr(args, key)) is not None}
    path = queues_path(args.queue, "claims")
    answer = client.call("POST", path, params={"limit": args.limit}, body=body)
    location = answer.headers.get("location", "")
    claim_id = location.rsplit("/", 1)[-1] if answer.status == 201 and location else None
    messages = (answer.document or {}).get("messages", [])
    if args.json:
        print_json({"claim_id": claim_id, "messages": messages})
    elif claim_id is None:
        print("no messages to claim")
    else:
        print(f"claim: {claim_id}")
        print_table(MESSAGE_COLUMNS, message_rows(messages))
    return OK


def release_claim(client: ZaqarClient, args: argparse.Namespace) -> int:
    client.call("DELETE", queues_path(args.queue, "claims", args.claim_id))
    if args.json:
        print_json({"claim_id": args.claim_id, "released": True})
    else:
        print(f"released claim {args.claim_id}")
    return OK
