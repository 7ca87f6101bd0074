"""zxcvbn's feedback in the customer's language.

zxcvbn (app/auth/passwords.py) explains a weak password in English, through the standard
library's gettext with no catalog of its own. Its messages are listed here word for word
(zxcvbn/feedback.py, zxcvbn 4.4.28), marked with N_ so `make translations` puts them in our
catalogs; `in_page_language` then looks each one up. A message this list lacks (a newer
zxcvbn) is shown only on English pages: elsewhere our own sentence stands alone, never
English in the middle of another language (tests/auth/test_passwords.py checks the list
against the installed zxcvbn).
"""
from __future__ import annotations

from flask_babel import get_locale, gettext

from app.platform.i18n import SOURCE_LOCALE


def N_(text: str) -> str:  # noqa: N802  (gettext's name for "mark, do not translate yet")
    """Mark `text` for extraction; it is translated where it is shown."""
    return text


ZXCVBN_MESSAGES = frozenset({
    N_("A word by itself is easy to guess."),
    N_("Add another word or two. Uncommon words are better."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Avoid dates and years that are associated with you."),
    N_("Avoid recent years."),
    N_("Avoid repeated words and characters."),
    N_("Avoid sequences."),
    N_("Avoid years that are associated with you."),
    N_("Capitalization doesn't help very much."),
    N_("Common names and surnames are easy to guess."),
    N_("Dates are often easy to guess."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
    N_("Recent years are easy to guess."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Reversed words aren't much harder to guess."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Short keyboard patterns are easy to guess."),
    N_("Straight rows of keys are easy to guess."),
    N_("This is a top-10 common password."),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("This is similar to a commonly used password."),
    N_("Use a few words, avoid common phrases."),
    N_("Use a longer keyboard pattern with more turns."),
})


def in_page_language(message: str | None) -> str:
    """zxcvbn's `message` in the page's language; "" for none, or for a message we have
    no translation of on a page that is not English."""
    if not message:
        return ""
    if message in ZXCVBN_MESSAGES:
        return gettext(message)
    return message if str(get_locale()) == SOURCE_LOCALE else ""
