"""Which language a hosted page speaks, and the switcher on every page.

The choice, first that answers (app/platform/i18n.py matches each tag to an offered
language):
1. the language the customer picked with the switcher in this browser: their latest word;
2. `ui_locales` of the app's authorization request (or of RP-initiated logout), remembered
   for the pages of that login (the request itself, or `ui_locales` kept in the session
   by /authorize for the pages that follow it);
3. the logged-in customer's saved `locale`;
4. the browser's Accept-Language;
5. DEFAULT_LOCALE.

Picking a language while logged in saves it as the customer's `locale` (the ID token's
`locale` claim, and the language of their emails and texts).
"""
from __future__ import annotations

from urllib.parse import urlencode

from babel.dates import get_timezone
from flask import (Blueprint, Flask, current_app, g, has_request_context, redirect,
                   request, session)
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField

from app.directory.customers import update_profile
from app.extensions import babel, db
from app.platform.i18n import NATIVE_NAMES, best_match, offered_locales, ui_locales_match
from app.web.login_session import LANGUAGE_KEYS, request_origin, safe_next

bp = Blueprint("language", __name__)

#: The session's keys: the switcher's pick, and the current authorization request's
#: ui_locales match (a login keeps both: login_session.LANGUAGE_KEYS).
CHOSEN_KEY, UI_LOCALES_KEY = LANGUAGE_KEYS


def init_language(app: Flask) -> None:
    """Bind Flask-Babel with this module's selectors and register the switcher."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # {% trans %} blocks collapse their line breaks and indentation: one msgid per sentence
    # however the template wraps it.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)
    app.before_request(_remember_authorization_ui_locales)
    app.context_processor(lambda: {"language_form": language_form,
                                   "current_locale": lambda: str(get_locale())})


def select_locale() -> str:
    """The page's language (see the module docstring for the order); outside a request
    (the CLI, work after the response) and on the admin API, DEFAULT_LOCALE: messages to
    a customer choose theirs with app/platform/i18n.py `speaking`."""
    if not has_request_context() or request.path.startswith("/admin/api/"):
        # The admin API answers support's tools in the deployment's language, whatever
        # the caller's Accept-Language.
        return current_app.config["DEFAULT_LOCALE"]
    offered = offered_locales()
    chosen = session.get(CHOSEN_KEY)
    if isinstance(chosen, str) and chosen in offered:
        return chosen
    from_request = ui_locales_match(request.args.get("ui_locales"))
    if from_request:
        return from_request
    kept = session.get(UI_LOCALES_KEY)
    if isinstance(kept, str) and kept in offered:
        return kept
    customer = _customer()
    saved = best_match([customer.locale], offered) if customer is not None else None
    if saved:
        return saved
    # In the browser's order of preference, each tag or its language ("de-CH" -> "de").
    wanted = [tag for tag, quality in request.accept_languages if quality > 0]
    return best_match(wanted[:20], offered) or current_app.config["DEFAULT_LOCALE"]


def select_timezone() -> str | None:
    """Times on pages are shown in the logged-in customer's time zone (else UTC)."""
    if not has_request_context():
        return None
    customer = _customer()
    if customer is None or not customer.zoneinfo:
        return None
    try:
        return str(get_timezone(customer.zoneinfo))
    except LookupError:
        return None  # a zone the server's tz database dropped since it was chosen: UTC


def _remember_authorization_ui_locales() -> None:
    """At /authorize: keep the request's ui_locales match for the pages of this login
    (login, sign-up, consent), or forget an earlier request's when this one has none."""
    if request.endpoint != "oidc.authorize":
        return
    match = ui_locales_match(request.args.get("ui_locales"))
    if match:
        session[UI_LOCALES_KEY] = match
    else:
        session.pop(UI_LOCALES_KEY, None)


def _customer():
    login_session = g.get("login_session")
    return login_session.customer if login_session is not None else None


class LanguageForm(FlaskForm):
    """The switcher: a language and the page to return to."""

    locale = SelectField(choices=[], validate_choice=True)
    next = HiddenField()


def language_form() -> LanguageForm:
    """The switcher's form for this page: the offered languages in their own names, the
    current one selected, returning to this page."""
    form = LanguageForm(formdata=None)
    form.locale.choices = [(code, NATIVE_NAMES.get(code, code)) for code in offered_locales()]
    form.locale.data = str(get_locale())
    form.next.data = _this_page()
    return form


def _this_page() -> str:
    """Where the switcher returns: this page with its query, except a `next` that is not
    a local path (the page itself never follows or shows one: login_session.safe_next)."""
    if request.method != "GET":
        return request.path
    args = request.args.to_dict(flat=False)
    if any(safe_next(value) != value for value in args.get("next", [])):
        args.pop("next")
    return request.path + ("?" + urlencode(args, doseq=True) if args else "")


@bp.post("/language")
def switch_language():
    """Speak the chosen language from now on in this browser; save it to the profile of
    the logged-in customer. Back to the page the switcher was on (a local path only)."""
    form = LanguageForm()
    form.locale.choices = [(code, code) for code in offered_locales()]
    if form.validate_on_submit():
        session[CHOSEN_KEY] = form.locale.data
        customer = _customer()
        if customer is not None and customer.locale != form.locale.data:
            update_profile(customer, {"locale": form.locale.data}, request_origin(),
                           fields=("locale",))
            db.session.commit()
    return redirect(safe_next(form.next.data), 303)
