"""`mailto:` subscribers: each notification as an e-mail through the operator's SMTP relay.

The standard library's smtplib does the talking, in a small pool of threads
of its own so that the event loop never waits on a relay. Without `smtp_url`
a mail is `undeliverable`, which the engine can report rather than retry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.policy
import ipaddress
import logging
import smtplib
import ssl
import urllib.parse
from email.message import EmailMessage

from herald.config import NotificationSettings, SmtpAddress, smtp_address
from herald.delivery.outcome import Outcome, Verdict
from herald.service.subscribers import Subscriber

log = logging.getLogger("herald.delivery")

THREADS = 2
"""Mails under way at once: the relay, not Herald, is what they wait on."""
MAX_SUBJECT = 200
NO_TLS = "the relay offers no TLS, and Herald sends its password only encrypted (or to loopback)"


def subject_of(subscriber: Subscriber, options: dict[str, object]) -> str:
    """The subject Zaqar gives a mail: the URL's `?subject=`, else `options.subject`, else none."""
    query = urllib.parse.urlsplit(subscriber.url).query
    asked = {k.lower(): v for k, v in urllib.parse.parse_qs(query).items()}
    subject = asked["subject"][0] if "subject" in asked else options.get("subject", "")
    text = subject if isinstance(subject, str) else ""
    # A header carries one line; what a subscriber wrote never starts another.
    return " ".join(text.split())[:MAX_SUBJECT]


def notification_mail(
    subscriber: Subscriber, notice: bytes, *, sender: str, subject: str
) -> EmailMessage:
    """The e-mail of one notice: the notice's JSON as plain text, to the subscriber's address.
    It comes from the operator's `smtp_from`, never from an address a subscription names."""
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["To"] = subscriber.target
    mail["From"] = sender
    mail["Subject"] = subject
    mail.set_content(notice.decode())
    return mail


class Mailer:
    """Sends mails through the relay `smtp_url` names, if any."""

    def __init__(self, settings: NotificationSettings, *, threads: int = THREADS) -> None:
        self.address: SmtpAddress | None = (
            smtp_address(settings.smtp_url) if settings.smtp_url else None
        )
        self.sender = settings.smtp_from
        self.timeout = settings.smtp_timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="herald-smtp"
        )

    @property
    def enabled(self) -> bool:
        return self.address is not None

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def send(self, mail: EmailMessage) -> Outcome:
        """Hand the mail to the relay; how it went, never with an address or the text."""
        if self.address is None:
            return Outcome(verdict="undeliverable", reason="no smtp_url is configured")
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(self._pool, self._send, self.address, mail)
        log.debug("mail via %s:%s: %s (%s)", self.address.host, self.address.port,
                  outcome.verdict, outcome.reason)  # fmt: skip
        return outcome

    def _send(self, address: SmtpAddress, mail: EmailMessage) -> Outcome:
        try:
            with self._connect(address) as relay:
                if address.username:
                    if not _encrypted(relay) and not _is_loopback(address.host):
                        return Outcome(verdict="retry", reason=NO_TLS)
                    relay.login(address.username, address.password)
                relay.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return _by_code(codes[-1] if codes else 550, "refused the recipient")
        except smtplib.SMTPAuthenticationError as exc:
            # The operator's credentials, not the message: worth a retry once they are fixed.
            return Outcome(verdict="retry", reason=f"refused Herald's login ({exc.smtp_code})")
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, "answered")
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(verdict="retry", reason=f"relay unreachable ({type(exc).__name__})")
        return Outcome(verdict="delivered", reason="accepted by the relay")

    def _connect(self, address: SmtpAddress) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if address.tls == "implicit":
            return smtplib.SMTP_SSL(
                address.host, address.port, timeout=self.timeout, context=context
            )
        relay = smtplib.SMTP(address.host, address.port, timeout=self.timeout)
        try:
            relay.ehlo()
            if relay.has_extn("starttls"):
                relay.starttls(context=context)
                relay.ehlo()
        except BaseException:
            relay.close()
            raise
        return relay


def _encrypted(relay: smtplib.SMTP) -> bool:
    return isinstance(relay.sock, ssl.SSLSocket)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _by_code(code: int, what: str) -> Outcome:
    """SMTP's own split: 4xx is for now and worth a retry, 5xx is final."""
    verdict: Verdict = "retry" if 400 <= code < 500 else "failed"
    return Outcome(verdict=verdict, reason=f"{what} ({code})")
