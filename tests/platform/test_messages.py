"""Emails and text messages in the brand and the customer's language (issue 16, items 4
and 7; app/platform/messages.py): multipart emails from templates, SMS segment counting,
the WebOTP line, and every shipped language's code texts within one segment."""
from __future__ import annotations

from email import message_from_string

import pytest

from app.platform.i18n import shipped_locales, speaking
from app.platform.messages import compose_email, sms_segments, sms_text


def test_sms_segments_count_gsm7_and_ucs2_as_carriers_do():
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2 and sms_segments("a" * 307) == 3
    # Extension characters (here €) take two septets.
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2
    # German umlauts and ß are GSM-7; French ç (lower case) and Spanish ó are not.
    assert sms_segments("ä" * 160) == 1
    assert sms_segments("ó" + "a" * 69) == 1 and sms_segments("ó" + "a" * 70) == 2
    assert sms_segments("ç" * 134) == 2 and sms_segments("ç" * 135) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_code_text_ends_with_the_webotp_line_for_the_issuer_host(make_app):
    app = make_app(ISSUER="https://login.acme.example")
    with app.app_context():
        text = sms_text("123456 is your Acme code.", code="123456")
    assert text.splitlines()[-1] == "@login.acme.example #123456"
    assert text.startswith("123456")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_email_has_a_plain_text_and_an_html_part_in_the_brand(make_app):
    app = make_app(BRAND_NAME="Acme <Bank>", BRAND_PRIVACY_URL="https://acme.example/privacy",
                   BRAND_SUPPORT_EMAIL="help@acme.example")
    with app.app_context():
        email = compose_email("Your code", ["First <line> & more.", "Second line."],
                              code="123456", customer_id="7K3M-9Q2P-XW4D-H")
    assert email.text.startswith("Acme <Bank>\n")
    assert "First <line> & more.\n\nSecond line." in email.text
    assert "123456" in email.text and "7K3M-9Q2P-XW4D-H" in email.text
    assert "https://acme.example/privacy" in email.text and "help@acme.example" in email.text
    # The HTML part escapes what it shows.
    assert "Acme &lt;Bank&gt;" in email.html and "First &lt;line&gt; &amp; more." in email.html
    assert "<strong" in email.html and "123456" in email.html
    assert 'href="https://acme.example/privacy"' in email.html


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("code", shipped_locales())
def test_every_language_writes_its_emails_in_that_language(make_app, code):
    app = make_app()
    with app.app_context(), speaking(code):
        email = compose_email("Subject", ["Body."], code="123456")
    assert "123456" in email.text
    # The template's own words are translated (the caller translates what it passes in).
    assert ("Your code:" in email.text) == (code == "en"), (code, email.text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_outbox_keeps_both_parts_of_an_email(app):
    from app.providers import email_sender
    from tests.helpers import read_outbox
    with app.app_context():
        email = compose_email("Hello", ["Body."])
        email_sender().send("ada@example.com", email.subject, email.text, html=email.html)
    [sent] = read_outbox(app)
    assert sent["body"] == email.text and sent["html"] == email.html


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_smtp_sends_multipart_alternative(app_context):
    """The SMTP sender's message: text/plain first, then text/html (what clients show)."""
    from app.providers.smtp_email import SmtpEmailSender
    sender = SmtpEmailSender(host="127.0.0.1", port=1, security="none",
                             from_address="Acme <no-reply@acme.example>", timeout=1)
    message = message_from_string(str(sender._compose("ada@example.com", "Hi", "Plain.",
                                                      html="<p>Rich.</p>")))
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.get_payload()]
    assert parts == ["text/plain", "text/html"]


def _sms_messages(code: str) -> list[tuple[str, str]]:
    """(msgid, text in `code`) of every string the catalogs flag as a text message."""
    from babel.messages.pofile import read_po

    from app.platform.i18n import TRANSLATIONS_DIR
    catalog_code = "de" if code == "en" else code  # English: the msgids themselves
    with open(TRANSLATIONS_DIR / catalog_code / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    return [(m.id, m.id if code == "en" else m.string) for m in catalog
            if any("text message (SMS)" in comment for comment in m.auto_comments)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("code", shipped_locales())
def test_every_text_message_fits_one_gsm7_segment_in_every_language(app_context, code):
    """Codes, notices and sign-up texts, filled with the longest values they take (the
    longest notice subject, the WebOTP line for a typical host); a link's text and a
    notice's (with its first line) may take more segments, but stay GSM-7."""
    from app.platform.notifications import SECURITY_NOTICES
    from app.platform.messages import _GSM7_BASIC, _GSM7_EXTENDED
    messages = _sms_messages(code)
    assert len(messages) >= 6
    with speaking(code):
        subject = max((str(s) for s, _ in SECURITY_NOTICES.values()), key=len)
    values = {"code": "123456", "brand": "Tessera", "minutes": 10, "subject": subject,
              "line": "",
              "url": "https://login.example.com/recover/link/" + "x" * 43}
    for msgid, text in messages:
        filled = text % values
        assert all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in filled), \
            (code, msgid, [ch for ch in filled if ch not in _GSM7_BASIC | _GSM7_EXTENDED])
        if "%(url)s" in msgid or "%(line)s" in msgid:
            continue  # a link, or a notice's first line: long by nature
        if "%(code)s" in msgid:
            filled = f"{filled}\n\n@login.example.com #123456"
        assert sms_segments(filled) == 1, (code, msgid, len(filled), filled)
