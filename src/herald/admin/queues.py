"""`herald queue list|create|delete|stats|purge`."""

from __future__ import annotations

import argparse
from typing import Any

from herald.admin.client import OK, ZaqarClient, queues_path
from herald.admin.output import print_fields, print_json, print_table
from herald.admin.values import json_object, positive_int


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    listing = commands.add_parser(
        "list", parents=[common], help="list queues", description="List the project's queues."
    )
    listing.add_argument("--limit", type=positive_int, help="queues per page (server default 10)")
    listing.add_argument("--marker", help="start after this queue name")
    listing.add_argument("--detailed", action="store_true", help="show each queue's metadata")
    listing.add_argument(
        "--all", action="store_true", help="follow the next links until the last page"
    )
    listing.set_defaults(handler=list_queues)
    create = commands.add_parser(
        "create",
        parents=[common],
        help="create a queue",
        description="Create a queue; an existing queue is left as it is.",
    )
    create.add_argument("queue", metavar="QUEUE")
    create.add_argument(
        "--metadata",
        type=json_object,
        help="metadata as a JSON object, e.g. '{\"_max_claim_count\": 5}'",
    )
    create.set_defaults(handler=create_queue)
    for name, handler, text in (
        ("delete", delete_queue, "delete a queue and its messages"),
        ("stats", queue_stats, "count a queue's messages"),
    ):
        command = commands.add_parser(name, parents=[common], help=text, description=text + ".")
        command.add_argument("queue", metavar="QUEUE")
        command.set_defaults(handler=handler)
    purge = commands.add_parser(
        "purge",
        parents=[common],
        help="remove a queue's messages and/or subscriptions",
        description="Remove a queue's messages and its subscriptions, or only one "
        "of the two; the queue stays.",
    )
    purge.add_argument("queue", metavar="QUEUE")
    purge.add_argument(
        "--only", choices=("messages", "subscriptions"), help="purge only this kind of resource"
    )
    purge.set_defaults(handler=purge_queue)


def list_queues(client: ZaqarClient, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "marker": args.marker}
    if args.detailed:
        params["detailed"] = True
    queues: list[dict[str, Any]] = []
    while True:
        document = client.call("GET", "/v2/queues", params=params).document or {}
        page = document.get("queues", [])
        queues += page
        if not args.all or not page:
            break
        params["marker"] = page[-1]["name"]
    if args.json:
        print_json({"queues": queues} if args.all else document)
    elif args.detailed:
        print_table(["NAME", "METADATA"], [[q["name"], q.get("metadata")] for q in queues])
    else:
        print_table(["NAME"], [[q["name"]] for q in queues])
    return OK


def create_queue(client: ZaqarClient, args: argparse.Namespace) -> int:
    answer = client.call("PUT", queues_path(args.queue), body=args.metadata or {})
    created = answer.status == 201
    if args.json:
        print_json({"queue": args.queue, "created": created})
    else:
        print(f"created queue {args.queue}" if created else f"queue {args.queue} exists already")
    return OK


def delete_queue(client: ZaqarClient, args: argparse.Namespace) -> int:
    client.call("DELETE", queues_path(args.queue))
    if args.json:
        print_json({"queue": args.queue, "deleted": True})
    else:
        print(f"deleted queue {args.queue}")
    return OK


def queue_stats(client: ZaqarClient, args: argparse.Namespace) -> int:
    document = client.call("GET", queues_path(args.queue, "stats")).document
    if args.json:
        print_json(document)
        return OK
    counts = document["messages"]
    fields: list[tuple[str, object]] = [
        ("queue", args.queue),
        ("free", counts["free"]),
        ("claimed", counts["claimed"]),
        ("total", counts["total"]),
    ]
    for end in ("oldest", "newest"):
        stamp = counts.get(end)
        if stamp:
            fields.append((end, f"{stamp['created']} (age {stamp['age']}s) {stamp['href']}"))
    print_fields(fields)
    return OK


def purge_queue(client: ZaqarClient, args: argparse.Namespace) -> int:
    kinds = [args.only] if args.only else ["messages", "subscriptions"]
    client.call("POST", queues_path(args.queue, "purge"), body={"resource_types": kinds})
    if args.json:
        print_json({"queue": args.queue, "purged": kinds})
    else:
        print(f"purged the {' and '.join(kinds)} of queue {args.queue}")
    return OK
