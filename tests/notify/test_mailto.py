"""`mailto:` delivery through a real SMTP server started here (aiosmtpd): what arrives, how each
refusal of the relay is judged, logging in, and what happens without a relay."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from herald.config import ConfigError, NotificationSettings, load_settings, smtp_address
from herald.delivery.mailto import Mailer, notification_mail, subject_of
from herald.delivery.payload import NotifiedMessage, notification_json
from herald.service.subscribers import HostRule, check_subscriber
from support import free_port

SENDER = "herald@example.net"


@dataclass
class Relay:
    """An SMTP server that keeps what it accepts; some recipients and bodies it refuses."""

    host: str
    port: int
    mails: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 No such user here"
        if address.startswith("busy@"):
            return "451 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        if isinstance(content, bytes) and b"forbidden" in content:
            return "554 Message refused"
        self.mails.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        # handled=False: the server answers the refusal itself, with its 535.
        return AuthResult(success=data.password == b"right-password", handled=False)


@contextmanager
def serving(host: str = "127.0.0.1") -> Iterator[Relay]:
    """A relay listening on the host and a free port until the block ends."""
    relay = Relay(host, free_port())
    controller = Controller(
        relay,
        hostname=host,
        port=relay.port,
        authenticator=relay.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()


@pytest.fixture
def relay() -> Iterator[Relay]:
    with serving() as running:
        yield running


def settings(relay: Relay, credentials: str = "") -> NotificationSettings:
    return NotificationSettings(
        smtp_url=f"smtp://{credentials}{relay.host}:{relay.port}", smtp_from=SENDER
    )


@pytest.fixture
async def mailer(relay: Relay) -> AsyncIterator[Mailer]:
    mailer = Mailer(settings(relay))
    try:
        yield mailer
    finally:
        await mailer.aclose()


RULE = HostRule(NotificationSettings())
NOTICE = notification_json(NotifiedMessage(ttl=300, body={"k": "v"}), "orders")


def mail_to(address: str, subject: str = "") -> EmailMessage:
    subscriber = check_subscriber(f"mailto:{address}", RULE)
    return notification_mail(subscriber, NOTICE, sender=SENDER, subject=subject)


def received(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_a_notification_arrives_as_its_json(mailer: Mailer, relay: Relay) -> None:
    outcome = await mailer.send(mail_to("ops@example.com", "Orders"))
    assert outcome.delivered
    (envelope,) = relay.mails
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["ops@example.com"]
    mail = received(envelope)
    assert mail["To"] == "ops@example.com"
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Orders"
    assert mail.get_content_type() == "text/plain"
    assert json.loads(mail.get_content()) == {
        "ttl": 300,
        "body": {"k": "v"},
        "Message_Type": "Notification",
        "queue_name": "orders",
    }


async def test_a_refused_recipient_is_a_permanent_failure(mailer: Mailer, relay: Relay) -> None:
    outcome = await mailer.send(mail_to("nobody@example.com"))
    assert outcome.verdict == "failed"
    assert outcome.reason == "refused the recipient (550)"
    assert relay.mails == []


async def test_a_temporary_refusal_is_worth_a_retry(mailer: Mailer) -> None:
    outcome = await mailer.send(mail_to("busy@example.com"))
    assert outcome.verdict == "retry"
    assert outcome.reason == "refused the recipient (451)"


async def test_a_refused_message_is_a_permanent_failure(mailer: Mailer, relay: Relay) -> None:
    subscriber = check_subscriber("mailto:ops@example.com", RULE)
    mail = notification_mail(subscriber, b'{"forbidden": 1}', sender=SENDER, subject="")
    outcome = await mailer.send(mail)
    assert outcome.verdict == "failed"
    assert outcome.reason == "answered (554)"


async def test_an_unreachable_relay_is_worth_a_retry() -> None:
    mailer = Mailer(
        NotificationSettings(smtp_url=f"smtp://127.0.0.1:{free_port()}", smtp_from=SENDER)
    )
    try:
        outcome = await mailer.send(mail_to("ops@example.com"))
    finally:
        await mailer.aclose()
    assert outcome.verdict == "retry"
    assert outcome.reason.startswith("relay unreachable")


async def test_without_a_relay_mail_is_undeliverable() -> None:
    mailer = Mailer(NotificationSettings())
    try:
        assert not mailer.enabled
        outcome = await mailer.send(mail_to("ops@example.com"))
    finally:
        await mailer.aclose()
    assert outcome.verdict == "undeliverable"


async def test_herald_logs_in_with_the_urls_credentials(relay: Relay) -> None:
    mailer = Mailer(settings(relay, "herald%40example.net:right-password@"))
    try:
        assert (await mailer.send(mail_to("ops@example.com"))).delivered
    finally:
        await mailer.aclose()
    assert relay.logins == [("herald@example.net", "right-password")]


async def test_a_refused_login_is_worth_a_retry_and_sends_nothing(relay: Relay) -> None:
    mailer = Mailer(settings(relay, "herald:wrong-password@"))
    try:
        outcome = await mailer.send(mail_to("ops@example.com"))
    finally:
        await mailer.aclose()
    assert outcome.verdict == "retry"
    assert outcome.reason == "refused Herald's login (535)"
    assert "wrong-password" not in outcome.reason
    assert relay.mails == []


def _outward_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # A datagram socket "connects" without sending: it only picks a route.
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_a_password_is_never_sent_in_clear_beyond_loopback() -> None:
    host = _outward_address()
    if host is None:
        pytest.skip("this machine has no address but loopback")
    with serving(host) as relay:
        mailer = Mailer(settings(relay, "herald:right-password@"))
        try:
            outcome = await mailer.send(mail_to("ops@example.com"))
        finally:
            await mailer.aclose()
        assert outcome.verdict == "retry"
        assert "offers no TLS" in outcome.reason
        assert relay.logins == []
        assert relay.mails == []


@pytest.mark.parametrize(
    ("url", "options", "subject"),
    [
        ("mailto:a@example.com?subject=From%20URL", {"subject": "From options"}, "From URL"),
        ("mailto:a@example.com?Subject=Any%20case", {}, "Any case"),
        ("mailto:a@example.com", {"subject": "From options"}, "From options"),
        ("mailto:a@example.com", {}, ""),
        ("mailto:a@example.com", {"subject": 5}, ""),
        ("mailto:a@example.com?subject=two%0D%0ABcc:%20x@evil.test", {}, "two Bcc: x@evil.test"),
        ("mailto:a@example.com", {"subject": "x" * 300}, "x" * 200),
    ],
)
def test_the_subject_is_zaqars_on_one_line(
    url: str, options: dict[str, object], subject: str
) -> None:
    assert subject_of(check_subscriber(url, RULE), options) == subject


def test_a_relay_needs_a_sender_address() -> None:
    with pytest.raises(ConfigError, match="smtp_url needs smtp_from"):
        load_settings(environ={"HERALD_NOTIFICATIONS_SMTP_URL": "smtp://relay.example"})


def test_the_smtp_url_is_read() -> None:
    assert smtp_address("smtps://u%40x:p%3Aw@relay.example") == smtp_address(
        "smtps://u%40x:p%3Aw@relay.example:465"
    )
    read = smtp_address("smtp://relay.example")
    assert (read.host, read.port, read.tls, read.username) == ("relay.example", 25, "starttls", "")
    secure = smtp_address("smtps://u%40x:p%3Aw@relay.example")
    assert (secure.port, secure.tls, secure.username, secure.password) == (
        465, "implicit", "u@x", "p:w",
    )  # fmt: skip
