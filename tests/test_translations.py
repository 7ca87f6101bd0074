"""The translation catalogs: every string the code and templates mark for translation is
translated in every shipped language, and no translation loses a placeholder or a tag.

The strings are extracted here from the source, as `make translations` does, so a string
marked today and not yet in a catalog fails this test (run `make translations`, then
translate what it added). No app or database is needed.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.platform.i18n import SOURCE_LOCALE, TRANSLATIONS_DIR, shipped_locales

PROJECT = Path(__file__).resolve().parent.parent
#: The gettext keywords `make translations` extracts (Babel's defaults, plus these).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "N_": None,
            "lazy_gettext": None, "lazy_ngettext": (1, 2)}
TRANSLATED = [code for code in shipped_locales() if code != SOURCE_LOCALE]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")


def _marked_strings() -> dict[str, tuple]:
    """msgid -> the (singular, plural) ids the source marks, with where it was found."""
    with open(TRANSLATIONS_DIR / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(PROJECT), method_map, options_map, keywords=KEYWORDS):
        ids = message if isinstance(message, tuple) else (message,)
        if ids[0]:
            found.setdefault(ids[0], (ids, f"{filename}:{lineno}"))
    return found


@pytest.fixture(scope="module")
def marked() -> dict[str, tuple]:
    return _marked_strings()


def _catalog(code: str):
    with open(TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=code)


def test_the_shipped_languages_are_english_german_french_and_spanish():
    assert set(shipped_locales()) >= {"en", "de", "fr", "es"}


def test_the_source_marks_strings_for_translation(marked):
    # The extraction itself works (a broken babel.cfg would find nothing and pass the
    # completeness test below vacuously).
    assert len(marked) > 200
    assert "Log out" in marked


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_marked_string_is_translated(code, marked):
    catalog = _catalog(code)
    missing, untranslated, fuzzy = [], [], []
    for msgid, (ids, where) in sorted(marked.items()):
        message = catalog.get(msgid)
        if message is None:
            missing.append(f"{where}: {msgid!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(f"{where}: {msgid!r}")
        if message.fuzzy:
            fuzzy.append(f"{where}: {msgid!r}")
    assert not missing, f"{code}: not in the catalog (run make translations):\n" + \
        "\n".join(missing[:40])
    assert not untranslated, f"{code}: untranslated:\n" + "\n".join(untranslated[:40])
    assert not fuzzy, f"{code}: fuzzy (check and unmark):\n" + "\n".join(fuzzy[:40])


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_every_placeholder_and_tag(code):
    problems = []
    for message in _catalog(code):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(_PLACEHOLDER.findall(ids[-1]))
        tags = Counter(_TAG.findall(ids[0]))
        for text in strings:
            if not text:
                continue
            # A plural form may leave the number out ("un code" for one): the others keep it.
            have = set(_PLACEHOLDER.findall(text))
            if have != wanted and not (len(strings) > 1 and have == wanted - {"num"}):
                problems.append(f"{ids[0]!r}: {text!r} has placeholders {sorted(have)}, "
                                f"not {sorted(wanted)}")
            if Counter(_TAG.findall(text)) != tags:
                problems.append(f"{ids[0]!r}: {text!r} changes the HTML tags")
    assert not problems, f"{code}:\n" + "\n".join(problems[:40])


def test_no_catalog_holds_strings_the_source_no_longer_marks(marked):
    # Obsolete entries are harmless to gettext but mislead translators: `make
    # translations` drops them.
    for code in TRANSLATED:
        stale = [message.id for message in _catalog(code)
                 if message.id and (message.id if isinstance(message.id, str)
                                    else message.id[0]) not in marked]
        assert not stale, f"{code}: no longer marked in the source: {stale[:20]}"
