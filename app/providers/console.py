"""The embedded default senders: log the message and append it to the outbox file.

The outbox is JSON Lines, one object a message with `channel` ("sms" or "email"), `to`,
`body`, `sent_at` (and `subject` for email), so people running `make run` and scripts can
read their codes. Appends of one short line with O_APPEND do not interleave between
processes.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime

from flask_babel import gettext as _

from app.providers.base import UNAVAILABLE, UNSUPPORTED, ProviderError

log = logging.getLogger("tessera.outbox")


def _append(path: str, message: dict, provider: str) -> None:
    """Append one line to the outbox; an unwritable outbox is a ProviderError, because the
    callers promise their customers a message and must hear that none went out."""
    line = json.dumps(message, ensure_ascii=False) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as error:
        logging.getLogger("tessera.providers").error(
            "%s: cannot write the outbox %s: %s", provider, path, error.strerror or error)
        raise ProviderError(_("Messages cannot be sent right now. Try again in a few "
                              "minutes."), UNAVAILABLE, provider=provider) from None


def _message_id() -> str:
    return "console-" + uuid.uuid4().hex


class ConsoleSmsSender:
    """Writes SMS messages to the log and the outbox file. We make the codes ourselves."""

    holds_codes = False

    def __init__(self, outbox_path: str) -> None:
        self.outbox_path = outbox_path

    def send(self, to: str, body: str) -> str:
        """'Send' an SMS to an E.164 number; return a message id of our own."""
        message = {"channel": "sms", "to": to, "body": body,
                   "sent_at": datetime.now(UTC).isoformat()}
        log.warning("SMS to %s: %s", to, body)
        _append(self.outbox_path, message, "console")
        return _message_id()

    def start_verification(self, to: str) -> str:
        """Not available: the console sender does not hold codes (holds_codes is False)."""
        raise _unsupported()

    def check_verification(self, to: str, code: str) -> bool:
        """Not available: the console sender does not hold codes (holds_codes is False)."""
        raise _unsupported()


class ConsoleEmailSender:
    """Writes emails to the log and the outbox file."""

    def __init__(self, outbox_path: str) -> None:
        self.outbox_path = outbox_path

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> str:
        """'Send' an email (its HTML part, when there is one, is kept in the outbox, not
        logged); return a message id of our own."""
        message = {"channel": "email", "to": to, "subject": subject, "body": body,
                   "sent_at": datetime.now(UTC).isoformat()}
        if html is not None:
            message["html"] = html
        log.warning("Email to %s: %s\n%s", to, subject, body)
        _append(self.outbox_path, message, "console")
        return _message_id()


def _unsupported() -> ProviderError:
    return ProviderError(_("Text messages cannot be checked this way."), UNSUPPORTED,
                         provider="console")
