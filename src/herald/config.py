"""Settings: built-in defaults, then a TOML file, then HERALD_* variables, then flags."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import tomllib
import typing
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from herald.model import Limits

DEFAULT_STORE = "sqlite:///herald-data/herald.sqlite3"
ENV_PREFIX = "HERALD_"


class KeystoneSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How Herald validates tokens: a service user's password auth against Keystone v3.

    The names are those of `[keystone_authtoken]`, which operators already know."""

    www_authenticate_uri: str = ""
    auth_url: str = ""
    username: str = ""
    password: str = ""
    project_name: str = ""
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str = ""
    cache_seconds: float = 300.0
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.cache_seconds <= 86400:
            raise ValueError("keystone cache_seconds must be from 0 to 86400")
        if not 0 < self.timeout <= 300:
            raise ValueError("keystone timeout must be above 0 and at most 300 seconds")

    def check_complete(self) -> None:
        """Refuse, in one line, settings that cannot get Herald a service token."""
        missing = [
            name
            for name in ("auth_url", "username", "password", "project_name")
            if not getattr(self, name)
        ]
        if missing:
            raise ValueError(
                f"auth = keystone needs keystone {', '.join(missing)} "
                "(the [keystone] table or HERALD_KEYSTONE_<NAME>)"
            )
        for name in ("auth_url", "www_authenticate_uri"):
            url = getattr(self, name)
            # Either travels in the WWW-Authenticate header: no quote, no control byte.
            if url and not (
                url.startswith(("http://", "https://"))
                and url.isascii()
                and url.isprintable()
                and '"' not in url
            ):
                raise ValueError(f"keystone {name} must be an http:// or https:// URL")


class SignedUrlSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The secret pre-signed URLs are signed with; none disables them."""

    secret_key: str = ""


class ApiKeySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """API keys: how long a process may keep trusting a key it has checked."""

    cache_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.cache_seconds <= 3600:
            raise ValueError("apikey cache_seconds must be from 0 to 3600")


class WebSocketSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """WebSocket connections: how large a frame may be, how liveness is checked, and how
    much push may wait for a slow reader."""

    # The largest frame: a post of the largest size, in its envelope, with room to spare.
    max_frame_size: int = 1048576
    # A ping this often; a peer that has not answered the last one in ping_timeout is gone.
    # Pings are most of what idle sockets cost (benchmarks/websocket.py): one a minute
    # keeps 10,000 of them near 1 % of a core, and NAT mappings alive.
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    # A socket that sends nothing for this long and waits for no push is closed.
    idle_timeout: float = 600.0
    # Bytes of push notifications a socket may leave unread before it is closed.
    push_backlog: int = 1048576

    def __post_init__(self) -> None:
        if not 1024 <= self.max_frame_size <= 64 * 1048576:
            raise ValueError("websocket max_frame_size must be from 1024 to 67108864 bytes")
        for name in ("ping_interval", "ping_timeout", "idle_timeout"):
            if not 0 < getattr(self, name) <= 86400:
                raise ValueError(f"websocket {name} must be above 0 and at most 86400 seconds")
        if not 1024 <= self.push_backlog <= 1 << 30:
            raise ValueError("websocket push_backlog must be from 1024 to 1073741824 bytes")


ENCRYPTION_KEY_BYTES = 32


class EncryptionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The key queues with `_enable_encrypt_messages` encrypt bodies with, and older keys
    that still open what they encrypted; each is base64 of 32 random bytes."""

    key: str = ""
    old_keys: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # Decoding now stops start-up on a bad key instead of failing the first post.
        self.keys()
        if self.old_keys and not self.key:
            raise ValueError("encryption old_keys need a current key: set [encryption] key too")

    def keys(self) -> tuple[bytes | None, list[bytes]]:
        """The current key (None without one) and the old keys, decoded."""
        current = decode_key(self.key, "encryption key") if self.key else None
        old = [decode_key(k, f"encryption old_keys[{i}]") for i, k in enumerate(self.old_keys)]
        return current, old


def decode_key(text: str, name: str) -> bytes:
    """The bytes of a base64 key; the error names the setting, never its value."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise ValueError(
            f"{name} is not base64: expected base64 of {ENCRYPTION_KEY_BYTES} random bytes"
        ) from None
    if len(key) != ENCRYPTION_KEY_BYTES:
        raise ValueError(
            f"{name} must be base64 of {ENCRYPTION_KEY_BYTES} bytes, not of {len(key)}"
        )
    return key


SUBSCRIBER_TYPES = ("http", "https", "mailto", "trust+http", "trust+https", "queue")


class NotificationSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where notifications may go and how they get there.

    By default any subscriber URL of an allowed scheme is delivered to, as Zaqar
    does; `deny_private` and `allow_hosts` lock webhook targets down (see
    docs/security.md). The delivery engine runs when `enabled`: `concurrency` sends at
    once (`per_subscription_window` for one subscription), up to `batch_size`
    deliveries held, each hidden from other processes for `lease` seconds (a process
    that dies mid-delivery delays it that long, never loses it), the outbox looked at
    every `poll_interval` seconds when idle."""

    enabled: bool = True
    concurrency: int = 100
    # Sends in flight at once for one subscription; 1 keeps its deliveries in posting order.
    per_subscription_window: int = 8
    lease: float = 60.0
    # Above `concurrency`, so that a lease at half room still leaves sends to start; 400
    # against 100 let one delivery worker keep pace with its API process's posts (see
    # docs/performance.md, delivery workers).
    batch_size: int = 400
    poll_interval: float = 1.0
    require_confirmation: bool = False
    subscriber_types: list[str] = msgspec.field(default_factory=lambda: list(SUBSCRIBER_TYPES))
    # Refuse webhook targets on loopback, private, link-local, multicast, reserved
    # or unspecified addresses, checked again after every DNS resolution.
    deny_private: bool = False
    # When set, webhooks go only to these hosts: a name ("hooks.example.com"), a
    # suffix ("*.example.com" or ".example.com"), an address or a network ("10.2.0.0/16").
    allow_hosts: list[str] = msgspec.field(default_factory=list)
    webhook_timeout: float = 10.0
    # smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://…; "" = no e-mail.
    smtp_url: str = ""
    smtp_from: str = ""
    smtp_timeout: float = 30.0

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.subscriber_types if kind not in SUBSCRIBER_TYPES]
        if unknown:
            raise ValueError(
                f"notifications subscriber_types may hold only {', '.join(SUBSCRIBER_TYPES)}, "
                f"not {', '.join(unknown)}"
            )
        for pattern in self.allow_hosts:
            host_pattern(pattern)
        for name in ("webhook_timeout", "smtp_timeout"):
            if not 0 < getattr(self, name) <= 300:
                raise ValueError(f"notifications {name} must be above 0 and at most 300 seconds")
        if not 1 <= self.concurrency <= 1000:
            raise ValueError("notifications concurrency must be from 1 to 1000")
        if not 1 <= self.per_subscription_window <= 1000:
            raise ValueError("notifications per_subscription_window must be from 1 to 1000")
        if not 1 <= self.batch_size <= 10000:
            raise ValueError("notifications batch_size must be from 1 to 10000")
        if not 0 < self.poll_interval <= 60:
            raise ValueError("notifications poll_interval must be above 0 and at most 60 seconds")
        # A lease no longer than a send may take lets another process take it mid-send.
        longest = max(self.webhook_timeout, self.smtp_timeout if self.smtp_url else 0)
        if not longest < self.lease <= 86400:
            raise ValueError(
                "notifications lease must be longer than webhook_timeout (and smtp_timeout "
                "with an smtp_url), and at most 86400 seconds"
            )
        if self.smtp_url:
            smtp_address(self.smtp_url)
            if "@" not in self.smtp_from:
                raise ValueError(
                    "notifications smtp_url needs smtp_from, the address e-mail is sent from"
                )


def host_pattern(pattern: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An `allow_hosts` entry as it is matched: a network, or a lower-case name or suffix."""
    text = pattern.strip().lower()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.removeprefix("*")
    if not name or not all(_LABEL.fullmatch(label) for label in name.removeprefix(".").split(".")):
        raise ValueError(
            f"notifications allow_hosts entry {pattern!r} is not a host name, "
            "a *.suffix, an address or a network"
        )
    return name


_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


class SmtpAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Where `smtp_url` says the relay is, and how to log in to it."""

    host: str
    port: int
    tls: Literal["implicit", "starttls"]
    username: str = ""
    password: str = ""


def smtp_address(url: str) -> SmtpAddress:
    """`smtp_url` read; the error never repeats the URL, which may hold a password."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            "notifications smtp_url must be smtp://[user:password@]host[:port] or smtps://..."
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("notifications smtp_url has a port that is not a number") from None
    implicit = parts.scheme == "smtps"
    return SmtpAddress(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        tls="implicit" if implicit else "starttls",
        username=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
    )


MAX_DELIVERY_WORKERS = 16


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything `herald serve` can be told; `limits` and the others are TOML tables."""

    host: str = "127.0.0.1"
    port: int = 8888
    workers: int = 1
    # Processes that only deliver notifications; 0 = each API worker delivers too.
    delivery_workers: int = 0
    store: str = DEFAULT_STORE
    durability: Literal["full", "normal"] = "full"
    admin_mode: bool = False
    # Serve the web console at /console.
    console: bool = False
    # oslo.policy's YAML or JSON rules over Zaqar's defaults; "" keeps the defaults.
    policy_file: str = ""
    client_id_uuid_safe: Literal["strict", "off"] = "strict"
    min_length_client_id: int = 10
    max_length_client_id: int = 36
    gc_interval: float = 10.0
    max_request_line: int = 8192
    max_header_size: int = 16384
    max_head_size: int = 65536
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    body_deadline: float = 60.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 10000
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["human", "json"] = "human"
    access_log: bool = True
    # /metrics on its own address; port 0 serves no metrics.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # Where --workers N keep their metric files; "" is a fresh directory per run.
    metrics_dir: str = ""
    metrics_queues: int = 50
    metrics_depth_interval: float = 15.0
    ready_cache_seconds: float = 1.0
    auth: Literal["noauth", "keystone", "apikey"] = "noauth"
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    limits: Limits = msgspec.field(default_factory=Limits)
    keystone: KeystoneSettings = msgspec.field(default_factory=KeystoneSettings)
    signed_url: SignedUrlSettings = msgspec.field(default_factory=SignedUrlSettings)
    apikey: ApiKeySettings = msgspec.field(default_factory=ApiKeySettings)
    encryption: EncryptionSettings = msgspec.field(default_factory=EncryptionSettings)
    notifications: NotificationSettings = msgspec.field(default_factory=NotificationSettings)
    websocket: WebSocketSettings = msgspec.field(default_factory=WebSocketSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, not {self.port}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if not 0 <= self.delivery_workers <= MAX_DELIVERY_WORKERS:
            raise ValueError(
                f"delivery_workers must be from 0 to {MAX_DELIVERY_WORKERS}, "
                f"not {self.delivery_workers}"
            )
        if self.delivery_workers and not self.notifications.enabled:
            raise ValueError(
                "delivery_workers needs [notifications] enabled: with notifications off "
                "there is nothing to deliver"
            )
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(
                f"metrics_port must be from 0 (no metrics) to 65535, not {self.metrics_port}"
            )
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError(
                f"metrics_port must differ from port {self.port}: /metrics has its own address"
            )
        if not self.metrics_host:
            raise ValueError("metrics_host must name an address to bind, such as 127.0.0.1")
        if not 0 <= self.metrics_queues <= 1000:
            raise ValueError(f"metrics_queues must be from 0 to 1000, not {self.metrics_queues}")
        if not 1 <= self.metrics_depth_interval <= 3600:
            raise ValueError(
                "metrics_depth_interval must be from 1 to 3600 seconds, "
                f"not {self.metrics_depth_interval}"
            )
        if not 0 <= self.ready_cache_seconds <= 60:
            raise ValueError(
                f"ready_cache_seconds must be from 0 to 60, not {self.ready_cache_seconds}"
            )
        if self.gc_interval < 0:
            raise ValueError(f"gc_interval must not be negative, not {self.gc_interval}")
        for name in ("max_request_line", "max_header_size", "max_head_size", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.max_request_line <= self.max_head_size >= self.max_header_size:
            raise ValueError(
                "max_head_size must be at least max_request_line and max_header_size, "
                f"not {self.max_head_size}"
            )
        for name in ("head_timeout", "body_timeout", "body_deadline", "keep_alive_timeout"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be above 0 and at most 3600 seconds")
        if self.auth == "keystone":
            self.keystone.check_complete()
        if not 1 <= self.min_length_client_id <= self.max_length_client_id:
            raise ValueError(
                "client id lengths must satisfy 1 <= min_length_client_id "
                f"({self.min_length_client_id}) <= max_length_client_id "
                f"({self.max_length_client_id})"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError(
                "ssl_certfile and ssl_keyfile go together: set both to serve TLS, or neither"
            )


class ConfigError(ValueError):
    """A setting that is unknown or has a value of the wrong kind."""


# Tables whose keys are spelled HERALD_<TABLE>_<KEY> in the environment; the
# limits predate them and keep their plain HERALD_<KEY> names.
_TABLES: dict[str, type[msgspec.Struct]] = {
    "keystone": KeystoneSettings,
    "signed_url": SignedUrlSettings,
    "apikey": ApiKeySettings,
    "encryption": EncryptionSettings,
    "notifications": NotificationSettings,
    "websocket": WebSocketSettings,
}
_TOP_LEVEL = set(Settings.__struct_fields__) - {"limits", *_TABLES}
_LIMITS = set(Limits.__struct_fields__)
# Read by the admin commands (`herald queue ...`), which talk to a server, not by it.
CLIENT_VARIABLES = frozenset(("url", "project", "token", "client_id"))


def _table_key(name: str) -> tuple[str, str] | None:
    """The (table, key) an environment name like `keystone_auth_url` stands for."""
    for table, kind in _TABLES.items():
        key = name.removeprefix(table + "_")
        if key != name and key in kind.__struct_fields__:
            return table, key
    return None


def load_settings(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Merge the layers; later ones win, and unknown names are errors."""
    merged: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {table: {} for table in _TABLES}
    warn = warn or _warn
    environ = os.environ if environ is None else environ
    if config_file is None:
        config_file = environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as f:
                document = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        limits.update(document.pop("limits", {}))
        for table in _TABLES:
            tables[table].update(document.pop(table, {}))
        merged.update(document)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in CLIENT_VARIABLES:
            continue
        if name in _TOP_LEVEL:
            merged[name] = value
        elif name in _LIMITS:
            limits[name] = value
        elif (found := _table_key(name)) is not None:
            table, field = found
            tables[table][field] = _environment_value(_TABLES[table], field, value)
        else:
            # The environment is shared with other tools, so a stray HERALD_*
            # variable is worth a warning, not a refusal to start.
            warn(f"ignoring unknown setting in the environment: {key}")
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        # A table's key is named as in the environment: `signed_url_secret_key`.
        if name not in _TOP_LEVEL and (found := _table_key(name)) is not None:
            tables[found[0]][found[1]] = value
        else:
            (limits if name in _LIMITS else merged)[name] = value
    merged["limits"] = limits
    merged.update(tables)
    try:
        return msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc}") from exc


def _environment_value(kind: type[msgspec.Struct], field: str, value: str) -> Any:
    """A variable's text as the field takes it: a list field is comma-separated."""
    info = next(f for f in msgspec.structs.fields(kind) if f.name == field)
    if typing.get_origin(info.type) is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def settings_environ(settings: Settings) -> dict[str, str]:
    """The same settings as HERALD_* variables, for worker processes."""
    plain = msgspec.to_builtins(settings)
    flat: dict[str, Any] = plain.pop("limits")
    for table in _TABLES:
        flat.update({f"{table}_{key}": value for key, value in plain.pop(table).items()})
    flat.update(plain)
    return {ENV_PREFIX + name.upper(): _environment_text(value) for name, value in flat.items()}


def _environment_text(value: Any) -> str:
    """A setting as `load_settings` reads it back from the environment."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
