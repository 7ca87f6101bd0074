"""Account pages for phone numbers and email addresses: add one (proved by a code sent to
it), remove one, and the "Phones and emails" section the account page includes
(web/_identifiers.html).

    /account/phones/add      a number -> a code by SMS       (recent login needed)
    /account/phones/verify   the code -> the phone is added, verified
    /account/emails/add      an address -> a code by email   (recent login needed)
    /account/emails/verify   the code -> the email is added, verified
    /account/identifiers/<id>/remove   (POST, recent login needed)

Adding never reveals whether a number or address belongs to someone else: the asker gets
the same "we sent a code" page, and a code row bound to them whose code nobody knows, so
every later answer (wrong code, tries left) is the same too. The owner hears of it
instead: an email address gets a notice in place of the code (as at sign-up). A phone
number is different, because numbers are recycled to new subscribers: the code is texted
to whoever holds the phone now, and proving it moves the number to the prover
(customers.take_over_phone: the old binding is marked recycled and the old customer is
told by email); the owner's verified email addresses get a notice when it is asked.

The pending code's row id and the number or address it went to are kept in the signed
Flask session; the code row itself is bound to the customer, so a row id taken from
another browser proves nothing here.

The helpers at the top are plain functions (customer, text, origin), so the views stay
thin and the rules can move to a service module unchanged.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import email_codes, sms_codes
from app.directory.customers import (CustomerError, IdentifierTaken, NormalizedIdentifier,
                                     add_identifier, find_by_identifier, normalize_identifier,
                                     remove_identifier, take_over_phone, verify_identifier)
from app.extensions import db
from app.models import Customer, Identifier, PasswordCredential, VerificationCode
from app.models.phone import SUSPECT
from app.phones import bindings
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.notifications import SECURITY_NOTICES, notify_security_change
from app.providers import ProviderError, email_sender
from app.web.forms import IDENTIFIER_MAX, OneTimeCodeForm, PhoneForm
from app.web.pages import login_required, request_origin
from app.web.reauth import fresh_login_required

bp = Blueprint("identifiers", __name__)

#: Flask session keys of the pending verification: {"id": row id, "value": where it went}.
PENDING_PHONE = "pending_phone"
PENDING_EMAIL = "pending_email"

#: Kinds this page adds and removes (usernames are not managed here).
KINDS = ("phone", "email")
LABELS = {"phone": "phone number", "email": "email address"}

PHONE_CLAIM_SUBJECT = "Someone tried to add your phone number to another account"
PHONE_CLAIM_TEXT = ("Someone tried to add the phone number {phone}, which is on your "
                    "Tessera account, to another account, and a code was texted to it. "
                    "Nothing changes unless that code is typed in by whoever holds the "
                    "phone.\n\nIf you still hold this number, ignore the code and this "
                    "email. If your number has been reassigned, add your new one.")
REMOVED_ADDRESS_FOOTER = ("\n\nThis address no longer receives messages about the "
                          "account. If you did not remove it, contact support.")


class IdentifierChangeError(ValueError):
    """Adding or removing cannot go on; `message` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmailForm(FlaskForm):
    """An email address to send a code to."""

    email = StringField("Email address", validators=[
        DataRequired("Enter an email address."),
        Length(max=IDENTIFIER_MAX, message="That is too long to be an email address.")])
    submit = SubmitField("Email me a code")


class RemoveIdentifierForm(FlaskForm):
    """Only a CSRF token: removal is a POST so other sites cannot trigger it."""

    submit = SubmitField("Remove")


# ---- the rules --------------------------------------------------------------------------

def _own_identifier(customer: Customer, identifier: NormalizedIdentifier) -> Identifier | None:
    return next((row for row in customer.identifiers
                 if row.kind == identifier.kind and row.match_key == identifier.match_key),
                None)


def _normalize(kind: str, text: str) -> NormalizedIdentifier:
    try:
        return normalize_identifier(kind, text)
    except CustomerError as error:
        raise IdentifierChangeError(str(error)) from None


def _needs_reproof(customer: Customer, identifier: NormalizedIdentifier) -> bool:
    """A verified phone whose binding the phone-risk policy made suspect: the customer,
    logged in another way, proves it again with a fresh code to re-activate it."""
    if identifier.kind != "phone":
        return False
    binding = bindings.binding_of(customer, identifier.value)
    return binding is not None and binding.status == SUSPECT


def _claimed_elsewhere(customer: Customer, identifier: NormalizedIdentifier) -> Customer | None:
    """The other customer who holds `identifier`, or None (free, or the asker's own; a
    verified one of the asker's own is refused: there is nothing to prove)."""
    own = _own_identifier(customer, identifier)
    if own is not None:
        if own.verified_at is not None and not _needs_reproof(customer, identifier):
            raise IdentifierChangeError(
                f"This {LABELS[identifier.kind]} is already on your account.")
        return None  # on the account but not proved yet: the code proves it now
    owner = find_by_identifier(identifier.kind, identifier.match_key)
    return owner if owner is not None and owner.id != customer.id else None


def start_phone(customer: Customer, text: str, origin: Origin) -> tuple[int, str]:
    """Text a code to prove the phone `text` for `customer`; return (row id, E.164).

    A number on another customer's account gets the code too: whoever holds the phone
    now receives it, and proving it is how a recycled number moves to its new holder
    (see confirm). Its owner's verified emails get a notice. The pages read the same
    either way. Raises IdentifierChangeError with a message for the form.
    """
    identifier = _normalize("phone", text)
    owner = _claimed_elsewhere(customer, identifier)
    try:
        sent = sms_codes.send_code(sms_codes.VERIFY_PHONE, identifier.value, origin,
                                   customer=customer)
    except sms_codes.SmsCodeError as error:
        raise IdentifierChangeError(error.message) from None
    if owner is not None:
        record_event("identifier.attempted_existing", origin, owner.customer_id, kind="phone")
        db.session.commit()
        _tell_owner_by_email(owner, PHONE_CLAIM_SUBJECT,
                             PHONE_CLAIM_TEXT.format(phone=identifier.value))
    return sent.verification_id, identifier.value


def start_email(customer: Customer, text: str, origin: Origin) -> tuple[int, str]:
    """Email a code to prove the address `text` for `customer`; return (row id, address).

    An address of another customer gets a notice instead of the code, under the same
    limits. Raises IdentifierChangeError with a message for the form.
    """
    identifier = _normalize("email", text)
    owner = _claimed_elsewhere(customer, identifier)
    try:
        verification_id = email_codes.send_email_code(
            identifier.value, origin, customer=customer, owner_notice=owner is not None)
    except email_codes.EmailCodeError as error:
        raise IdentifierChangeError(error.message) from None
    if owner is not None:
        record_event("identifier.attempted_existing", origin, owner.customer_id, kind="email")
        db.session.commit()
    return verification_id, identifier.value


def confirm(customer: Customer, kind: str, verification_id: int, value: str, code: str,
            origin: Origin) -> Identifier:
    """Check the code sent to `value` and add it to `customer` as a verified identifier
    (or mark their unverified one verified), in one transaction; then notify the
    customer's verified addresses. Raises IdentifierChangeError; nothing changes then
    (beyond the code's attempt count)."""
    try:
        if kind == "phone":
            sms_codes.normalize_code(code)
        else:
            email_codes.normalize_code(code)
    except (sms_codes.SmsCodeError, email_codes.EmailCodeError) as error:
        raise IdentifierChangeError(error.message) from None
    identifier = _normalize(kind, value)
    row = db.session.get(VerificationCode, verification_id)
    # The code must have gone to this very number or address: the session's pair is
    # checked against the row before any attempt is spent.
    if row is None or row.kind != kind or row.match_key != identifier.match_key:
        raise IdentifierChangeError(email_codes.EXPIRED_MESSAGE)
    try:
        if kind == "phone":
            sms_codes.check_code(verification_id, code, origin,
                                 purpose=sms_codes.VERIFY_PHONE, customer=customer)
        else:
            email_codes.check_email_code(verification_id, code, origin, customer=customer)
    except (sms_codes.SmsCodeError, email_codes.EmailCodeError) as error:
        raise IdentifierChangeError(error.message) from None

    own = _own_identifier(customer, identifier)
    if (own is not None and own.verified_at is not None
            and not _needs_reproof(customer, identifier)):
        raise IdentifierChangeError(f"This {LABELS[kind]} is already on your account.")
    previous_owner = None
    try:
        if own is not None:
            verify_identifier(own, origin)
            bound = own
        elif kind == "phone":
            # Possession of the phone, just proved, wins over a stale binding elsewhere.
            bound, previous_owner = take_over_phone(customer, identifier, origin)
        else:
            bound = add_identifier(customer, identifier, origin, verified=True)
    except IdentifierTaken:
        # Someone else holds it (it was never free, or it was added after the code went).
        db.session.rollback()
        raise IdentifierChangeError("This code is no longer valid. Ask for a new one.") from None
    except CustomerError as error:
        db.session.rollback()
        raise IdentifierChangeError(str(error)) from None
    db.session.commit()
    notify_security_change(customer, f"{kind}_added", identifier.value)
    # A previous owner was told by bindings.mark_recycled when this committed.
    return bound


def can_log_in_without(customer: Customer, removing: Identifier) -> bool:
    """Whether `customer` can still log in once `removing` is gone: any identifier with
    the password, or a verified phone we can text a login code to."""
    remaining = [row for row in customer.identifiers if row.id != removing.id]
    if remaining and db.session.get(PasswordCredential, customer.id) is not None:
        return True
    for row in remaining:
        if row.kind == "phone" and row.verified_at is not None:
            try:
                check_sms_destination(row.value)
            except SmsNotAllowed:
                continue
            return True
    return False


def remove(customer: Customer, identifier_id: int,
           origin: Origin) -> NormalizedIdentifier | None:
    """Remove the customer's own phone or email `identifier_id` and notify them; return
    what was removed.

    Returns None when there is no such identifier of theirs (the view answers 404, the
    same as for another customer's). Raises IdentifierChangeError when it is the last
    way to log in.
    """
    # Lock the customer row (PostgreSQL) so two concurrent removals cannot each leave
    # the other's identifier as "the remaining one" and together remove both.
    db.session.refresh(customer, with_for_update=True)
    identifier = next((row for row in customer.identifiers
                       if row.id == identifier_id and row.kind in KINDS), None)
    if identifier is None:
        db.session.rollback()
        return None
    if not can_log_in_without(customer, identifier):
        db.session.rollback()
        raise IdentifierChangeError(
            f"This {LABELS[identifier.kind]} is the last way you can log in. "
            "Add another phone or email first.")
    kind, value, was_verified = identifier.kind, identifier.value, identifier.verified_at
    # A plain copy: the row is deleted and expired by the commit.
    removed = NormalizedIdentifier(kind, value, identifier.match_key)
    try:
        remove_identifier(identifier, origin)
    except CustomerError as error:
        db.session.rollback()
        raise IdentifierChangeError(str(error)) from None
    db.session.commit()
    notify_security_change(customer, f"{kind}_removed", value)
    if kind == "email" and was_verified:
        # The removed address is no longer among the recipients, yet its owner should
        # hear of it most of all: an attacker removes the address that would warn them.
        subject, first_line = SECURITY_NOTICES["email_removed"]
        _send_email(value, subject, first_line.format(detail=value) + REMOVED_ADDRESS_FOOTER)
    return removed


def _tell_owner_by_email(owner: Customer, subject: str, body: str) -> None:
    """Email every verified address of `owner`; failures are logged, never raised (the
    asker must see the same page whatever happens here)."""
    for row in owner.identifiers:
        if row.kind == "email" and row.verified_at is not None:
            _send_email(row.value, subject, body)


def _send_email(address: str, subject: str, body: str) -> None:
    try:
        email_sender().send(address, subject, body)
    except ProviderError as error:
        current_app.logger.warning("notice not sent: %s", error.reason)


# ---- the pages ---------------------------------------------------------------------------

_PENDING = {"phone": PENDING_PHONE, "email": PENDING_EMAIL}


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
            form[field].errors.append(error.message)
        else:
            session[_PENDING[kind]] = {"id": verification_id, "value": value}
            return redirect(url_for(f"identifiers.verify_{kind}"), 303)
    return render_template("web/identifier_add.html", form=form, kind=kind, field=field,
                           label=LABELS[kind]), 400 if form.errors else 200


def _verify(kind: str):
    """The verify page of `kind`: the code adds the pending number or address."""
    pending = session.get(_PENDING[kind])
    if not (isinstance(pending, dict) and isinstance(pending.get("id"), int)
            and isinstance(pending.get("value"), str)):
        flash(f"Start by giving the {LABELS[kind]} to add.")
        return redirect(url_for(f"identifiers.add_{kind}"), 303)
    form = OneTimeCodeForm()
    if form.validate_on_submit():
        try:
            confirm(g.login_session.customer, kind, pending["id"], pending["value"],
                    form.code.data, request_origin())
        except IdentifierChangeError as error:
            form.code.errors.append(error.message)
        else:
            session.pop(_PENDING[kind], None)
            flash(f"The {LABELS[kind]} {pending['value']} was added to your account.")
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
        flash("You have confirmed it's you. Press Remove again to remove it.")
        return redirect(url_for("web.account"), 303)
    try:
        removed = remove(customer, identifier_id, request_origin())
    except IdentifierChangeError as error:
        flash(error.message)
        return redirect(url_for("web.account"), 303)
    if removed is None:
        abort(404)
    flash(f"The {LABELS[removed.kind]} {removed.value} was removed from your account.")
    return redirect(url_for("web.account"), 303)
