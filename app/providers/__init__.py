"""Outbound services behind small interfaces, chosen by configuration.

`sms_sender()` and `email_sender()` return the configured implementation; SDKs are imported
inside their implementation so the embedded default needs none of them.

The SMS interface (every implementation has these):

    holds_codes: bool
        False: we make the code and `send` the text. True (Twilio Verify): the provider
        makes the code; use `start_verification` and `check_verification`.
    send(to: str, body: str) -> str
        Send a text to an E.164 number; return the provider's message id.
    start_verification(to: str) -> str
        (holds_codes only) Ask the provider to send a code; return its verification id.
    check_verification(to: str, code: str) -> bool
        (holds_codes only) True if the provider approves the code.

The email interface: send(to: str, subject: str, body: str) -> str (a message id).

Every failure raises ProviderError; nothing else escapes a provider.
"""
from __future__ import annotations

from flask import current_app

from app.providers.console import ConsoleEmailSender, ConsoleSmsSender

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
    """A provider failed. `message` is safe to show the customer; `reason` is one of the
    constants above; `status` and `code` are the provider's HTTP status and error code."""

    def __init__(self, message: str, reason: str, *, provider: str,
                 status: int | None = None, code: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.provider = provider
        self.status = status
        self.code = code


def sms_sender():
    """The SMS sender named by SMS_PROVIDER (a new one each call: cheap, nothing shared
    between threads)."""
    config = current_app.config
    name = config["SMS_PROVIDER"]
    if name == "console":
        return ConsoleSmsSender(config["OUTBOX_PATH"])
    if name == "twilio":
        from app.providers.twilio_sms import TwilioSmsSender
        return TwilioSmsSender.from_config(config)
    if name == "twilio-verify":
        from app.providers.twilio_sms import TwilioVerifySender
        return TwilioVerifySender.from_config(config)
    raise ProviderError("Text messages cannot be sent right now.", UNSUPPORTED,
                        provider=name)


def email_sender():
    """The email sender named by EMAIL_PROVIDER."""
    config = current_app.config
    name = config["EMAIL_PROVIDER"]
    if name == "console":
        return ConsoleEmailSender(config["OUTBOX_PATH"])
    if name == "smtp":
        from app.providers.smtp_email import SmtpEmailSender
        return SmtpEmailSender.from_config(config)
    raise ProviderError("Email cannot be sent right now.", UNSUPPORTED, provider=name)
