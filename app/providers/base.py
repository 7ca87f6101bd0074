"""What every outbound provider shares: the error type, its reasons, and the interfaces.

The implementations (console.py, smtp_email.py, twilio_sms.py, and the phone lookups)
import this module; callers choose an implementation through the registry in
`app.providers` (`sms_sender()`, `email_sender()`, `phone_lookup()`).

Every failure raises ProviderError; nothing else escapes a provider.
"""
from __future__ import annotations

from typing import Protocol

#: ProviderError.reason values.
INVALID_NUMBER = "invalid_number"      # the provider says the number cannot get SMS
RATE_LIMITED = "rate_limited"          # 429 or a provider-side sending limit
UNAVAILABLE = "unavailable"            # 5xx, connection refused, unexpected answer
TIMEOUT = "timeout"                    # no answer in time
MAX_ATTEMPTS = "max_attempts"          # Verify: too many checks or sends for this number
EXPIRED = "expired"                    # Verify: no pending verification (expired or used)
REJECTED = "rejected"                  # any other 4xx (bad credentials, bad request ...)
UNSUPPORTED = "unsupported"            # the provider cannot do this (e.g. free text on Verify)


class ProviderError(RuntimeError):
    """A provider failed. `message` is safe to show the customer (translated: a
    module-level lazy text is read in the current language here); `reason` is one of the
    constants above; `status` and `code` are the provider's HTTP status and error code."""

    def __init__(self, message: str, reason: str, *, provider: str,
                 status: int | None = None, code: int | str | None = None) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.provider = provider
        self.status = status
        self.code = code


class SmsSender(Protocol):
    """The SMS interface every implementation has.

    `holds_codes` False: we make the code and `send` the text. True (Twilio Verify): the
    provider makes the code; use `start_verification` and `check_verification`.
    """

    holds_codes: bool

    def send(self, to: str, body: str) -> str:
        """Send a text to an E.164 number; return the provider's message id."""
        ...  # pragma: no cover

    def start_verification(self, to: str) -> str:
        """(holds_codes only) Ask the provider to send a code; return its verification id."""
        ...  # pragma: no cover

    def check_verification(self, to: str, code: str) -> bool:
        """(holds_codes only) True if the provider approves the code."""
        ...  # pragma: no cover


class EmailSender(Protocol):
    """The email interface every implementation has."""

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> str:
        """Send an email to one address: plain text, and `html` as its HTML alternative
        when given; return a message id."""
        ...  # pragma: no cover


def number_tail(number: str) -> str:
    """Enough of a number to tell log lines apart, not enough to identify anyone."""
    return "..." + number[-2:] if len(number) > 2 else "..."
