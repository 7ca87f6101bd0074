"""TOTP authenticator apps (RFC 6238): enrolment, verification at login, removal.

The secret is sealed at rest (app/platform/crypto.py) with the customer as context, so a sealed
secret copied to another customer's row does not open there. An enrolment is pending
(`confirmed_at` is None) until the customer proves their app holds the secret by typing a
first code; only a confirmed credential is a login factor.

pyotp's `TOTP.verify` accepts the same code twice within its window. We find the matching
time step ourselves and claim it with one conditional UPDATE (`last_used_step < step`), so
a code works once, a code of an earlier step never works after a later one, and of many
concurrent submissions of one code exactly one wins, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

import pyotp
import segno
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.auth import recovery_codes, support
from app.directory.customers import bump_version
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, RecoveryCode, TotpCredential, utcnow
from app.platform.audit import Origin, record_event
from app.platform.crypto import seal, unseal
from app.platform.messages import brand_name
from app.platform.notifications import notify_security_change_after_commit

DIGITS = 6
PERIOD = 30
#: Steps of clock drift accepted either side of now (RFC 6238 section 5.2 suggests one).
VALID_WINDOW = 1

WRONG_CODE = _l("That code is not right. Check the time on your phone and try again.")
# Longer input is refused before any other work: nobody types 17 characters for 6 digits.
_MAX_INPUT = 16
_CODE_RE = re.compile(rf"[0-9]{{{DIGITS}}}")


class TotpError(ValueError):
    """An authenticator app change was refused; the message is safe to show."""


@dataclass(frozen=True)
class Enrolment:
    """What the customer needs to add the app: the secret (base32), its otpauth:// URI,
    and that URI as an inline SVG QR code (markup without an XML declaration)."""

    secret: str
    uri: str
    qr_svg: str


def _context(customer: Customer) -> str:
    return f"totp:{customer.id}"


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)


def _enrolment(customer: Customer, secret: str) -> Enrolment:
    # The label shows in the app's list; the grouped customer ID is what support asks
    # for, and unlike an email it never changes.
    uri = _totp(secret).provisioning_uri(name=format_for_people(customer.customer_id),
                                         issuer_name=brand_name())
    qr_svg = segno.make(uri, error="m").svg_inline(
        scale=4, light="#fff", title=_("QR code for your authenticator app"))
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg)


def _current_step() -> int:
    return int(utcnow().timestamp()) // PERIOD


def _normalise(code: str | None) -> str | None:
    """Six ASCII digits from what was typed (apps show "123 456"), or None."""
    if not isinstance(code, str) or len(code) > _MAX_INPUT:
        return None
    compact = "".join(code.split())
    return compact if _CODE_RE.fullmatch(compact) else None


def _matching_step(secret: str, code: str) -> int | None:
    """The latest step within the window whose code is `code`, or None. Every candidate
    is compared, in constant time, so the time taken does not say which step matched."""
    totp = _totp(secret)
    now = _current_step()
    matched = None
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


def _credential(customer: Customer, *, confirmed: bool | None = None) -> TotpCredential | None:
    query = select(TotpCredential).where(TotpCredential.customer_pk == customer.id)
    if confirmed is True:
        query = query.where(TotpCredential.confirmed_at.is_not(None))
    elif confirmed is False:
        query = query.where(TotpCredential.confirmed_at.is_(None))
    return db.session.execute(query).scalar_one_or_none()


def move_confirmed_app(source: Customer, target: Customer) -> bool:
    """Give `source`'s confirmed authenticator app to `target` (a merge), its secret
    sealed again with `target` as context, since a sealed secret opens only for the
    customer it was sealed for. False if `source` has none. The caller commits."""
    credential = _credential(source, confirmed=True)
    if credential is None:
        return False
    resealed = seal(unseal(credential.secret_sealed, _context(source)), _context(target))
    db.session.execute(
        update(TotpCredential).where(TotpCredential.customer_pk == source.id)
        .values(customer_pk=target.id, secret_sealed=resealed)
        .execution_options(synchronize_session=False))
    db.session.expire(credential)
    return True


def has_totp(customer: Customer) -> bool:
    """Whether the customer has a confirmed authenticator app (a login factor)."""
    return _credential(customer, confirmed=True) is not None


def begin_enrolment(customer: Customer) -> Enrolment:
    """Start (or restart) adding an app: a new secret replaces any pending one.

    Refused with TotpError while a confirmed app exists: replacing it would silently
    drop a factor, so the customer removes it first. The caller commits.
    """
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    sealed = seal(secret.encode(), _context(customer))
    replaced = db.session.execute(
        update(TotpCredential)
        .where(TotpCredential.customer_pk == customer.id, TotpCredential.confirmed_at.is_(None))
        .values(secret_sealed=sealed, created_at=utcnow(), last_used_step=None)
    ).rowcount
    if not replaced:
        if has_totp(customer):
            raise TotpError(_("An authenticator app is already set up. Remove it first to "
                              "set up another."))
        try:
            with db.session.begin_nested():
                db.session.add(TotpCredential(customer_pk=customer.id, secret_sealed=sealed))
        except IntegrityError:
            # Another request created one between our UPDATE and INSERT (the savepoint
            # is rolled back; the caller does not commit).
            raise TotpError(_("The authenticator app setup changed meanwhile. Reload the "
                              "page and try again.")) from None
    return _enrolment(customer, secret)


def pending_enrolment(customer: Customer) -> Enrolment | None:
    """The pending enrolment's secret again (a reload shows the same QR code), or None."""
    credential = _credential(customer, confirmed=False)
    if credential is None:
        return None
    secret = unseal(credential.secret_sealed, _context(customer)).decode()
    return _enrolment(customer, secret)


def confirm_enrolment(customer: Customer, code: str, origin: Origin) -> list[str]:
    """Finish adding the app with a first code from it; return the new recovery codes.

    In one transaction: the credential is confirmed with the code's time step recorded
    (so this code cannot then log in), a new set of recovery codes replaces any old one,
    support's "configure_totp" required action is cleared, and "totp.enrolled" is
    audited; the caller commits, and the customer is notified once it has. A wrong or
    malformed code raises TotpError and writes nothing.
    """
    credential = _credential(customer, confirmed=False)
    if credential is None:
        if has_totp(customer):
            raise TotpError(_("An authenticator app is already set up."))
        raise TotpError(_("This setup has expired. Scan the new QR code and try again."))
    normalised = _normalise(code)
    secret = unseal(credential.secret_sealed, _context(customer)).decode()
    step = _matching_step(secret, normalised) if normalised else None
    if step is None:
        raise TotpError(str(WRONG_CODE))
    # Conditional on the very secret we checked: a concurrent restart or confirmation
    # makes this match no row, and nothing is written.
    confirmed = db.session.execute(
        update(TotpCredential)
        .where(TotpCredential.customer_pk == customer.id,
               TotpCredential.confirmed_at.is_(None),
               TotpCredential.secret_sealed == credential.secret_sealed)
        .values(confirmed_at=utcnow(), last_used_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if confirmed != 1:
        raise TotpError(_("The authenticator app setup changed meanwhile. Reload the page "
                          "and try again."))
    codes = recovery_codes.generate(customer, origin)
    support.clear_required_action(customer, support.CONFIGURE_TOTP)
    bump_version(customer)  # support's view of the factors changed
    record_event("totp.enrolled", origin, customer.customer_id)
    notify_security_change_after_commit(customer, "totp_added")
    return codes


def verify_totp(customer: Customer, code: str) -> bool:
    """True if `code` is the customer's current code (within one step of drift) and its
    step was not used before; the step is then claimed and committed.

    It commits itself, whatever the caller does next: the claimed step must stand at once,
    so the same code replayed in a concurrent request (or after this one fails) is refused.

    Malformed input returns False without touching the database. Failure counting and
    backoff belong to the caller (the login flow), which also audits the login.
    """
    normalised = _normalise(code)
    if normalised is None:
        return False
    credential = _credential(customer, confirmed=True)
    if credential is None:
        return False
    secret = unseal(credential.secret_sealed, _context(customer)).decode()
    step = _matching_step(secret, normalised)
    if step is None:
        return False
    claimed = db.session.execute(
        update(TotpCredential)
        .where(TotpCredential.customer_pk == customer.id,
               TotpCredential.confirmed_at.is_not(None),
               (TotpCredential.last_used_step.is_(None))
               | (TotpCredential.last_used_step < step))
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


def remove_totp(customer: Customer, origin: Origin) -> None:
    """Remove the customer's app and its recovery codes and audit "totp.removed"; the
    caller commits, and the customer is notified once it has. TotpError (nothing
    written) if no app is set up."""
    removed = db.session.execute(
        delete(TotpCredential)
        .where(TotpCredential.customer_pk == customer.id,
               TotpCredential.confirmed_at.is_not(None))
        .execution_options(synchronize_session=False)
    ).rowcount
    if removed != 1:
        raise TotpError(_("No authenticator app is set up."))
    codes = db.session.execute(
        delete(RecoveryCode).where(RecoveryCode.customer_pk == customer.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    bump_version(customer)
    record_event("totp.removed", origin, customer.customer_id, recovery_codes_deleted=codes)
    notify_security_change_after_commit(customer, "totp_removed")
