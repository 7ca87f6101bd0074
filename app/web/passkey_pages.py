"""Account pages for passkeys: the list (with its "Add a passkey" form), the options the
browser's prompt needs, the answer that registers a passkey, renaming, and removal.

    /account/security/passkeys                     list, and add one         (GET, POST)
    /account/security/passkeys/options             the prompt's options      (POST, JSON)
    /account/security/passkeys/<id>/rename         rename one                (POST)
    /account/security/passkeys/<id>/remove         confirm, then remove one  (GET, POST)

Adding needs a login in the last few minutes, like the authenticator app; removing needs
that login to have used two factors (a passkey with user verification is two), so a
stolen password alone can neither add a passkey of its own nor strip the customer's.
The registration ceremony itself (challenge bound to this login session, excluded
credentials, checks of the answer) is app/auth/passkeys.py; app/web/static/passkeys.js
runs the browser's side. Another customer's passkey, or one already gone, is a 404.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import (Blueprint, abort, flash, g, redirect, render_template,
                   url_for)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField

from app.auth import passkeys
from app.auth.login import has_password
from app.extensions import db
from app.models import Customer, PasskeyCredential
from app.web.login_session import login_required, request_origin
from app.web.login_views import passkey_options_response
from app.web.reauth import fresh_login_required

bp = Blueprint("passkeys", __name__)


class AddPasskeyForm(FlaskForm):
    """The browser's answer (passkeys.js fills `credential`) and an optional name. No
    validators: by the time this is posted the authenticator holds the new passkey, so
    the service decides (an over-long name is shortened, not refused)."""

    credential = HiddenField()
    name = StringField(_l("Name"), render_kw={"maxlength": passkeys.NAME_MAX,
                                              "autocomplete": "off"})


class RenamePasskeyForm(FlaskForm):
    """The new name (the service trims it and refuses an empty one)."""

    name = StringField(_l("New name"))


class RemovePasskeyForm(FlaskForm):
    """Only a CSRF token: removal is a POST so other sites cannot trigger it."""

    submit = SubmitField(_l("Remove the passkey"))


@dataclass(frozen=True)
class PasskeyRow:
    """One passkey as the list shows it; dates in the customer's time zone."""

    id: int
    name: str
    synced: bool
    added: str
    last_used: str | None


@dataclass(frozen=True)
class PasskeySummary:
    """What the "Sign-in security" section shows about passkeys."""

    available: bool
    count: int


def passkey_summary(customer: Customer) -> PasskeySummary:
    """Whether passkeys work on this server and how many the customer has, for
    web/_factors.html."""
    return PasskeySummary(passkeys.available(), len(passkeys.passkeys_of(customer)))


@bp.app_context_processor
def inject_passkey_summary() -> dict:
    # A function, not a value: only pages that include the partial pay for the query.
    return {"passkey_summary": passkey_summary}


def get_passkey(customer: Customer, passkey_id: int) -> PasskeyCredential:
    """One of the customer's passkeys; 404 if it is another customer's, or gone (the same
    answer for both, so ids of other customers' passkeys cannot be probed)."""
    credential = passkeys.find(customer, passkey_id)
    if credential is None:
        abort(404)
    return credential


def _row(credential: PasskeyCredential) -> PasskeyRow:
    # format_date shows the day in the customer's zone (app/web/language.py
    # select_timezone), in the page's language.
    return PasskeyRow(credential.id, credential.name, credential.backup_eligible,
                      format_date(credential.created_at),
                      format_date(credential.last_used_at) if credential.last_used_at
                      else None)


def _list_page(customer: Customer, form: AddPasskeyForm, *, add_error: str | None = None,
               rename_id: int | None = None, rename_error: str | None = None,
               status: int = 200):
    """The list page; an error of the add form or of one rename form, if any."""
    form.credential.data = ""  # never echo an answer back: the next press must ask anew
    rows = [_row(credential) for credential in passkeys.passkeys_of(customer)]
    return render_template("web/passkeys.html", rows=rows, form=form,
                           available=passkeys.available(), add_error=add_error,
                           rename_id=rename_id, rename_error=rename_error), status


@bp.get("/account/security/passkeys")
@fresh_login_required()
def list_passkeys():
    """The customer's passkeys, each with Rename and Remove, and the form that adds one."""
    return _list_page(g.login_session.customer, AddPasskeyForm(formdata=None))


@bp.post("/account/security/passkeys/options")
@fresh_login_required()
def registration_options():
    """The options of the browser's "create a passkey" prompt, as JSON, with a challenge
    bound to this login session. Called by passkeys.js with the page's CSRF token in the
    X-CSRFToken header (CSRFProtect checks it); a refusal is {"error": message}, 400."""
    return passkey_options_response(lambda: passkeys.registration_options(
        g.login_session.customer, g.login_session.id))


@bp.post("/account/security/passkeys")
@login_required
def add_passkey():
    """Keep the passkey the browser just made; a refusal shows the list page again with
    why (the spent challenge is committed, so the same answer cannot be sent twice).

    A logged-in session is enough here: the answer must carry the challenge handed out,
    to this very session, by the options request, which needed a recent login and lives
    CHALLENGE_SECONDS. Asking for a fresh login again would send a customer who took
    their time away, leaving their device with a passkey we never stored."""
    customer = g.login_session.customer
    form = AddPasskeyForm()
    try:
        passkeys.register(customer, g.login_session.id, form.credential.data,
                          form.name.data, request_origin())
    except passkeys.PasskeyError as error:
        db.session.commit()
        return _list_page(customer, form, add_error=error.message, status=400)
    db.session.commit()
    flash(_("Passkey added. You can now log in with it."))
    return redirect(url_for("passkeys.list_passkeys"), 303)


@bp.post("/account/security/passkeys/<int:passkey_id>/rename")
@fresh_login_required()
def rename_passkey(passkey_id: int):
    """Give one of the customer's passkeys a new name."""
    customer = g.login_session.customer
    get_passkey(customer, passkey_id)
    form = RenamePasskeyForm()
    try:
        passkeys.rename(customer, passkey_id, form.name.data, request_origin())
    except passkeys.PasskeyError as error:
        db.session.rollback()
        return _list_page(customer, AddPasskeyForm(formdata=None), rename_id=passkey_id,
                          rename_error=error.message, status=400)
    db.session.commit()
    flash(_("The passkey is now called “%(name)s”.",
            name=passkeys.clean_name(form.name.data)))
    return redirect(url_for("passkeys.list_passkeys"), 303)


@bp.route("/account/security/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@fresh_login_required(second_factor=True)
def remove_passkey(passkey_id: int):
    """GET: ask to confirm (re-authentication also comes back here with a GET), warning
    a customer for whom it is the last quick way in; POST: remove it, and the customer's
    addresses are told."""
    customer = g.login_session.customer
    credential = get_passkey(customer, passkey_id)
    form = RemovePasskeyForm()
    if form.validate_on_submit():
        try:
            name = passkeys.remove(customer, passkey_id, request_origin())
        except passkeys.PasskeyError:
            db.session.rollback()
            abort(404)  # removed meanwhile (two tabs): as if it had never been
        db.session.commit()
        flash(_("The passkey “%(name)s” was removed.", name=name))
        return redirect(url_for("passkeys.list_passkeys"), 303)
    last_way_in = not has_password(customer) and len(passkeys.passkeys_of(customer)) == 1
    return render_template("web/passkey_remove.html", form=form, passkey=credential,
                           last_way_in=last_way_in)
