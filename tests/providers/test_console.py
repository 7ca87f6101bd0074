"""The console senders: the outbox line format, their message ids, an unwritable outbox."""
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.providers import email_sender, sms_sender
from app.providers.base import UNAVAILABLE, UNSUPPORTED, ProviderError
from tests.helpers import read_outbox


def senders(app):
    with app.app_context():
        return sms_sender(), email_sender()


def test_each_message_is_one_json_line_in_the_outbox(provider_app):
    app = provider_app()
    sms, email = senders(app)
    before = datetime.now(UTC)

    sms.send("+14155552671", "Your code is 123456")
    email.send("ada@example.com", "Your sign-up code", "Your code is 654321\nBye")

    lines = Path(app.config["OUTBOX_PATH"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"channel", "to", "body", "sent_at"}
    assert (first["channel"], first["to"], first["body"]) == (
        "sms", "+14155552671", "Your code is 123456")
    assert set(second) == {"channel", "to", "subject", "body", "sent_at"}
    assert (second["channel"], second["to"], second["subject"], second["body"]) == (
        "email", "ada@example.com", "Your sign-up code", "Your code is 654321\nBye")
    for message in (first, second):
        sent_at = datetime.fromisoformat(message["sent_at"])
        assert before <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert read_outbox(app) == [first, second]


def test_send_returns_a_fresh_console_message_id(provider_app):
    sms, email = senders(provider_app())
    ids = [sms.send("+14155552671", "a"), sms.send("+14155552671", "b"),
           email.send("ada@example.com", "s", "c")]
    assert all(i.startswith("console-") and len(i) == len("console-") + 32 for i in ids)
    assert len(set(ids)) == 3


def test_non_ascii_text_is_kept_as_written(provider_app):
    app = provider_app()
    sms, _ = senders(app)
    sms.send("+4915112345678", "Dein Code: 123456 – grüß dich")
    outbox = Path(app.config["OUTBOX_PATH"]).read_text(encoding="utf-8")
    assert '"Dein Code: 123456 – grüß dich"' in outbox


def test_the_console_sms_sender_does_not_hold_codes(provider_app):
    sms, _ = senders(provider_app())
    assert sms.holds_codes is False
    with pytest.raises(ProviderError) as caught:
        sms.start_verification("+14155552671")
    assert caught.value.reason == UNSUPPORTED


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_an_unwritable_outbox_is_a_provider_error(provider_app, tmp_path, provider_log,
                                                  channel):
    # A directory that does not exist: unwritable even for root, unlike a chmod.
    app = provider_app(OUTBOX_PATH=str(tmp_path / "missing" / "outbox.jsonl"))
    sms, email = senders(app)

    with pytest.raises(ProviderError) as caught:
        if channel == "sms":
            sms.send("+14155552671", "Your code is 123456")
        else:
            email.send("ada@example.com", "Subject", "Your code is 123456")

    assert (caught.value.reason, caught.value.provider) == (UNAVAILABLE, "console")
    assert caught.value.message == ("Messages cannot be sent right now. "
                                    "Try again in a few minutes.")
    assert "outbox" in provider_log.text and "123456" not in provider_log.text
    assert not (tmp_path / "missing").exists()
