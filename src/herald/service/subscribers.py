"""Subscriber URLs: which schemes and hosts a subscription may name, checked when it is made.

The same rule runs again at delivery, after DNS, in `herald.delivery.targets`;
here only what the URL itself says is judged, so subscribing never waits on DNS.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Final, Literal

import msgspec

from herald.config import NotificationSettings, host_pattern
from herald.errors import InvalidRequest
from herald.service.names import is_queue_name

Sink = Literal["webhook", "trust", "mailto", "queue"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SINKS: Final[dict[str, Sink]] = {
    "http": "webhook",
    "https": "webhook",
    "trust+http": "trust",
    "trust+https": "trust",
    "mailto": "mailto",
    "queue": "queue",
}


class Subscriber(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber URL taken apart: its sink, the URL to deliver to and, for webhooks, where."""

    url: str
    scheme: str
    sink: Sink
    # The URL a webhook is posted to: `trust+` removed. For mailto, the address; for
    # a queue subscriber, the queue's name.
    target: str
    host: str = ""
    port: int = 0


class HostRule:
    """The operator's `deny_private` and `allow_hosts`, compiled once."""

    def __init__(self, settings: NotificationSettings) -> None:
        self.subscriber_types = frozenset(settings.subscriber_types)
        self.subscriber_list = tuple(settings.subscriber_types)
        self.deny_private = settings.deny_private
        self.restricted = bool(settings.allow_hosts)
        patterns = [host_pattern(entry) for entry in settings.allow_hosts]
        self.networks: tuple[Network, ...] = tuple(p for p in patterns if not isinstance(p, str))
        self.names = frozenset(p for p in patterns if isinstance(p, str) and not p.startswith("."))
        self.suffixes = tuple(p for p in patterns if isinstance(p, str) and p.startswith("."))

    @property
    def checks_addresses(self) -> bool:
        """Whether delivery must resolve the host and judge its addresses."""
        return self.deny_private or bool(self.networks)

    def name_allowed(self, host: str) -> bool:
        """Whether `allow_hosts` lets this name (or literal address) through by itself."""
        if not self.restricted:
            return True
        if host in self.names or host.endswith(self.suffixes):
            return True
        address = _address(host)
        return address is not None and self.in_networks(address)

    def in_networks(self, address: IPAddress) -> bool:
        address = _unmapped(address)
        return any(address.version == n.version and address in n for n in self.networks)

    def address_refusal(self, address: IPAddress) -> str | None:
        """Why a webhook may not go to this address, or None if it may. An address inside an
        allowed network is allowed even when private: the operator named it."""
        if self.in_networks(address):
            return None
        if self.deny_private and is_private(address):
            return "a private, loopback, link-local, multicast or reserved address"
        return None


def is_private(address: IPAddress) -> bool:
    """Whether the address is anything but a public unicast one, an IPv4 address hidden in
    IPv6 (mapped, 6to4 or Teredo) judged as itself."""
    plain = _unmapped(address)
    if plain is not address:
        return is_private(plain)
    return not address.is_global or address.is_multicast


def check_subscriber(url: object, rule: HostRule) -> Subscriber:
    """Take a subscriber URL apart, refusing a scheme not in `subscriber_types` and a host
    the operator's rule forbids by name or literal address."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest("subscriber must be a non-empty string URI.")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in rule.subscriber_types:
        # Zaqar's words, and its list as the operator wrote it.
        raise InvalidRequest(
            "The subscriber type of subscription must be supported in the list "
            f"{list(rule.subscriber_list)}."
        )
    sink = _SINKS[scheme]
    if sink == "mailto":
        return _mailto(url, scheme)
    if sink == "queue":
        return _queue(url, scheme)
    target = url.split("+", 1)[1] if sink == "trust" else url
    parts = urllib.parse.urlsplit(target)
    try:
        port = parts.port
    except ValueError:
        raise InvalidRequest(
            "The subscriber URL has a port that is not a number from 0 to 65535."
        ) from None
    # "example.com." is example.com: the trailing dot must not slip past allow_hosts.
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or not parts.netloc or any(c in url for c in " \t\r\n"):
        raise InvalidRequest(f"The subscriber URL must look like {scheme}://host[:port]/path.")
    if not rule.name_allowed(host):
        raise InvalidRequest(f"Webhooks to host {host!r} are not allowed on this server.")
    address = _address(host)
    if address is not None:
        refusal = rule.address_refusal(address)
    elif (
        rule.deny_private
        and (host == "localhost" or host.endswith(".localhost"))
        and host not in rule.names
    ):
        refusal = "this machine"
    else:
        refusal = None
    if refusal is not None:
        raise InvalidRequest(f"Webhooks to {refusal} are not allowed on this server.")
    default_port = 443 if parts.scheme == "https" else 80
    return Subscriber(
        url=url, scheme=scheme, sink=sink, target=target, host=host, port=port or default_port
    )


def _mailto(url: str, scheme: str) -> Subscriber:
    parts = urllib.parse.urlsplit(url)
    address = urllib.parse.unquote(parts.path)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c in address for c in " \t\r\n,<>"):
        raise InvalidRequest("A mailto subscriber must be mailto:name@example.com.")
    return Subscriber(url=url, scheme=scheme, sink="mailto", target=address)


def _queue(url: str, scheme: str) -> Subscriber:
    name = url.split(":", 1)[1]
    if not is_queue_name(name):
        raise InvalidRequest(
            "A queue subscriber must be queue:NAME, NAME a queue name of the same project."
        )
    return Subscriber(url=url, scheme=scheme, sink="queue", target=name)


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


# The options a webhook reads, checked when a subscription is made or changed.

MAX_POST_HEADERS: Final = 32
MIN_SIGNING_SECRET: Final = 16
MAX_SIGNING_SECRET: Final = 512
# Headers that frame the request or that Herald sets itself: a subscription may not set them.
_RESERVED_HEADERS: Final = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
        "x-auth-token",
        "x-herald-message-id",
        "x-herald-signature",
        "x-herald-timestamp",
    }
)
_TOKEN_CHARACTERS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class WebhookOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What a subscription's options ask of each webhook request."""

    post_headers: dict[str, str] = msgspec.field(default_factory=dict)
    post_data: str | None = None
    signing_secret: str | None = None


def webhook_options(options: dict[str, object]) -> WebhookOptions:
    """The webhook's part of a subscription's options; InvalidRequest names what is wrong.
    Other keys are left to their own rules, or kept as the subscriber's own data."""
    headers = options.get("post_headers", {})
    if not isinstance(headers, dict):
        raise InvalidRequest("options.post_headers must be an object of header names and values.")
    if len(headers) > MAX_POST_HEADERS:
        raise InvalidRequest(f"options.post_headers may hold at most {MAX_POST_HEADERS} headers.")
    for name, value in headers.items():
        if not name or not set(name.lower()) <= _TOKEN_CHARACTERS:
            raise InvalidRequest(f"options.post_headers: {name!r} is not a header name.")
        if name.lower() in _RESERVED_HEADERS:
            raise InvalidRequest(f"options.post_headers may not set {name}: Herald sets it.")
        if not isinstance(value, str) or not value.isprintable() or not value.isascii():
            raise InvalidRequest(
                f"options.post_headers: the value of {name} must be a string of printable ASCII."
            )
    data = options.get("post_data")
    if data is not None and not isinstance(data, str):
        raise InvalidRequest(
            'options.post_data must be a string, in which "$zaqar_message$" (with its quotes) '
            "stands for the message."
        )
    secret = options.get("signing_secret")
    if secret is not None and not (
        isinstance(secret, str) and MIN_SIGNING_SECRET <= len(secret) <= MAX_SIGNING_SECRET
    ):
        raise InvalidRequest(
            f"options.signing_secret must be a string of {MIN_SIGNING_SECRET} to "
            f"{MAX_SIGNING_SECRET} characters."
        )
    return WebhookOptions(post_headers=dict(headers), post_data=data, signing_secret=secret)
