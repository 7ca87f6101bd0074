"""Account pages for phone numbers and email addresses: add one (proved by a code sent to
it), remove one, and the "Phones and emails" section the account page includes
(web/_identifiers.html).

    /account/phones/add      a number -> a code by SMS       (recent login needed)
    /account/phones/verify   the code -> the phone is added, verified
    /account/emails/add      an address -> a code by email   (recent login needed)
    /account/emails/verify   the code -> the email is added, verified
    /account/identifiers/<id>/remove   (POST, recent login needed)

The rules (what may be added or removed, who hears of it, never revealing another
customer's number or address) are app/directory/identifier_changes.py's, shared with the
admin API; these views parse the form, call it, commit once and answer.

The pending code's row id and the number or address it went to are kept in the signed
Flask session; the code row itself is bound to the customer, so a row id taken from
another browser proves nothing here.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.directory.identifier_changes import (LABELS, IdentifierChangeError, confirm, remove,
                                              start_email, start_phone)
from app.extensions import db
from app.web.forms import IDENTIFIER_MAX, OneTimeCodeForm, PhoneForm
from app.web.login_session import login_required, request_origin
from app.web.reauth import fresh_login_required

bp = Blueprint("identifiers", __name__)

#: Flask session keys of the pending verification: {"id": row id, "value": where it went}.
PENDING_PHONE = "pending_phone"
PENDING_EMAIL = "pending_email"

#: Kinds this page adds and removes (usernames are not managed here).
KINDS = ("phone", "email")


class EmailForm(FlaskForm):
    """An email address to send a code to."""

    email = StringField(_l("Email address"), validators=[
        DataRequired(_l("Enter an email address.")),
        Length(max=IDENTIFIER_MAX, message=_l("That is too long to be an email address."))])
    submit = SubmitField(_l("Email me a code"))


class RemoveIdentifierForm(FlaskForm):
    """Only a CSRF token: removal is a POST so other sites cannot trigger it."""

    submit = SubmitField(_l("Remove"))


# ---- the pages ---------------------------------------------------------------------------

_PENDING = {"phone": PENDING_PHONE, "email": PENDING_EMAIL}


def _added_message(kind: str, value: str) -> str:
    """What the account page says once a phone or an email is added (one sentence per
    kind: the words around the value differ between languages)."""
    if kind == "phone":
        return _("The phone number %(value)s was added to your account.", value=value)
    return _("The email address %(value)s was added to your account.", value=value)


def _removed_message(kind: str, value: str) -> str:
    """What the account page says once a phone or an email is removed."""
    if kind == "phone":
        return _("The phone number %(value)s was removed from your account.", value=value)
    return _("The email address %(value)s was removed from your account.", value=value)


def _code_minutes(kind: str) -> int:
    setting = "SMS_CODE_SECONDS" if kind == "phone" else "VERIFICATION_CODE_SECONDS"
    return int(current_app.config[setting]) // 60


def _add(kind: str, form: FlaskForm, field: str):
    """The add page of `kind`: on a valid POST, send the code and go to verify. A GET
    may pre-fill the field (`?value=`, the partial's "Confirm" link)."""
    if request.method == "GET" and request.args.get("value"):
        form[field].data = request.args["value"][:IDENTIFIER_MAX]
    if form.validate_on_submit():
        start = start_phone if kind == "phone" else start_email
        try:
            verification_id, value = start(g.login_session.customer, form[field].data,
                                           request_origin())
        except IdentifierChangeError as error:
            db.session.rollback()
            form[field].errors.append(error.message)
        else:
            db.session.commit()
            session[_PENDING[kind]] = {"id": verification_id, "value": value}
            return redirect(url_for(f"identifiers.verify_{kind}"), 303)
    return render_template("web/identifier_add.html", form=form, kind=kind, field=field,
                           label=LABELS[kind]), 400 if form.errors else 200


def _verify(kind: str):
    """The verify page of `kind`: the code adds the pending number or address."""
    pending = session.get(_PENDING[kind])
    if not (isinstance(pending, dict) and isinstance(pending.get("id"), int)
            and isinstance(pending.get("value"), str)):
        flash(_("Start by giving the phone number to add.") if kind == "phone"
              else _("Start by giving the email address to add."))
        return redirect(url_for(f"identifiers.add_{kind}"), 303)
    form = OneTimeCodeForm()
    if form.validate_on_submit():
        try:
            confirm(g.login_session.customer, kind, pending["id"], pending["value"],
                    form.code.data, request_origin())
        except IdentifierChangeError as error:
            db.session.rollback()
            form.code.errors.append(error.message)
        else:
            db.session.commit()
            session.pop(_PENDING[kind], None)
            flash(_added_message(kind, pending["value"]))
            return redirect(url_for("web.account"), 303)
    return render_template("web/identifier_verify.html", form=form, kind=kind,
                           label=LABELS[kind], destination=pending["value"],
                           minutes=_code_minutes(kind)), 400 if form.errors else 200


@bp.route("/account/phones/add", methods=["GET", "POST"])
@fresh_login_required()
def add_phone():
    """A phone number to add: a code is texted to it."""
    return _add("phone", PhoneForm(), "phone")


@bp.route("/account/phones/verify", methods=["GET", "POST"])
@login_required
def verify_phone():
    """The texted code: the phone is added, verified.

    A recent login is checked when the code is sent, not here: logging in again would
    start a new browser session and lose the pending code, and the code lives only
    minutes anyway."""
    return _verify("phone")


@bp.route("/account/emails/add", methods=["GET", "POST"])
@fresh_login_required()
def add_email():
    """An email address to add: a code is emailed to it."""
    return _add("email", EmailForm(), "email")


@bp.route("/account/emails/verify", methods=["GET", "POST"])
@login_required
def verify_email():
    """The emailed code: the address is added, verified (see verify_phone on freshness)."""
    return _verify("email")


@bp.route("/account/identifiers/<int:identifier_id>/remove", methods=["GET", "POST"])
@fresh_login_required()
def remove_identifier_page(identifier_id: int):
    """POST: remove one of the customer's phones or emails. GET answers only because
    re-authentication comes back here with a GET: it asks to press Remove again."""
    customer = g.login_session.customer
    if not RemoveIdentifierForm().validate_on_submit():
        # A GET (back from logging in again). The CSRF check of a POST is global
        # (CSRFProtect), so a POST without a token never reaches this view.
        if not any(row.id == identifier_id and row.kind in KINDS
                   for row in customer.identifiers):
            abort(404)
        flash(_("You have confirmed it's you. Press Remove again to remove it."))
        return redirect(url_for("web.account"), 303)
    try:
        removed = remove(customer, identifier_id, request_origin(), kinds=KINDS)
    except IdentifierChangeError as error:
        db.session.rollback()
        flash(str(error.message))  # str: the session keeps plain text
        return redirect(url_for("web.account"), 303)
    if removed is None:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_removed_message(removed.kind, removed.value))
    return redirect(url_for("web.account"), 303)
