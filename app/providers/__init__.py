"""Outbound services behind small interfaces, chosen by configuration.

`sms_sender()` and `email_sender()` return the configured implementation; SDKs are imported
inside their implementation so the embedded default needs none of them.
"""
from __future__ import annotations

from flask import current_app

from app.providers.console import ConsoleEmailSender, ConsoleSmsSender


class ProviderError(RuntimeError):
    """A provider failed to deliver; the message is safe to show the customer."""


def sms_sender():
    """The SMS sender named by SMS_PROVIDER."""
    name = current_app.config["SMS_PROVIDER"]
    if name == "console":
        return ConsoleSmsSender(current_app.config["OUTBOX_PATH"])
    raise ProviderError(f"Unknown SMS provider {name!r} (TESSERA_SMS_PROVIDER)")


def email_sender():
    """The email sender named by EMAIL_PROVIDER."""
    name = current_app.config["EMAIL_PROVIDER"]
    if name == "console":
        return ConsoleEmailSender(current_app.config["OUTBOX_PATH"])
    raise ProviderError(f"Unknown email provider {name!r} (TESSERA_EMAIL_PROVIDER)")
