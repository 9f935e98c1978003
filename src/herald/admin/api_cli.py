"""The commands that talk to a Zaqar v2 server: `herald queue`, `message`, `claim`, `subscription`.

Exit codes: 0 done, 1 the server refused (a 4xx), 2 bad usage, 3 the server
could not be reached or failed (a 5xx).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from herald.admin import claims, messages, queues, subscriptions
from herald.admin.client import USAGE, CommandFailed, ZaqarClient

EXIT_CODES = (
    "Exit codes: 0 done, 1 the server refused the request (4xx), 2 bad usage, "
    "3 the server could not be reached or failed (5xx)."
)
GROUPS: dict[str, tuple[str, Callable[[Any, argparse.ArgumentParser], None]]] = {
    "queue": ("list, create, delete, count or purge queues", queues.add_commands),
    "message": ("post, list, show or delete messages", messages.add_commands),
    "claim": ("claim messages or release a claim", claims.add_commands),
    "subscription": (
        "list, create, show, update, confirm or delete a queue's subscriptions",
        subscriptions.add_commands,
    ),
}


def connection_options() -> argparse.ArgumentParser:
    """The options every command that talks to a server takes."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server")
    group.add_argument("--url", help="the server's base URL (or HERALD_URL)")
    group.add_argument("--project", help="X-Project-ID to send (or HERALD_PROJECT)")
    group.add_argument(
        "--token", help="X-Auth-Token to send: a Keystone token or an API key (or HERALD_TOKEN)"
    )
    group.add_argument(
        "--client-id", help="Client-ID to send (or HERALD_CLIENT_ID; default a new UUID)"
    )
    group.add_argument("--timeout", type=float, default=30, help="seconds per request")
    common.add_argument("--json", action="store_true", help="print the JSON documents")
    return common


def add_parsers(subparsers: Any) -> None:
    """Add `herald queue|message|claim|subscription ...` to the top-level parser."""
    common = connection_options()
    for name, (text, add_commands) in GROUPS.items():
        group = subparsers.add_parser(name, help=text, description=f"{text}. {EXIT_CODES}")
        group.set_defaults(run=run)
        add_commands(group.add_subparsers(dest=f"{name}_command", required=True), common)


def run(args: argparse.Namespace, environ: dict[str, str] | None = None) -> int:
    """Carry out one command against the server; its exit code."""
    env = os.environ if environ is None else environ
    url = args.url or env.get("HERALD_URL")
    try:
        if not url:
            raise CommandFailed("no server to talk to: give --url or set HERALD_URL", USAGE)
        if not url.startswith(("http://", "https://")):
            raise CommandFailed(f"--url must start with http:// or https://, not {url!r}", USAGE)
        client = ZaqarClient(
            url,
            project=args.project or env.get("HERALD_PROJECT"),
            token=args.token or env.get("HERALD_TOKEN"),
            client_id=args.client_id or env.get("HERALD_CLIENT_ID"),
            timeout=args.timeout,
        )
        with client:
            code: int = args.handler(client, args)
            return code
    except CommandFailed as failure:
        print(f"herald: {failure.line}", file=sys.stderr)
        return failure.exit_code
