"""No English left on any hosted page in another language (issue 16): a real browser
(Debian chromium, Playwright) whose Accept-Language asks for German, French or Spanish
walks every page and state that test_accessibility.py walks (46 of them: the error states
after a failed submit, consent for a third-party app, the second-factor pages, a password
required by support, the reset flow, the texted-code page) and reads what a customer reads.

A line of the page's text (`document.body.innerText`) is English when it
- holds two or more distinct English function words ("your", "the", "to", ...), or
- holds, verbatim, an English source string of three or more words (a whole msgid, or a
  literal stretch of one between its placeholders and tags) that the language's catalog
  translates otherwise.
Data is not text: the customer's email addresses and phone numbers, customer IDs, codes,
the app's and the brand's names and the switcher's language names are taken out of each
line first. Every page must also say `<html lang>` in the language asked for.

The walk finds its way by ids, names and CSS selectors only, never by English labels, so
it goes all the way through whatever language the pages speak. Every problem of the whole
walk is kept and the test fails once, with a report by page. It runs on SQLite only (the
pages' text does not depend on the database), once per shipped language but English, each
in its own browser context; the login page is photographed per language (login-<lang>.png,
in TESSERA_SCREENSHOTS when set, else the test's temporary folder).
"""
from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, Page

from app.platform.i18n import (
    NATIVE_NAMES,
    SOURCE_LOCALE,
    TRANSLATIONS_DIR,
    shipped_locales,
)
from tests.web.browser import WALK_PAGES, walk_every_hosted_page
from tests.web.conftest import open_context

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

TRANSLATED = [code for code in shipped_locales() if code != SOURCE_LOCALE]
#: The third-party app the walk asks consent for (tests/web/browser.py).
APP_NAME = "Shop"

#: English words that no German, French or Spanish sentence uses; two of them on one line
#: are an English sentence.
ENGLISH_WORDS = frozenset({"the", "your", "you", "and", "with", "this", "that", "is", "are",
                           "for", "to", "of", "from", "have", "please", "can", "it"})
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
#: What msgids hold besides text: Python placeholders (%(name)s, %s, %%), str.format
#: fields and HTML tags (of {% trans %} blocks).
_NOT_TEXT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]"
                       r"|\{[^{}]*\}|<[^>]+>")
#: Data on a page, taken out of each line before it is read: email addresses (whole or
#: masked: g•••@example.com), customer IDs
#: (XXXX-XXXX-XXXX-X), recovery codes (xxxxx-xxxxx), an authenticator key in groups of
#: four, and numbers (phone numbers, whole or masked, codes, times).
_DATA = re.compile(r"[\w.+•*-]+@[\w-]+(?:\.[\w-]+)+"
                   r"|\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]\b"
                   r"|\b[2-9a-z]{5}-[2-9a-z]{5}\b"
                   r"|\b[A-Z2-7]{4}(?: [A-Z2-7]{4})+\b"
                   r"|\+?\d[\d\s•·*.()-]*")
#: Names that read the same in every language: the app's, the brand's, and the language
#: switcher's options (each language in its own name).
NAMES = frozenset({APP_NAME, "Tessera", *NATIVE_NAMES.values()})
_NAMES = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(NAMES))) + r")\b")


def browser_locale(language: str) -> str:
    """The browser's locale (and so its Accept-Language) for a language: "de" -> "de-DE"."""
    return f"{language}-{language.upper()}"


# ---- reading a page ----------------------------------------------------------------------

def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def english_strings(language: str) -> list[tuple[str, str]]:
    """(English stretch, how the catalog words it) for every string of three or more
    words that `language`'s catalog translates otherwise: whole msgids, or the literal
    stretches between a msgid's placeholders and tags. A stretch the translation keeps
    word for word (a product name, say) is left out. Fuzzy entries count: gettext shows
    English for them, which is what this test looks for."""
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle, locale=language)
    found: dict[str, tuple[str, str]] = {}
    for message in catalog:
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) \
            else (message.string,)
        strings = [text for text in strings if text]
        if not ids[0] or not strings:
            continue
        translated = " / ".join(strings)
        kept = _normal(html.unescape(_NOT_TEXT.sub(" ", translated)))
        for msgid in ids:
            if msgid in strings:
                continue
            for stretch in _NOT_TEXT.split(msgid):
                stretch = " ".join(html.unescape(stretch).split())
                if len(_WORD.findall(stretch)) >= 3 and _normal(stretch) not in kept:
                    found.setdefault(_normal(stretch), (stretch, translated))
    return sorted(found.values(), key=lambda pair: -len(pair[0]))


def english_in(line: str, english: list[tuple[str, str]]) -> list[str]:
    """Why `line` (one line of a page's text) reads as English; empty if it does not.
    Function words are counted with the data taken out; catalog strings are looked for
    in the whole line (they may hold numbers: "a 6-digit code"), longest first, and a
    string inside one already found is not named again."""
    reasons = []
    words = sorted({word.casefold() for word in _WORD.findall(without_data(line))}
                   & ENGLISH_WORDS)
    if len(words) >= 2:
        reasons.append(f"English words: {', '.join(words)}")
    normal = _normal(line)
    matched: list[str] = []
    for stretch, translated in english:
        key = _normal(stretch)
        if key in normal and not any(key in longer for longer in matched):
            matched.append(key)
            shown = translated if len(translated) <= 60 else translated[:57] + "..."
            reasons.append(f'catalog translates "{stretch}" as "{shown}"')
    return reasons


def without_data(line: str) -> str:
    return _NAMES.sub(" ", _DATA.sub(" ", line)).strip()


class LanguageWalk:
    """Reads each page it is shown for English and keeps every problem, so one run
    reports all the pages that still speak English."""

    def __init__(self, page: Page, language: str, locale: str, screenshots: Path,
                 english: list[tuple[str, str]]) -> None:
        self.page = page
        self.language = language
        self.locale = locale
        self.screenshots = screenshots
        self.english = english
        self.problems: list[tuple[str, str, list[str]]] = []
        self.seen: list[str] = []

    def check(self, name: str) -> None:
        """Read the page as it is now."""
        self.page.wait_for_load_state("load")
        self.seen.append(name)
        found = []
        lang = self.page.evaluate("document.documentElement.lang")
        if lang != self.language:
            found.append(f'<html lang="{lang}">, not "{self.language}"')
        shown = set()
        for line in self.page.evaluate("document.body.innerText").splitlines():
            if not _LETTER.search(without_data(line)) or line.strip() in shown:
                continue
            reasons = english_in(line, self.english)
            if reasons:
                shown.add(line.strip())
                found.append(f"{line.strip()!r}  <- {'; '.join(reasons)}")
        if found:
            self.problems.append((name, self.page.url, found))
        if name == "login":
            self.page.screenshot(path=self.screenshots / f"login-{self.language}.png",
                                 full_page=True)

    def visit(self, name: str, url: str) -> None:
        self.page.goto(url)
        self.check(name)

    def report(self) -> str:
        pages = "\n".join(f"\n[{self.language}] {name} — {url}\n" +
                          "\n".join(f"    {line}" for line in lines)
                          for name, url, lines in self.problems)
        return (f"English on {len(self.problems)} of {len(self.seen)} pages in "
                f"{self.language} (browser locale {self.locale}):\n{pages}")

    def assert_clean(self) -> None:
        """Fail with the report (no traceback: the report says where to look)."""
        if self.problems:
            pytest.fail(self.report(), pytrace=False)


@pytest.fixture
def language_page(browser: Browser, language: str) -> Iterator[Page]:
    """A page in a fresh browser context whose locale (and Accept-Language) asks for
    `language`."""
    context = open_context(browser, locale=browser_locale(language))
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_hosted_page_speaks_the_browser_language(
        app, live_server, language, language_page, tmp_path) -> None:
    screenshots = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    walk = LanguageWalk(language_page, language, browser_locale(language), screenshots,
                        english_strings(language))
    try:
        walk_every_hosted_page(app, live_server, language_page, walk.check)
    except Exception as error:  # say how far the walk got
        error.add_note(f"[{language}] the walk stopped after {len(walk.seen)} of "
                       f"{WALK_PAGES} pages (last read: {walk.seen[-1:]}), at "
                       f"{language_page.url}")
        raise
    walk.assert_clean()
    assert len(walk.seen) == WALK_PAGES, walk.seen
    assert (screenshots / f"login-{language}.png").is_file()
