"""Outbound services behind small interfaces, chosen by configuration: the registry.

`sms_sender()`, `email_sender()` and `phone_lookup()` return the configured
implementation. The error type and the interfaces live in app/providers/base.py (the
phone facts in app/providers/phone_facts.py); the implementations import those, never
this registry.

This registry imports an SDK-backed implementation (twilio_sms, smtp_email,
twilio_lookup, camara) only inside the branch that configuration chooses: the one allowed
lazy import, so the embedded default needs none of the SDKs.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from app.providers.base import UNSUPPORTED, EmailSender, ProviderError, SmsSender
from app.providers.console import ConsoleEmailSender, ConsoleSmsSender
from app.providers.phone_facts import OfflinePhoneLookup, PhoneLookup


def sms_sender() -> SmsSender:
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
    raise ProviderError(_("Text messages cannot be sent right now."), UNSUPPORTED,
                        provider=name)


def email_sender() -> EmailSender:
    """The email sender named by EMAIL_PROVIDER."""
    config = current_app.config
    name = config["EMAIL_PROVIDER"]
    if name == "console":
        return ConsoleEmailSender(config["OUTBOX_PATH"])
    if name == "smtp":
        from app.providers.smtp_email import SmtpEmailSender
        return SmtpEmailSender.from_config(config)
    raise ProviderError(_("Email cannot be sent right now."), UNSUPPORTED, provider=name)


def phone_lookup() -> PhoneLookup:
    """The phone lookup named by PHONE_LOOKUP (a new one each call: cheap, nothing shared
    between threads except the CAMARA token cache)."""
    config = current_app.config
    name = config["PHONE_LOOKUP"]
    if name == "offline":
        return OfflinePhoneLookup()
    if name == "twilio-lookup":
        from app.providers.twilio_lookup import TwilioPhoneLookup
        return TwilioPhoneLookup.from_config(config)
    if name == "camara":
        from app.providers.camara import CamaraPhoneLookup
        return CamaraPhoneLookup.from_config(config)
    raise ProviderError(_("Phone numbers cannot be checked right now."), UNSUPPORTED,
                        provider=str(name))
