"""`herald subscription list|create|show|update|confirm|delete`."""

from __future__ import annotations

import argparse
from typing import Any

from herald.admin.client import OK, USAGE, CommandFailed, ZaqarClient, queues_path
from herald.admin.output import print_fields, print_json, print_table
from herald.admin.values import json_object, positive_int

SUBSCRIPTION_COLUMNS = ["ID", "SUBSCRIBER", "TTL", "AGE", "CONFIRMED", "OPTIONS"]


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list a queue's subscriptions",
        description="List a queue's subscriptions; a queue that does not exist has none.",
    )
    listing.add_argument("queue", metavar="QUEUE")
    listing.add_argument(
        "--limit", type=positive_int, help="subscriptions per page (server default 10)"
    )
    listing.add_argument("--marker", help="start after this subscription id")
    listing.add_argument("--all", action="store_true", help="follow the pages until the last one")
    listing.set_defaults(handler=list_subscriptions)
    create = commands.add_parser(
        "create",
        parents=[common],
        help="subscribe a URI to a queue",
        description="Subscribe SUBSCRIBER (e.g. https://host/hook or mailto:ops@example.com) "
        "to QUEUE and print the subscription's id. The same SUBSCRIBER again, while "
        "unconfirmed, gets the same id.",
    )
    create.add_argument("queue", metavar="QUEUE")
    create.add_argument("subscriber", metavar="SUBSCRIBER")
    create.add_argument("--ttl", type=positive_int, help="seconds the subscription lasts")
    create.add_argument(
        "--options",
        type=json_object,
        help='options as a JSON object, e.g. \'{"post_headers": {"X-Team": "ops"}}\'',
    )
    create.set_defaults(handler=create_subscription)
    show = commands.add_parser(
        "show",
        aliases=["get"],
        parents=[common],
        help="show a subscription",
        description="Show a subscription.",
    )
    show.add_argument("queue", metavar="QUEUE")
    show.add_argument("subscription_id", metavar="ID")
    show.set_defaults(handler=show_subscription)
    update = commands.add_parser(
        "update",
        parents=[common],
        help="change a subscription's subscriber, ttl or options",
        description="Change what is given; a new --ttl counts from now. --options replaces "
        "the options as a whole.",
    )
    update.add_argument("queue", metavar="QUEUE")
    update.add_argument("subscription_id", metavar="ID")
    update.add_argument("--subscriber", help="the new subscriber URI")
    update.add_argument("--ttl", type=positive_int, help="seconds the subscription lasts from now")
    update.add_argument("--options", type=json_object, help="the new options, a JSON object")
    update.set_defaults(handler=update_subscription)
    confirm = commands.add_parser(
        "confirm",
        parents=[common],
        help="confirm a subscription, or with --revoke unconfirm it",
        description="Mark a subscription confirmed, as its subscriber would; with --revoke, "
        "unconfirmed. A server that requires confirmation delivers only to confirmed ones.",
    )
    confirm.add_argument("queue", metavar="QUEUE")
    confirm.add_argument("subscription_id", metavar="ID")
    confirm.add_argument("--revoke", action="store_true", help="unconfirm instead")
    confirm.set_defaults(handler=confirm_subscription)
    delete = commands.add_parser(
        "delete",
        parents=[common],
        help="delete a subscription",
        description="Delete a subscription. The API answers the same whether it existed or not.",
    )
    delete.add_argument("queue", metavar="QUEUE")
    delete.add_argument("subscription_id", metavar="ID")
    delete.set_defaults(handler=delete_subscription)


def list_subscriptions(client: ZaqarClient, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "marker": args.marker}
    path = queues_path(args.queue, "subscriptions")
    found: list[dict[str, Any]] = []
    while True:
        document = client.call("GET", path, params=params).document or {}
        page = document.get("subscriptions", [])
        found += page
        if not args.all or not page:
            break
        params["marker"] = page[-1]["id"]
    if args.json:
        print_json({"subscriptions": found} if args.all else document)
    else:
        print_table(SUBSCRIPTION_COLUMNS, [subscription_row(s) for s in found])
    return OK


def create_subscription(client: ZaqarClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"subscriber": args.subscriber}
    if args.ttl is not None:
        body["ttl"] = args.ttl
    if args.options is not None:
        body["options"] = args.options
    answer = client.call("POST", queues_path(args.queue, "subscriptions"), body=body)
    subscription_id = (answer.document or {}).get("subscription_id")
    if args.json:
        print_json({"queue": args.queue, "subscription_id": subscription_id})
    else:
        print(f"subscription: {subscription_id}")
    return OK


def show_subscription(client: ZaqarClient, args: argparse.Namespace) -> int:
    path = queues_path(args.queue, "subscriptions", args.subscription_id)
    document = client.call("GET", path).document
    if args.json:
        print_json(document)
        return OK
    print_fields(
        [
            ("id", document["id"]),
            ("queue", document.get("source", args.queue)),
            ("subscriber", document["subscriber"]),
            ("ttl", document["ttl"]),
            ("age", document["age"]),
            ("confirmed", _yes_no(document.get("confirmed"))),
            ("options", document.get("options")),
        ]
    )
    return OK


def update_subscription(client: ZaqarClient, args: argparse.Namespace) -> int:
    changes = {
        key: value
        for key in ("subscriber", "ttl", "options")
        if (value := getattr(args, key)) is not None
    }
    if not changes:
        raise CommandFailed("nothing to change: give --subscriber, --ttl or --options", USAGE)
    client.call(
        "PATCH", queues_path(args.queue, "subscriptions", args.subscription_id), body=changes
    )
    if args.json:
        print_json({"subscription_id": args.subscription_id, "updated": sorted(changes)})
    else:
        print(f"updated the {' and '.join(sorted(changes))} of subscription {args.subscription_id}")
    return OK


def confirm_subscription(client: ZaqarClient, args: argparse.Namespace) -> int:
    confirmed = not args.revoke
    path = queues_path(args.queue, "subscriptions", args.subscription_id, "confirm")
    client.call("PUT", path, body={"confirmed": confirmed})
    if args.json:
        print_json({"subscription_id": args.subscription_id, "confirmed": confirmed})
    else:
        done = "confirmed" if confirmed else "unconfirmed"
        print(f"{done} subscription {args.subscription_id}")
    return OK


def delete_subscription(client: ZaqarClient, args: argparse.Namespace) -> int:
    client.call("DELETE", queues_path(args.queue, "subscriptions", args.subscription_id))
    if args.json:
        print_json({"subscription_id": args.subscription_id, "deleted": True})
    else:
        print(f"deleted subscription {args.subscription_id}")
    return OK


def subscription_row(subscription: dict[str, Any]) -> list[object]:
    """A table row of one subscription as the server shows it."""
    return [
        subscription["id"],
        subscription["subscriber"],
        subscription["ttl"],
        subscription["age"],
        _yes_no(subscription.get("confirmed")),
        subscription.get("options") or None,
    ]


def _yes_no(value: object) -> str:
    return "yes" if value else "no"
