"""Where webhooks may go: subscriber URLs judged when subscribing, addresses judged after DNS,
and the operator's settings for both, refused in one line when they are wrong."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from herald.config import ConfigError, NotificationSettings, load_settings, settings_environ
from herald.delivery.targets import (
    Destination,
    Resolver,
    TargetRefused,
    TargetUnresolved,
    destination,
    system_resolver,
)
from herald.errors import InvalidRequest
from herald.service.subscribers import (
    HostRule,
    IPAddress,
    Subscriber,
    check_subscriber,
    is_private,
)

OPEN = HostRule(NotificationSettings())
DENY = HostRule(NotificationSettings(deny_private=True))
ONLY = HostRule(
    NotificationSettings(allow_hosts=["hooks.example.com", "*.corp.example", "10.9.0.0/16"])
)


def refused(url: object, rule: HostRule) -> str:
    with pytest.raises(InvalidRequest) as caught:
        check_subscriber(url, rule)
    return caught.value.description


# Subscribe time


@pytest.mark.parametrize(
    ("url", "sink", "target", "host", "port"),
    [
        ("http://example.com/hook", "webhook", "http://example.com/hook", "example.com", 80),
        ("https://Example.COM:8443/h?x=1", "webhook", "https://Example.COM:8443/h?x=1",
         "example.com", 8443),
        ("trust+https://example.com/v2/queues/q/messages", "trust",
         "https://example.com/v2/queues/q/messages", "example.com", 443),
        ("trust+http://10.0.0.1:8888/x", "trust", "http://10.0.0.1:8888/x", "10.0.0.1", 8888),
        ("http://[::1]:9000/", "webhook", "http://[::1]:9000/", "::1", 9000),
        ("http://127.0.0.1/", "webhook", "http://127.0.0.1/", "127.0.0.1", 80),
        ("mailto:ops@example.com?subject=Hi", "mailto", "ops@example.com", "", 0),
    ],
)  # fmt: skip
def test_a_subscriber_is_taken_apart(
    url: str, sink: str, target: str, host: str, port: int
) -> None:
    assert check_subscriber(url, OPEN) == Subscriber(
        url=url, scheme=url.split(":")[0].lower(), sink=sink,  # type: ignore[arg-type]
        target=target, host=host, port=port,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (None, "subscriber must be a non-empty string"),
        ("", "subscriber must be a non-empty string"),
        (5, "subscriber must be a non-empty string"),
        (
            "ftp://example.com/",
            "The subscriber type of subscription must be supported in the list "
            "['http', 'https', 'mailto', 'trust+http', 'trust+https', 'queue'].",
        ),
        ("example.com/hook", "must be supported in the list"),
        ("javascript:alert(1)", "must be supported in the list"),
        ("http:///path", "must look like http://host[:port]/path"),
        ("http://", "must look like"),
        ("http://exa mple.com/", "must look like"),
        ("http://example.com:99999/", "port that is not a number from 0 to 65535"),
        ("http://example.com:http/", "port that is not a number"),
        ("mailto:", "mailto:name@example.com"),
        ("mailto:nobody", "mailto:name@example.com"),
        ("mailto:a@b.c,d@e.f", "mailto:name@example.com"),
    ],
)
def test_a_bad_subscriber_is_refused(url: object, words: str) -> None:
    assert words in refused(url, OPEN)


def test_only_the_configured_schemes_are_accepted() -> None:
    rule = HostRule(NotificationSettings(subscriber_types=["https"]))
    assert check_subscriber("https://example.com/", rule).sink == "webhook"
    assert "must be supported in the list ['https']." in refused("http://example.com/", rule)
    assert "must be supported in the list" in refused("mailto:a@example.com", rule)


def test_by_default_every_host_is_allowed_as_in_zaqar() -> None:
    for url in (
        "http://127.0.0.1/",
        "http://localhost/",
        "http://169.254.169.254/",
        "http://[::1]/",
    ):
        check_subscriber(url, OPEN)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
        "http://localhost/",
        "http://api.localhost/",
        "http://localhost./",
        "http://LOCALHOST:8080/",
        "trust+http://127.0.0.1/",
    ],
)
def test_deny_private_refuses_literal_private_targets_when_subscribing(url: str) -> None:
    assert "are not allowed on this server" in refused(url, DENY)


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/", "http://[2606:2800:220:1::]/", "https://example.com/"]
)
def test_deny_private_lets_public_targets_through(url: str) -> None:
    check_subscriber(url, DENY)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "https://a.corp.example/x",
        "https://deep.a.corp.example/x",
        "http://10.9.1.2/",
        "http://HOOKS.example.com/",
    ],
)
def test_allow_hosts_lets_its_hosts_through(url: str) -> None:
    check_subscriber(url, ONLY)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://hooks.example.com.evil.test/",
        "https://corp.example/",  # *.corp.example names the subdomains only
        "https://evilcorp.example/",
        "http://10.10.0.1/",
    ],
)
def test_allow_hosts_refuses_every_other_host(url: str) -> None:
    assert "not allowed" in refused(url, ONLY)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("169.254.0.1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("255.255.255.255", True),
        ("224.0.1.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fd12:3456::1", True),
        ("ff0e::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("2002:0a00:0001::", True),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True),  # Teredo around 10.0.0.1
    ],
)
def test_what_counts_as_private(address: str, private: bool) -> None:
    assert is_private(ipaddress.ip_address(address)) is private


# Delivery time


def resolver(*answers: str) -> Resolver:
    """A resolver with fixed answers, standing in for DNS names this machine cannot look up."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(answer) for answer in answers]

    return resolve


def webhook(url: str, rule: HostRule = OPEN) -> Subscriber:
    return check_subscriber(url, rule)


async def test_without_address_rules_nothing_is_resolved() -> None:
    async def no_dns(host: str, port: int) -> list[IPAddress]:
        raise AssertionError("resolved")

    target = await destination(webhook("https://example.com/h"), OPEN, no_dns)
    assert target == Destination(url="https://example.com/h")


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery() -> None:
    with pytest.raises(TargetRefused, match=r"resolves to a private.*\(10\.0\.0\.7\)"):
        await destination(webhook("https://rebind.example/h", DENY), DENY, resolver("10.0.0.7"))


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(TargetRefused):
        await destination(
            webhook("https://x.example/h", DENY), DENY, resolver("93.184.216.34", "::1")
        )


async def test_a_public_answer_is_pinned_with_host_and_server_name() -> None:
    target = await destination(
        webhook("https://u:p@x.example:8443/h?q=1", DENY), DENY, resolver("93.184.216.34")
    )
    assert target == Destination(
        url="https://u:p@93.184.216.34:8443/h?q=1",
        host_header="x.example:8443",
        server_name="x.example",
    )


async def test_an_ipv6_answer_is_pinned_in_brackets() -> None:
    target = await destination(
        webhook("http://x.example/h", DENY), DENY, resolver("2606:2800:220:1::")
    )
    assert target == Destination(url="http://[2606:2800:220:1::]:80/h", host_header="x.example")


async def test_the_system_resolver_resolves_localhost_and_deny_private_refuses_it() -> None:
    local = Subscriber(
        url="http://localhost:1/", scheme="http", sink="webhook",
        target="http://localhost:1/", host="localhost", port=1,
    )  # fmt: skip
    assert ipaddress.ip_address("127.0.0.1") in await system_resolver("localhost", 1)
    with pytest.raises(TargetRefused):
        await destination(local, DENY)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1"])
async def test_other_spellings_of_loopback_are_refused_after_resolution(host: str) -> None:
    # Not literal addresses to Python, so they pass when subscribing; the system
    # resolver reads them as 127.0.0.1, and that is what is judged at delivery.
    subscriber = webhook(f"http://{host}:8080/", DENY)
    with pytest.raises(TargetRefused, match="resolves to a private"):
        await destination(subscriber, DENY)


def test_a_trailing_dot_does_not_slip_past_allow_hosts() -> None:
    assert check_subscriber("https://hooks.example.com./x", ONLY).host == "hooks.example.com"
    assert "not allowed" in refused("https://example.com./x", ONLY)


async def test_a_name_that_does_not_resolve_is_worth_a_retry() -> None:
    with pytest.raises(TargetUnresolved, match=r"nothing\.invalid does not resolve"):
        await destination(webhook("http://nothing.invalid/", DENY), DENY)


async def test_allow_hosts_is_applied_again_at_delivery() -> None:
    # Made while any host was allowed, delivered after the operator restricted them.
    with pytest.raises(TargetRefused, match="not in allow_hosts"):
        await destination(webhook("https://example.com/h"), ONLY, resolver("93.184.216.34"))


async def test_an_allowed_network_admits_private_answers() -> None:
    rule = HostRule(
        NotificationSettings(deny_private=True, allow_hosts=["*.internal", "10.9.0.0/16"])
    )
    target = await destination(webhook("http://a.internal/", rule), rule, resolver("10.9.3.4"))
    assert target.url == "http://10.9.3.4:80/"
    with pytest.raises(TargetRefused):
        await destination(webhook("http://a.internal/", rule), rule, resolver("10.8.3.4"))


# Settings


def test_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "HERALD_NOTIFICATIONS_DENY_PRIVATE": "true",
            "HERALD_NOTIFICATIONS_ALLOW_HOSTS": "hooks.example.com, *.corp.example,10.0.0.0/8",
            "HERALD_NOTIFICATIONS_SUBSCRIBER_TYPES": "https,trust+https",
        }
    ).notifications
    assert settings.deny_private
    assert settings.allow_hosts == ["hooks.example.com", "*.corp.example", "10.0.0.0/8"]
    assert settings.subscriber_types == ["https", "trust+https"]


def test_the_defaults_allow_everything() -> None:
    settings = load_settings(environ={}).notifications
    assert settings == NotificationSettings()
    assert not settings.deny_private
    assert settings.allow_hosts == []
    assert settings.subscriber_types == [
        "http",
        "https",
        "mailto",
        "trust+http",
        "trust+https",
        "queue",
    ]


def test_settings_are_read_from_a_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "herald.toml"
    path.write_text('[notifications]\ndeny_private = true\nallow_hosts = ["10.0.0.0/8"]\n')
    settings = load_settings(str(path), environ={}).notifications
    assert settings.deny_private
    assert settings.allow_hosts == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("SUBSCRIBER_TYPES", "http,ftp", "subscriber_types may hold only http, https, mailto"),
        ("ALLOW_HOSTS", "bad host", "allow_hosts entry 'bad host' is not a host name"),
        ("ALLOW_HOSTS", "*.", "allow_hosts entry '*.' is not"),
        ("ALLOW_HOSTS", "-x.example", "allow_hosts entry '-x.example' is not"),
        ("ALLOW_HOSTS", "10.0.0.0/33", "allow_hosts entry '10.0.0.0/33' is not"),
        ("DENY_PRIVATE", "maybe", "deny_private"),
        ("WEBHOOK_TIMEOUT", "0", "webhook_timeout must be above 0 and at most 300"),
        ("WEBHOOK_TIMEOUT", "300.5", "webhook_timeout must be above 0 and at most 300"),
        ("SMTP_TIMEOUT", "-1", "smtp_timeout must be above 0"),
        ("SMTP_URL", "http://relay", "smtp_url must be smtp://"),
        ("SMTP_URL", "smtp://relay:port", "smtp_url has a port that is not a number"),
    ],
)
def test_a_bad_setting_stops_start_up_in_one_line(variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={f"HERALD_NOTIFICATIONS_{variable}": value})
    message = str(caught.value)
    assert words in message
    assert "\n" not in message


def test_the_timeouts_at_their_bounds_are_allowed() -> None:
    settings = NotificationSettings(webhook_timeout=300, smtp_timeout=0.001, lease=301)
    assert settings.webhook_timeout == 300


def test_an_smtp_url_error_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"HERALD_NOTIFICATIONS_SMTP_URL": "smtp://u:hunter22@relay:x"})
    assert "hunter22" not in str(caught.value)


def test_worker_processes_get_the_same_notification_settings() -> None:
    settings = load_settings(
        environ={
            "HERALD_NOTIFICATIONS_DENY_PRIVATE": "true",
            "HERALD_NOTIFICATIONS_ALLOW_HOSTS": "hooks.example.com,10.0.0.0/8",
            "HERALD_NOTIFICATIONS_SUBSCRIBER_TYPES": "https",
            "HERALD_NOTIFICATIONS_SMTP_URL": "smtp://u:p%40ss@relay.example:587",
            "HERALD_NOTIFICATIONS_SMTP_FROM": "herald@example.com",
        }
    )
    assert load_settings(None, settings_environ(settings)) == settings
