"""Email through an SMTP server (smtplib).

SMTP_SECURITY chooses the transport: "starttls" (submission, port 587: the connection
must be upgraded, or nothing is sent: a server that does not offer STARTTLS may be an
attacker stripping it), "tls" (implicit TLS, port 465), or "none" (a relay on the same
host or network). Certificates are checked against the system's trust store
(ssl.create_default_context, which honours SSL_CERT_FILE for a private CA).

Failures become ProviderError: no answer in time is TIMEOUT; a transient refusal (4xx),
a refused connection or a broken TLS handshake is UNAVAILABLE; a permanent refusal (5xx,
bad credentials) is REJECTED. They are logged to "tessera.providers" with the SMTP code,
never with the message.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from flask_babel import lazy_gettext as _l

from app.providers.base import REJECTED, TIMEOUT, UNAVAILABLE, ProviderError

log = logging.getLogger("tessera.providers")

PROVIDER = "smtp"

#: What the customer reads for each reason (lazy: ProviderError reads it in the current
#: language).
MESSAGES = {
    TIMEOUT: _l("The email service did not answer. Try again in a minute."),
    UNAVAILABLE: _l("Email cannot be sent right now. Try again in a few minutes."),
    REJECTED: _l("Email cannot be sent right now."),
}
#: When the fault is the address itself (the server refused the recipient for good).
RECIPIENT_REFUSED = _l("We cannot send an email to this address.")

#: Characters that would end a header line and start a new one (header injection).
_LINE_BREAKS = ("\r", "\n", "\x00")


class SmtpEmailSender:
    """Sends one plain-text email per call over a fresh SMTP connection."""

    def __init__(self, *, host: str, port: int, security: str, from_address: str,
                 timeout: float, username: str = "", password: str = "") -> None:
        self.host = host
        self.port = int(port)
        self.security = security
        self.from_address = from_address
        self.timeout = float(timeout)
        self.username = username
        self.password = password

    @classmethod
    def from_config(cls, config: Mapping) -> SmtpEmailSender:
        return cls(host=config["SMTP_HOST"], port=config["SMTP_PORT"],
                   security=config["SMTP_SECURITY"], from_address=config["EMAIL_FROM"],
                   timeout=config["SMTP_TIMEOUT_SECONDS"], username=config["SMTP_USERNAME"],
                   password=config["SMTP_PASSWORD"])

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> str:
        """Send an email to one address (plain text, and with `html` an HTML alternative
        after it: multipart/alternative); return its Message-ID header."""
        message = self._compose(to, subject, body, html=html)
        envelope_from = parseaddr(self.from_address)[1]
        try:
            connection = self._connect()
            try:
                if self.security == "starttls":
                    # Raises SMTPNotSupportedError when the server does not offer it.
                    connection.starttls(context=ssl.create_default_context())
                if self.username:
                    connection.login(self.username, self.password)
                connection.send_message(message, from_addr=envelope_from, to_addrs=[to])
            finally:
                _close(connection)
        except (smtplib.SMTPException, OSError) as error:
            raise _failure(error) from None
        return message["Message-ID"]

    def _compose(self, to: str, subject: str, body: str,
                 html: str | None = None) -> EmailMessage:
        """Build the message, refusing anything that would add headers or recipients."""
        for name, value in (("recipient", to), ("subject", subject),
                            ("sender", self.from_address)):
            if any(character in value for character in _LINE_BREAKS):
                raise _refuse(f"the {name} contains a line break",
                              RECIPIENT_REFUSED if name == "recipient" else MESSAGES[REJECTED])
        # One plain address only: "a@x, b@y" would quietly add a recipient.
        if parseaddr(to)[1] != to or "@" not in to:
            raise _refuse("the recipient is not one plain address", RECIPIENT_REFUSED)
        sender_domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        # The sender's domain, not socket.getfqdn(): that can wait on DNS, and it names
        # the machine we run on.
        message["Message-ID"] = make_msgid(domain=sender_domain)
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def _close(connection: smtplib.SMTP) -> None:
    """Say goodbye if the server still listens; the message's fate is already decided."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        connection.close()


def _refuse(why: str, message: str) -> ProviderError:
    log.warning("%s send refused before connecting: %s", PROVIDER, why)
    return ProviderError(message, REJECTED, provider=PROVIDER)


def _failure(error: Exception) -> ProviderError:
    """Map an smtplib or socket failure to a ProviderError, and log it."""
    code = None
    level = logging.WARNING
    message = None
    if isinstance(error, TimeoutError) or (
            isinstance(error, smtplib.SMTPServerDisconnected)
            and isinstance(error.__context__, TimeoutError)):
        # smtplib reports a read that timed out as a disconnection, chained to the timeout.
        reason = TIMEOUT
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [int(answer[0]) for answer in error.recipients.values()]
        code = codes[0] if codes else None
        # 4xx is "not now" (greylisting, a full mailbox queue), 5xx is "never".
        reason = UNAVAILABLE if codes and all(400 <= c < 500 for c in codes) else REJECTED
        if reason == REJECTED:
            message = RECIPIENT_REFUSED
    elif isinstance(error, smtplib.SMTPAuthenticationError):
        code, reason, level = error.smtp_code, REJECTED, logging.ERROR
    elif isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        reason = UNAVAILABLE if 400 <= code < 500 else REJECTED
        if isinstance(error, smtplib.SMTPSenderRefused) and reason == REJECTED:
            level = logging.ERROR   # our EMAIL_FROM is refused: configuration
    elif isinstance(error, (smtplib.SMTPNotSupportedError, ssl.SSLError)):
        # No STARTTLS, no AUTH, or a certificate we cannot trust: the server and our
        # settings disagree, or someone is in between. Someone must look.
        reason, level = UNAVAILABLE, logging.ERROR
    else:
        reason = UNAVAILABLE    # refused connection, dropped connection, unknown host
    log.log(level, "%s send failed: %s (SMTP code %s, %s)", PROVIDER, reason, code,
            type(error).__name__)
    return ProviderError(message or MESSAGES[reason], reason, provider=PROVIDER, code=code)
