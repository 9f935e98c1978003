"""`herald message post|list|peek|delete`."""

from __future__ import annotations

import argparse
from typing import Any

from herald.admin.client import OK, USAGE, CommandFailed, ZaqarClient, queues_path
from herald.admin.output import print_json, print_table
from herald.admin.values import json_value, positive_int

MESSAGE_COLUMNS = ["ID", "AGE", "TTL", "CLAIM", "BODY"]


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    post = commands.add_parser(
        "post",
        parents=[common],
        help="post messages",
        description="Post one message per BODY, all in one request. Each BODY is JSON "
        "unless --text is given.",
    )
    post.add_argument("queue", metavar="QUEUE")
    post.add_argument("bodies", metavar="BODY", nargs="+")
    post.add_argument("--text", action="store_true", help="send each BODY as a JSON string")
    post.add_argument("--ttl", type=positive_int, help="seconds each message lives")
    post.add_argument("--delay", type=int, help="seconds before the messages can be claimed")
    post.set_defaults(handler=post_messages)
    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list messages without claiming them",
        description="List a queue's messages, oldest first, without claiming them.",
    )
    listing.add_argument("queue", metavar="QUEUE")
    listing.add_argument("--limit", type=positive_int, help="messages per page (server default 10)")
    listing.add_argument("--marker", help="start after this marker")
    listing.add_argument(
        "--echo", action="store_true", help="include messages posted with this --client-id"
    )
    listing.add_argument("--include-claimed", action="store_true", help="include claimed ones")
    listing.add_argument("--include-delayed", action="store_true", help="include delayed ones")
    listing.set_defaults(handler=list_messages)
    peek = commands.add_parser(
        "peek",
        parents=[common],
        help="show messages by id",
        description="Show messages by id, with their whole bodies, without claiming them.",
    )
    peek.add_argument("queue", metavar="QUEUE")
    peek.add_argument("ids", metavar="ID", nargs="+")
    peek.set_defaults(handler=peek_messages)
    delete = commands.add_parser(
        "delete",
        parents=[common],
        help="delete messages by id",
        description="Delete messages by id. A claimed message needs its --claim-id.",
    )
    delete.add_argument("queue", metavar="QUEUE")
    delete.add_argument("ids", metavar="ID", nargs="+")
    delete.add_argument("--claim-id", help="the claim holding the message (one ID only)")
    delete.set_defaults(handler=delete_messages)


def post_messages(client: ZaqarClient, args: argparse.Namespace) -> int:
    messages = []
    for text in args.bodies:
        message: dict[str, Any] = {"body": text if args.text else _body(text)}
        if args.ttl is not None:
            message["ttl"] = args.ttl
        if args.delay is not None:
            message["delay"] = args.delay
        messages.append(message)
    answer = client.call("POST", queues_path(args.queue, "messages"), body={"messages": messages})
    if args.json:
        print_json(answer.document)
    else:
        print_table(["ID"], [[href.rsplit("/", 1)[-1]] for href in answer.document["resources"]])
    return OK


def list_messages(client: ZaqarClient, args: argparse.Namespace) -> int:
    params = {
        "limit": args.limit,
        "marker": args.marker,
        "echo": args.echo or None,
        "include_claimed": args.include_claimed or None,
        "include_delayed": args.include_delayed or None,
    }
    document = client.call("GET", queues_path(args.queue, "messages"), params=params).document
    _show_messages(document, args.json)
    return OK


def peek_messages(client: ZaqarClient, args: argparse.Namespace) -> int:
    if len(args.ids) == 1:
        one = client.call("GET", queues_path(args.queue, "messages", args.ids[0])).document
        document = {"messages": [one]}
    else:
        path = queues_path(args.queue, "messages")
        document = client.call("GET", path, params={"ids": args.ids}).document
    _show_messages(document, args.json)
    return OK


def delete_messages(client: ZaqarClient, args: argparse.Namespace) -> int:
    if args.claim_id is not None and len(args.ids) != 1:
        raise CommandFailed("--claim-id goes with exactly one message ID", USAGE)
    if len(args.ids) == 1:
        path = queues_path(args.queue, "messages", args.ids[0])
        client.call("DELETE", path, params={"claim_id": args.claim_id})
    else:
        client.call("DELETE", queues_path(args.queue, "messages"), params={"ids": args.ids})
    if args.json:
        print_json({"queue": args.queue, "deleted": args.ids})
    else:
        print(f"deleted {len(args.ids)} message{'s' if len(args.ids) != 1 else ''}")
    return OK


def message_rows(messages: list[dict[str, Any]]) -> list[list[object]]:
    """Table rows of messages as the server shows them; the claim id is in the href."""
    rows: list[list[object]] = []
    for message in messages:
        href = message.get("href", "")
        claim = href.rsplit("claim_id=", 1)[-1] if "claim_id=" in href else None
        rows.append([message["id"], message["age"], message["ttl"], claim, message["body"]])
    return rows


def _show_messages(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(document)
    else:
        print_table(MESSAGE_COLUMNS, message_rows(document["messages"]))


def _body(text: str) -> Any:
    try:
        return json_value(text)
    except argparse.ArgumentTypeError as exc:
        raise CommandFailed(f"BODY: {exc}", USAGE) from None
