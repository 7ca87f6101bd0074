"""Hosted pages on the "web" blueprint: home, sign-up, logout and
the account page's Profile section; the login pages are in login_views.py, the account's
other sections in account_pages.py.

Views stay thin: they read the form, call a service in app/auth or app/directory, and
render or redirect. The browser's login session is app/web/login_session.py.
"""
from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from flask import Blueprint, current_app, flash, g, redirect, render_template, session, url_for
from flask_babel import get_locale, gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional

from app.auth.passwords import PasswordRejected
from app.auth.signup import SignupError, code_seconds, complete_signup, start_signup
from app.directory.customers import (LOCALE_MAX, NAME_MAX, SELF_SERVICE_PROFILE_FIELDS,
                                     CustomerError, InvalidProfileValue, update_profile)
from app.extensions import db, limiter
from app.identity.customer_ids import format_for_people
from app.oidc.connected_apps import revoke_app
from app.oidc.logout import end_sso_session, forget_login
from app.platform.i18n import NATIVE_NAMES, offered_locales
from app.web.forms import LogoutForm, SignupForm, VerifyCodeForm, valid_name
from app.web.login_session import (keep_next, login_required, request_origin, safe_next,
                                   start_logged_in, take_next, wanted_next)
from app.web.which_app import requesting_app

bp = Blueprint("web", __name__)

_SIGNUP_KEY = "signup_verification_id"
_SIGNUP_DESTINATION = "signup_destination"
#: Where sign-up ends (an app's authorization request), kept from the sign-up page's `next`.
_SIGNUP_NEXT = "signup_next"


def _signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


@bp.get("/")
def index():
    """Home: the account page when logged in, the login page otherwise."""
    return redirect(url_for("web.account" if g.login_session else "login.login"), 303)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
def signup():
    """Step 1 of sign-up: identifier and password; a code goes to the identifier."""
    form = SignupForm()
    if form.validate_on_submit():
        text = form.identifier.data.strip()
        kind = "email" if "@" in text else "phone"
        try:
            started = start_signup(text, kind, form.password.data, request_origin(),
                                   form.given_name.data, form.family_name.data,
                                   consents_given=form.communication_consents())
        except PasswordRejected as error:
            form.password.errors.append(str(error))
        except (CustomerError, SignupError) as error:
            form.identifier.errors.append(str(error))
        else:
            db.session.commit()
            session[_SIGNUP_KEY] = started.verification_id
            session[_SIGNUP_DESTINATION] = started.destination
            keep_next(_SIGNUP_NEXT)
            return redirect(url_for("web.signup_verify"), 303)
    status = 400 if form.errors else 200
    next_path = wanted_next()
    return render_template("web/signup.html", form=form, next_path=next_path,
                           app_client=requesting_app(next_path)), status


@bp.route("/signup/verify", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
def signup_verify():
    """Step 2 of sign-up: the code proves the identifier and creates the account."""
    verification_id = session.get(_SIGNUP_KEY)
    if verification_id is None:
        flash(_("Start by choosing how to sign up."))
        return redirect(url_for("web.signup"), 303)
    form = VerifyCodeForm()
    if form.validate_on_submit():
        try:
            completed = complete_signup(int(verification_id), form.code.data, request_origin(),
                                        locale=str(get_locale()))
        except SignupError as error:
            form.code.errors.append(str(error))
        else:
            # Back to the app's authorization request the customer came from, if any
            # (read before start_logged_in clears the session).
            target = safe_next(take_next(_SIGNUP_NEXT))
            response = start_logged_in(redirect(target, 303), completed.session_token)
            db.session.commit()
            return response
    status = 400 if form.errors else 200
    destination = session.get(_SIGNUP_DESTINATION) or ""
    minutes = code_seconds("phone" if destination.startswith("+") else "email") // 60
    next_path = session.get(_SIGNUP_NEXT)
    return render_template("web/signup_verify.html", form=form, destination=destination,
                           minutes=minutes, next_path=next_path,
                           app_client=requesting_app(next_path)), status


@bp.post("/logout")
def logout():
    """End the login session on the server and forget the cookie; then the login page,
    or `next` (a local path: the consent page's "Not you?" returns to the same
    authorization request, which asks the next person to log in)."""
    form = LogoutForm()
    if form.validate_on_submit() and g.login_session is not None:
        end_sso_session(g.login_session, request_origin())
        db.session.commit()
    response = forget_login(redirect(wanted_next() or url_for("login.login"), 303))
    flash(_("You have logged out."))
    return response


_NAME_LENGTH = Length(max=NAME_MAX, message=_l("Names have at most %(count)d characters.",
                                                 count=NAME_MAX))


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """The time zones a customer may choose (the server's tz database), sorted, after
    "not set"; read once per process (the zone names are not translated)."""
    return [("", _l("Not set: times are shown in UTC"))] + [
        (name, name.replace("_", " ")) for name in sorted(available_timezones())]


def language_choices(form, field) -> list[tuple[str, str]]:
    """The languages a customer may choose, read for each form: "not set" (the browser's
    language is used), then the languages this deployment offers, each in its own name.
    A stored language that is not offered (an app or support may set any language tag,
    e.g. "pt-BR") is one more choice, so it shows as chosen and a save keeps it."""
    choices = [("", _("Not set: pages use your browser's language"))] + [
        (code, NATIVE_NAMES.get(code, code)) for code in offered_locales()]
    stored = field.object_data
    if stored and stored not in {code for code, _name in choices}:
        choices.append((stored, language_name(stored)))
    return choices


def language_name(tag: str) -> str:
    """What a language tag is called in its own language ("pt-BR": "Português
    (Brasil)"), or the tag itself for a language Babel does not know."""
    try:
        name = Locale.parse(tag, sep="-").get_display_name()
    except (ValueError, TypeError, UnknownLocaleError):
        return tag
    return name[:1].upper() + name[1:] if name else tag


class ProfileForm(FlaskForm):
    """The profile members an app may read (OpenID `profile`): names, language, time zone.
    The directory (app/directory/customers.py) applies the real rules."""

    given_name = StringField(_l("Given name"), validators=[Optional(), _NAME_LENGTH, valid_name])
    middle_name = StringField(_l("Middle name"), validators=[Optional(), _NAME_LENGTH,
                                                         valid_name])
    family_name = StringField(_l("Family name"), validators=[Optional(), _NAME_LENGTH,
                                                         valid_name])
    nickname = StringField(_l("Nickname"), validators=[Optional(), _NAME_LENGTH, valid_name])
    # Both choices are checked by the directory, so a bad one gets its message at the field
    # (and a language tag an app or support set is taken back as it is).
    locale = SelectField(_l("Language"), choices=language_choices, validate_choice=False,
                         validators=[Optional(), Length(max=LOCALE_MAX, message=_l(
                             "A language tag has at most %(count)d characters.",
                             count=LOCALE_MAX))])
    zoneinfo = SelectField(_l("Time zone"), choices=time_zone_choices, validate_choice=False)
    submit = SubmitField(_l("Save profile"))

    def changes(self) -> dict[str, str | None]:
        """Each profile member as typed; empty means cleared."""
        return {name: (self[name].data or "").strip() or None
                for name in SELF_SERVICE_PROFILE_FIELDS}


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Profile: the customer ID, the profile form, usernames and linked accounts. The
    other sections are in account_pages.py; the header menu links them."""
    customer = g.login_session.customer
    # Stored values fill the form; a posted field replaces its value.
    form = ProfileForm(obj=customer)
    if form.validate_on_submit():
        try:
            changed = update_profile(customer, form.changes(), request_origin(),
                                     fields=SELF_SERVICE_PROFILE_FIELDS)
        except InvalidProfileValue as error:
            db.session.rollback()
            form[error.member].errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Your profile was saved.") if changed else
                  _("Nothing was changed: the profile already read like that."))
            return redirect(url_for("web.account"), 303)
    return render_template(
        "web/account.html", customer=customer, form=form,
        customer_id_display=format_for_people(customer.customer_id),
    ), 400 if form.errors else 200


@bp.post("/account/apps/<client_id>/revoke", endpoint="revoke_app")
@login_required
def revoke_app_access(client_id: str):
    """Withdraw one connected app's access (CSRF-checked like every POST)."""
    if revoke_app(g.login_session.customer, client_id[:48], request_origin()):
        db.session.commit()
        flash(_("That app can no longer use your account."))
    return redirect(url_for("account.sessions"), 303)
