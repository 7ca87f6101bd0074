"""The languages Tessera speaks: which ones it ships, which ones a deployment offers
(LOCALES, DEFAULT_LOCALE), how a wished-for language tag (an app's `ui_locales`, a
customer's saved `locale`, the browser's Accept-Language) is matched to one of them, and
messages sent in a customer's own language.

English is the source language: the text in the code and the templates. Every other
language is a gettext catalog, app/translations/<locale>/LC_MESSAGES/messages.po, compiled
to messages.mo at build time (`make` compiles before run and test, the Dockerfile in the
image); `make translations` extracts the marked strings and updates the catalogs.
Flask-Babel falls back to English without a word when a compiled catalog is missing, so
start-up refuses to offer a language whose catalog is not compiled or older than its
source.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
#: The language of the text in the code and templates (no catalog of its own).
SOURCE_LOCALE = "en"
#: What each language is called in itself, for the language switcher.
NATIVE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}


def shipped_locales() -> tuple[str, ...]:
    """English and every language with a catalog in app/translations."""
    catalogs = sorted(path.parent.parent.name
                      for path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    return (SOURCE_LOCALE, *catalogs)


def locale_list(setting: object) -> list[str]:
    """The language codes of a LOCALES value ("en,de"), stripped, blanks left out."""
    return [part.strip() for part in str(setting).split(",") if part.strip()]


def setting_problems(config: dict) -> list[str]:
    """Start-up refusals for LOCALES and DEFAULT_LOCALE, each naming the setting: a
    language Tessera does not ship, a default that is not offered, a catalog that is not
    compiled (or older than its .po)."""
    shipped = shipped_locales()
    offered = locale_list(config["LOCALES"])
    problems = []
    unknown = [code for code in offered if code not in shipped]
    if not offered:
        problems.append(f"TESSERA_LOCALES must name at least one language, among "
                        f"{', '.join(shipped)}")
    if unknown:
        problems.append(f"TESSERA_LOCALES names {', '.join(map(repr, unknown))}, which "
                        f"Tessera does not ship: choose among {', '.join(shipped)}")
    if config["DEFAULT_LOCALE"] not in offered:
        problems.append(f"TESSERA_DEFAULT_LOCALE ({config['DEFAULT_LOCALE']!r}) must be one "
                        f"of TESSERA_LOCALES ({', '.join(offered) or 'empty'})")
    stale = [code for code in offered if code in shipped and not _is_compiled(code)]
    if stale:
        problems.append(f"TESSERA_LOCALES offers {', '.join(stale)}, whose catalog is not "
                        "compiled or is older than its messages.po: run `make translations-"
                        "compile` (pybabel compile -d app/translations)")
    return problems


def _is_compiled(code: str) -> bool:
    """Whether `code` needs no catalog (English) or has a messages.mo at least as new as
    its messages.po."""
    if code == SOURCE_LOCALE:
        return True
    source = TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"
    compiled = source.with_suffix(".mo")
    return compiled.is_file() and compiled.stat().st_mtime >= source.stat().st_mtime


def offered_locales() -> list[str]:
    """The languages this deployment offers (LOCALES), the default first among equals."""
    return locale_list(current_app.config["LOCALES"])


def best_match(tags: Iterable[str | None], offered: Sequence[str]) -> str | None:
    """The first of `tags` (BCP 47 language tags, most wanted first) that an offered
    language serves: the tag itself ("de"), else its language ("de-CH" -> "de"). None
    when none matches (or every tag is empty)."""
    for tag in tags:
        if not tag:
            continue
        wanted = tag.strip().replace("_", "-").lower()
        if wanted in offered:
            return wanted
        language = wanted.split("-", 1)[0]
        if language in offered:
            return language
    return None


def ui_locales_match(ui_locales: str | None) -> str | None:
    """The offered language an OpenID `ui_locales` value (space-separated tags, most
    wanted first) asks for, if any."""
    if not ui_locales:
        return None
    return best_match(ui_locales.split()[:10], offered_locales())


def customer_locale(saved: str | None) -> str:
    """The language to write to a customer in: their saved `locale` when an offered
    language serves it; else, in a request, the page's (the customer's own pages: the
    admin API always reads as DEFAULT_LOCALE, app/web/language.py), else DEFAULT_LOCALE.
    Never the language of an admin or of the server."""
    match = best_match([saved], offered_locales())
    if match:
        return match
    if has_request_context():
        return str(get_locale())
    return current_app.config["DEFAULT_LOCALE"]


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Translate everything inside the block into `locale` (an offered language code),
    whatever language the current request is in."""
    with force_locale(locale):
        yield
