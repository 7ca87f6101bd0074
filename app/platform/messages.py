"""What Tessera writes to customers outside the pages: emails and text messages, in the
brand and in the language of the block they are written in (app/platform/i18n.py
`speaking`: the customer's saved language, never the admin's or the server's).

Emails are multipart: plain text and simple HTML, both rendered from templates
(email/message.txt and email/message.html, which a business can override in
instance/brand/templates/email/). Text messages carry the brand name, put a code first
(a glance at the lock screen shows it), and end with the WebOTP line `@host #code` for
the issuer's host, so a phone can offer to fill the code in on our page. Every text
aims at one SMS segment: 160 GSM-7 characters, or 70 when the language needs a character
outside GSM-7 (`sms_segments` counts them; tests/platform/test_messages.py holds every
shipped language to one).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, render_template

from app.platform.brand import current_brand

#: GSM 03.38's default alphabet, and its extension table (each of those costs two).
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = set("^{}\\[~]|€\f")
#: Typographic punctuation and spaces, as GSM-7 writes them.
_PUNCTUATION = {"\u00a0": " ", "\u202f": " ", "\u2009": " ", "’": "'", "‘": "'", "‚": "'",
                "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "–": "-", "—": "-",
                "…": "..."}


@dataclass(frozen=True)
class Email:
    """One composed email: its subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


def brand_name() -> str:
    """The brand's name (BRAND_NAME)."""
    return current_brand().name


def compose_email(subject: str, paragraphs: list[str], *, code: str | None = None,
                  customer_id: str | None = None) -> Email:
    """An email in the brand: `paragraphs` (plain text, escaped in the HTML part), the
    `code` set apart when there is one, and the footer (where to get help, the legal
    links, and the customer ID to quote when there is one)."""
    brand = current_brand()
    context = {"brand": brand, "subject": subject, "paragraphs": paragraphs, "code": code,
               "customer_id": customer_id, "issuer": current_app.config["ISSUER"]}
    return Email(subject=subject,
                 text=render_template("email/message.txt", **context).strip() + "\n",
                 html=render_template("email/message.html", **context))


def sms_text(text: str, code: str | None = None) -> str:
    """A text message: `text` in GSM-7 where it can be (`gsm7_fallback`), then for a code
    the WebOTP line (`@host #code`, the issuer's host: the page that asks for the code is
    served there). Every text to a phone goes through here."""
    text = gsm7_fallback(text)
    if code is None:
        return text
    host = urlsplit(current_app.config["ISSUER"]).hostname
    return f"{text}\n\n@{host} #{code}"


def gsm7_fallback(text: str) -> str:
    """`text` with each character outside GSM-7 replaced by its GSM-7 look-alike where
    there is one: a letter without its accent (ó -> o, ç -> c), typographic quotes and
    dashes as plain ones, a no-break space as a space. One character outside GSM-7 would
    send the whole text as UCS-2, 70 characters a segment instead of 160 (what carriers'
    "smart encoding" does; a script with no look-alike, such as Greek words or Chinese,
    is left as it is)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        return text
    converted = "".join(_gsm7_character(ch) for ch in text)
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in converted):
        return converted
    return text


def _gsm7_character(ch: str) -> str:
    if ch in _GSM7_BASIC or ch in _GSM7_EXTENDED:
        return ch
    if ch in _PUNCTUATION:
        return _PUNCTUATION[ch]
    bare = "".join(part for part in unicodedata.normalize("NFD", ch)
                   if not unicodedata.combining(part))
    return bare or ch


def sms_segments(text: str) -> int:
    """How many SMS segments `text` takes: GSM-7 (160 characters in one, 153 each when
    split; extension characters count twice) when every character is in GSM-7, else
    UCS-2 (70 in one, 67 each when split; characters beyond the BMP count twice)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        length = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, part = 70, 67
    return 1 if length <= single else -(-length // part)
