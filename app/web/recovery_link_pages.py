"""The page behind a recovery link from support (app/auth/recovery_links.py):

    GET  /recover/link/<token>   moves the token into a short-lived cookie and redirects
                                 to /recover/link; never consumes the link (mail scanners
                                 and link previews open links)
    GET  /recover/link           the set-a-new-password form, for the link in the cookie
    POST /recover/link           consumes it and sets the password, then to the login page

Only the first request carries the token in its URL: the form page and the POST that
uses the link do not, so the token is not in their access-log lines, browser history
entries or Referer headers. The cookie is HttpOnly, SameSite=Lax, lives no longer than
the link, and is `__Host-` prefixed (Secure, whole host, no Domain) when the issuer is
https. Limit: the first GET's own access-log line still holds the token, so access logs
are still to be kept as secret as the links (15 minutes by default).

An unknown, used or expired link gets one answer, a 400 page. A password the policy
refuses is a form error and leaves the link usable. Success logs nobody in: every session
of the customer ends (this browser's cookie is dropped too) and they log in with the new
password. Every response here is no-store and Referrer-Policy no-referrer (also the
app-wide default, see app/web/__init__.py), and the pages load nothing from elsewhere.
"""
from __future__ import annotations

from datetime import datetime

from flask import (Blueprint, current_app, flash, redirect, render_template, request, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import recovery_links
from app.auth.passwords import PasswordRejected
from app.extensions import csrf, db, limiter
from app.models import utcnow
from app.oidc.logout import forget_login
from app.web.forms import PASSWORD_FIELD_MAX
from app.web.login_session import request_origin

bp = Blueprint("recovery_link", __name__)

#: The form's path: the link's path without the token.
FORM_PATH = recovery_links.PATH_PREFIX.rstrip("/")
COOKIE_NAME = "tessera_recovery_link"


class LinkPasswordForm(FlaskForm):
    """The new password."""

    password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a new password.")),
        Length(max=PASSWORD_FIELD_MAX, message=_l("Use at most 256 characters."))])
    submit = SubmitField(_l("Set my new password"))


def _limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.after_request
def never_store_or_refer(response):
    """The token is in the first URL and in the cookie: no cache keeps a page, no Referer
    carries anything away."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def link_cookie() -> tuple[str, str, bool]:
    """(name, path, secure) of the cookie that holds the link's token: `__Host-` prefixed
    on an https issuer (the browser then refuses it unless Secure, Path=/ and host-only,
    so no sibling subdomain can plant or overwrite it); else scoped to the form's path."""
    if str(current_app.config["ISSUER"]).startswith("https://"):
        return "__Host-" + COOKIE_NAME, "/", True
    return COOKIE_NAME, FORM_PATH, False


def _with_token_cookie(response, token: str, expires_at: datetime):
    name, path, secure = link_cookie()
    seconds = max(1, int((expires_at - utcnow()).total_seconds()))
    response.set_cookie(name, token, max_age=seconds, path=path, secure=secure,
                        httponly=True, samesite="Lax")
    return response


def _without_token_cookie(response):
    name, path, secure = link_cookie()
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="Lax")
    return response


def _cookie_token() -> str | None:
    return request.cookies.get(link_cookie()[0])


def _unusable():
    return _without_token_cookie(
        current_app.make_response((render_template("web/recovery_link_invalid.html"), 400)))


def _form_page(form: LinkPasswordForm, status: int = 200):
    return render_template("web/recovery_link.html", form=form), status


@bp.get(recovery_links.PATH_PREFIX + "<token>")
def open_link(token: str):
    """Exchange the token in the URL for the cookie, then show the form at a URL without
    it (reads only: a scanner that opens the link uses nothing up)."""
    link = recovery_links.find_usable(token)
    if link is None:
        return _unusable()
    return _with_token_cookie(redirect(url_for("recovery_link.show_form"), 303), token,
                              link.expires_at)


@bp.get(FORM_PATH)
def show_form():
    """The form, if the link in the cookie can still be used (reads only)."""
    if recovery_links.find_usable(_cookie_token()) is None:
        return _unusable()
    return _form_page(LinkPasswordForm())


@bp.post(FORM_PATH)
@limiter.limit(_limit)
@csrf.exempt  # the form checks its own CSRF token, after the link: see below
def use_link():
    """Set the new password with the link in the cookie (consumes it).

    The form's CSRF token is checked by the form, not before the view, so that a used or
    expired link gets the same page whatever the form says (a second POST comes from a
    browser whose session the first one cleared)."""
    token = _cookie_token()
    form = LinkPasswordForm()
    if not form.validate_on_submit():
        if recovery_links.find_usable(token) is None:
            return _unusable()
        return _form_page(form, 400)
    try:
        recovery_links.use(token or "", form.password.data, request_origin())
    except recovery_links.LinkInvalid:
        return _unusable()
    except PasswordRejected as error:
        form.password.errors.append(str(error))
        return _form_page(form, 400)
    db.session.commit()
    response = _without_token_cookie(forget_login(redirect(url_for("login.login"), 303)))
    flash(_("Your new password is saved and you were logged out everywhere. Log in with "
            "your new password."))
    return response
