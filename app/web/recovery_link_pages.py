"""The page behind a recovery link from support (app/auth/recovery_links.py):

    GET  /recover/link/<token>   the set-a-new-password form; never consumes the link
                                 (mail scanners and link previews open links)
    POST /recover/link/<token>   consumes it and sets the password, then to the login page

An unknown, used or expired link gets one answer, a 400 page. A password the policy
refuses is a form error and leaves the link usable. Success logs nobody in: every session
of the customer ends (this browser's cookie is dropped too) and they log in with the new
password.

The token is in the path, so it must not leak: every response here is no-store and
Referrer-Policy no-referrer (also the app-wide default, see app/web/__init__.py), and the
pages load nothing from elsewhere.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import recovery_links
from app.auth.passwords import PasswordRejected
from app.extensions import csrf, limiter
from app.oidc.logout import forget_login
from app.web.forms import PASSWORD_FIELD_MAX
from app.web.pages import request_origin

bp = Blueprint("recovery_link", __name__)


class LinkPasswordForm(FlaskForm):
    """The new password."""

    password = PasswordField("New password", validators=[
        DataRequired("Choose a new password."),
        Length(max=PASSWORD_FIELD_MAX, message="Use at most 256 characters.")])
    submit = SubmitField("Set my new password")


def _limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.after_request
def never_store_or_refer(response):
    """The token is in the URL: no cache keeps the page, no Referer carries it away."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unusable():
    return render_template("web/recovery_link_invalid.html"), 400


@bp.get(recovery_links.PATH_PREFIX + "<token>")
def show_link(token: str):
    """The form, if the link can still be used (reads only)."""
    if recovery_links.find_usable(token) is None:
        return _unusable()
    return render_template("web/recovery_link.html", form=LinkPasswordForm(), token=token)


@bp.post(recovery_links.PATH_PREFIX + "<token>")
@limiter.limit(_limit)
@csrf.exempt  # the form checks its own CSRF token, after the link: see below
def use_link(token: str):
    """Set the new password with the link (consumes it).

    The form's CSRF token is checked by the form, not before the view, so that a used or
    expired link gets the same page whatever the form says (a second POST comes from a
    browser whose session the first one cleared)."""
    form = LinkPasswordForm()
    if not form.validate_on_submit():
        if recovery_links.find_usable(token) is None:
            return _unusable()
        return render_template("web/recovery_link.html", form=form, token=token), 400
    try:
        recovery_links.use(token, form.password.data, request_origin())
    except recovery_links.LinkInvalid:
        return _unusable()
    except PasswordRejected as error:
        form.password.errors.append(str(error))
        return render_template("web/recovery_link.html", form=form, token=token), 400
    response = forget_login(redirect(url_for("web.login"), 303))
    flash("Your new password is saved and you were logged out everywhere. Log in with "
          "your new password.")
    return response
