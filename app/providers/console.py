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
from datetime import UTC, datetime

log = logging.getLogger("tessera.outbox")


def _append(path: str, message: dict) -> None:
    line = json.dumps(message, ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ConsoleSmsSender:
    """Writes SMS messages to the log and the outbox file."""

    def __init__(self, outbox_path: str) -> None:
        self.outbox_path = outbox_path

    def send(self, to: str, body: str) -> None:
        """'Send' an SMS to an E.164 number."""
        message = {"channel": "sms", "to": to, "body": body,
                   "sent_at": datetime.now(UTC).isoformat()}
        log.warning("SMS to %s: %s", to, body)
        _append(self.outbox_path, message)


class ConsoleEmailSender:
    """Writes emails to the log and the outbox file."""

    def __init__(self, outbox_path: str) -> None:
        self.outbox_path = outbox_path

    def send(self, to: str, subject: str, body: str) -> None:
        """'Send' an email."""
        message = {"channel": "email", "to": to, "subject": subject, "body": body,
                   "sent_at": datetime.now(UTC).isoformat()}
        log.warning("Email to %s: %s\n%s", to, subject, body)
        _append(self.outbox_path, message)
