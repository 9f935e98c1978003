"""Where a webhook may connect, decided after DNS and pinned so that the connection goes there.

A name that passed `check_subscriber` when the subscription was made may
resolve to a private address later (DNS rebinding, or an internal name), so
when the operator restricts targets every resolution is judged again and the
request connects to the address judged, never to a second lookup's answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from collections.abc import Awaitable, Callable

import msgspec

from herald.service.subscribers import HostRule, IPAddress, Subscriber

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class TargetRefused(Exception):
    """The operator's rule forbids the target: a permanent failure, never retried."""


class TargetUnresolved(Exception):
    """The target's name does not resolve now: worth a retry, DNS may recover."""


class Destination(msgspec.Struct, frozen=True, kw_only=True):
    """What to connect to: the URL (its host an address when pinned), the `Host` header and
    TLS server name that keep naming the subscriber's host, or None when not pinned."""

    url: str
    host_header: str | None = None
    server_name: str | None = None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the event loop's getaddrinfo (the system's resolver)."""
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetUnresolved(f"{host} does not resolve ({exc})") from None
    # The scope of a link-local IPv6 answer ("%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers]


async def destination(
    subscriber: Subscriber, rule: HostRule, resolve: Resolver = system_resolver
) -> Destination:
    """Judge where the webhook would connect and pin it there; raises TargetRefused or
    TargetUnresolved. Without address rules the URL goes as it is, as in Zaqar."""
    if subscriber.sink == "mailto":
        raise TargetRefused("a mailto subscriber has no webhook target")
    if not rule.name_allowed(subscriber.host):
        raise TargetRefused(f"host {subscriber.host} is not in allow_hosts")
    if not rule.checks_addresses:
        return Destination(url=subscriber.target)
    addresses = await resolve(subscriber.host, subscriber.port)
    if not addresses:
        raise TargetUnresolved(f"{subscriber.host} resolves to no address")
    for address in addresses:
        # Every answer is judged: a client given the name could connect to any of them.
        refusal = rule.address_refusal(address)
        if refusal is not None:
            raise TargetRefused(f"{subscriber.host} resolves to {refusal} ({address})")
    return _pinned(subscriber, addresses[0])


def _pinned(subscriber: Subscriber, address: IPAddress) -> Destination:
    parts = urllib.parse.urlsplit(subscriber.target)
    literal = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@" if userinfo else ""
    netloc += f"{literal}:{subscriber.port}"
    default_port = 443 if parts.scheme == "https" else 80
    shown_host = f"[{subscriber.host}]" if ":" in subscriber.host else subscriber.host
    host_header = (
        shown_host if subscriber.port == default_port else f"{shown_host}:{subscriber.port}"
    )
    return Destination(
        url=urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
        host_header=host_header,
        server_name=subscriber.host if parts.scheme == "https" else None,
    )
