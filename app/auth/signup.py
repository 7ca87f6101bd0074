"""Sign-up with an email or phone and a password, proved by a one-time code.

Sign-up never reveals whether an identifier is taken: it always answers "we sent you a
code". A free identifier receives the code; a taken one receives a notice telling its owner
that someone tried to sign up with it (so the owner learns, the stranger does not). Either
way a code row exists whose code the stranger cannot know, and the same work is done
(one argon2 hash), so the answer and its timing match.

Communication consents ticked on the sign-up page (marketing by email or SMS, optional,
unticked by default) travel in the code's payload with the version of the words shown,
and are recorded (source "signup") in the transaction that creates the account. An
unticked box records nothing: never asked is not granted. If the words changed between
the two steps, that consent is dropped: the customer never saw the words in force.

Codes: 6 digits from `secrets`, stored as a keyed hash, valid VERIFICATION_CODE_SECONDS,
single use, dead after VERIFICATION_CODE_MAX_ATTEMPTS wrong tries. Attempts are counted by
an atomic UPDATE before comparing, so concurrent guesses cannot exceed the limit, and a
code is consumed by a conditional UPDATE, so it cannot be spent twice. Wrong codes also
count per address or number (app/auth/throttle.py, `code_kind`), across restarts of
sign-up and shared with the other codes sent there, with the login backoff.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.auth import one_time_codes, passwords, throttle
from app.auth.code_sender import HASH_PURPOSE
from app.auth.levels import ACR_SINGLE_FACTOR, AMR_PASSWORD
from app.auth.send_limits import LimitReached, release, reserve, sms_limits
from app.auth.sessions import start_session
from app.directory import communication_consents
from app.directory.customers import (CustomerError, IdentifierTaken, add_identifier,
                                     create_customer, find_by_identifier, normalize_identifier,
                                     normalize_name)
from app.extensions import db
from app.identity import customer_ids
from app.models import Customer, PasswordCredential, VerificationCode, utcnow
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.faults import LimitsUnavailable
from app.platform.keyed_hash import keyed_hash, matches
from app.platform.messages import brand_name, compose_email, sms_text
from app.platform.notifications import send_welcome_after_commit
from app.providers import email_sender, sms_sender
from app.providers.base import ProviderError

PURPOSE = "signup"
# Sign-up messages one destination receives per hour at most, whoever asks.
MESSAGES_PER_DESTINATION_PER_HOUR = 5


class SignupError(ValueError):
    """Sign-up cannot go on; the message is safe to show."""


@dataclass(frozen=True)
class SignupStarted:
    """A pending sign-up: the code's id (kept in the browser's signed cookie) and where the
    code went, as the customer typed it (normalised)."""

    verification_id: int
    destination: str
    kind: str


@dataclass(frozen=True)
class SignupCompleted:
    """The new customer and the session token for their cookie."""

    customer: Customer
    session_token: str


def start_signup(identifier_text: str, kind: str, password: str, origin: Origin,
                 given_name: str | None = None, family_name: str | None = None, *,
                 consents_given: Iterable[tuple[str, str]] = ()) -> SignupStarted:
    """Check the input, hash the password and send a code (or, if the identifier is taken,
    a notice to its owner). `consents_given`: the (channel, purpose) of each communication
    consent ticked, recorded once the account exists. Raise CustomerError or
    PasswordRejected for bad input.

    The code row (its hash) is committed before anything is sent, so a code never goes
    out that the database lacks; the caller commits the rest (the row's sent time)."""
    if kind not in ("email", "phone"):
        raise CustomerError(_("Sign up with an email address or a phone number."))
    consents = _consents_payload(consents_given)
    identifier = normalize_identifier(kind, identifier_text)
    if kind == "phone":
        try:
            check_sms_destination(identifier.value)
        except SmsNotAllowed as error:
            raise CustomerError(str(error)) from None
    given_name, family_name = normalize_name(given_name), normalize_name(family_name)
    password = passwords.check_policy(password, [identifier.value, given_name or "",
                                                 family_name or ""])
    password_hash = passwords.hash_password(password)

    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    owner = find_by_identifier(identifier.kind, identifier.match_key)
    recent = db.session.execute(
        select(func.count()).select_from(VerificationCode).where(
            VerificationCode.purpose == PURPOSE,
            VerificationCode.match_key == identifier.match_key,
            VerificationCode.created_at > now - timedelta(hours=1))
    ).scalar_one()
    verification = VerificationCode(
        purpose=PURPOSE, kind=identifier.kind, destination=identifier.value,
        match_key=identifier.match_key,
        # A taken identifier gets a code no one is ever told.
        code_hash=keyed_hash(HASH_PURPOSE, secrets.token_hex(16) if owner else code),
        expires_at=now + timedelta(seconds=code_seconds(identifier.kind)),
        payload={"password_hash": password_hash, "given_name": given_name,
                 "family_name": family_name, "communication_consents": consents},
    )
    db.session.add(verification)
    if owner is not None:
        record_event("signup.attempted_existing", origin, owner.customer_id, kind=identifier.kind)
    db.session.commit()

    if recent < MESSAGES_PER_DESTINATION_PER_HOUR:
        _deliver(verification, owner, code, origin)
    return SignupStarted(verification.id, identifier.value, identifier.kind)


def _deliver(verification: VerificationCode, owner: Customer | None, code: str,
             origin: Origin) -> None:
    """Send the code (or, to an owner, the notice) within the SMS send limits. A limit or
    a provider failure raises SignupError, the same whoever owns the identifier, and the
    code row is expired: nobody received it. That expiry (and the failure's audit event)
    is committed here, since the caller renders the error without committing; a sent
    code's sent time is committed by the caller."""
    kind, destination = verification.kind, verification.destination
    reservation = None
    try:
        if kind == "phone":
            reservation = reserve(sms_limits(destination, origin.ip))
        if owner is not None:
            _send_existing_account_notice(kind, destination)
        else:
            _send_code(kind, destination, code)
    except LimitReached as error:
        verification.expires_at = utcnow()
        db.session.commit()
        raise SignupError(_("Too many codes were sent to this number or from here. "
                            "Try again later.")) from error
    except LimitsUnavailable as error:
        verification.expires_at = utcnow()
        db.session.commit()
        raise SignupError(_("Text messages cannot be sent right now. Try again later.")) \
            from error
    except ProviderError as error:
        if reservation is not None:
            release(reservation)
        verification.expires_at = utcnow()
        record_event("sms.failed" if kind == "phone" else "email.failed", origin,
                     owner.customer_id if owner else None, purpose=PURPOSE,
                     provider=error.provider, reason=error.reason)
        db.session.commit()
        raise SignupError(error.message) from error
    verification.sent_at = utcnow()


def code_seconds(kind: str) -> int:
    """How long a sign-up code lives: SMS codes are shorter-lived than emailed ones."""
    setting = "SMS_CODE_SECONDS" if kind == "phone" else "VERIFICATION_CODE_SECONDS"
    return int(current_app.config[setting])


def complete_signup(verification_id: int, code: str, origin: Origin,
                    locale: str | None = None) -> SignupCompleted:
    """Prove the code and create the customer, its verified identifier and password, and
    log them in; the caller commits, and the welcome message goes once it has. `locale`
    is the language the customer signed up in: saved as their profile's (the ID token's
    `locale`, the language of what we send them). Raise
    SignupError with a message otherwise; nothing is half-created (the caller does not
    commit after an error). The attempt counts are committed as they are made
    (one_time_codes.count_attempt), and a throttled attempt's audit event here, so they
    survive the error."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise SignupError(_("Enter the 6-digit code we sent you."))
    verification = db.session.get(VerificationCode, verification_id)
    if verification is None or verification.purpose != PURPOSE:
        raise SignupError(_("This code has expired or was tried too often. Start again."))
    # The failure count per address or number (shared with the SMS login codes and the
    # codes that prove an email): starting sign-up again sends a new code but does not
    # reset it, so a stranger cannot keep guessing codes for a mailbox they do not own.
    throttle_reservation = throttle.reserve_attempt(throttle.code_kind(verification.kind),
                                                    verification.match_key)
    if not throttle_reservation.allowed:
        record_event("signup.code_throttled", origin, None, kind=verification.kind)
        db.session.commit()
        raise SignupError(
            _("Too many wrong codes for this number. Wait a little and try again.")
            if verification.kind == "phone" else
            _("Too many wrong codes for this address. Wait a little and try again."))
    limit = int(current_app.config["VERIFICATION_CODE_MAX_ATTEMPTS"])
    attempts = one_time_codes.count_attempt(verification.id, limit)
    if attempts is None:
        raise SignupError(_("This code has expired or was tried too often. Start again."))
    db.session.refresh(verification)
    if not matches(verification.code_hash, HASH_PURPOSE, code):
        raise SignupError(one_time_codes.wrong_code_message(limit, attempts,
                                                            start_again=True))
    if not one_time_codes.spend(verification.id):
        raise SignupError(_("This code has already been used."))
    throttle.clear(throttle_reservation.key_hash)
    payload = verification.payload or {}
    identifier = normalize_identifier(verification.kind, verification.destination)
    try:
        customer = create_customer(origin, payload.get("given_name"), payload.get("family_name"))
        customer.locale = locale
        add_identifier(customer, identifier, origin, verified=True)
    except IdentifierTaken:
        raise SignupError(_("This code is no longer valid. Start again.")) from None
    db.session.add(PasswordCredential(customer_pk=customer.id,
                                      password_hash=payload["password_hash"]))
    _record_consents(customer, payload.get("communication_consents") or [], origin)
    # The stored password hash has done its job; do not keep a copy outside the credential.
    verification.payload = None
    token = start_session(customer, [AMR_PASSWORD], ACR_SINGLE_FACTOR, origin)
    record_event("signup.completed", origin, customer.customer_id, kind=identifier.kind)
    record_event("login.succeeded", origin, customer.customer_id, kind=identifier.kind,
                 amr=[AMR_PASSWORD], via="signup")
    send_welcome_after_commit(customer, identifier.kind, identifier.value)
    return SignupCompleted(customer, token)


def _consents_payload(given: Iterable[tuple[str, str]]) -> list[dict]:
    """The consents ticked, each with the version of the words shown; CustomerError for
    a channel or purpose we do not ask about."""
    payload = []
    for channel, purpose in dict.fromkeys(given):
        wording = communication_consents.WORDINGS.get((channel, purpose))
        if wording is None:
            raise CustomerError(f"Unknown communication choice {channel} {purpose}.")
        payload.append({"channel": channel, "purpose": purpose,
                        "wording_version": wording.version})
    return payload


def _record_consents(customer: Customer, consents: list[dict], origin: Origin) -> None:
    """Record the consents given at step 1 (the caller commits), skipping any whose words
    changed since: the customer agreed to words no longer in force."""
    for consent in consents:
        wording = communication_consents.WORDINGS.get((consent["channel"],
                                                       consent["purpose"]))
        if wording is None or wording.version != consent["wording_version"]:
            continue
        communication_consents.record(customer, consent["channel"], consent["purpose"],
                                      True, "signup", origin,
                                      wording_version=consent["wording_version"])


def _send_code(kind: str, destination: str, code: str) -> None:
    """Text or email the sign-up code, in the language of the sign-up page."""
    values = {"code": code, "brand": brand_name(), "minutes": code_seconds(kind) // 60}
    if kind == "phone":
        # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
        sms_sender().send(destination, sms_text(_(
            "%(code)s is your %(brand)s sign-up code. It expires in %(minutes)s minutes.",
            **values), code=code))
    else:
        email = compose_email(_("Your sign-up code"), [_(
            "Your %(brand)s sign-up code is %(code)s. It expires in %(minutes)s minutes. "
            "Do not share it with anyone.", **values)], code=code)
        email_sender().send(destination, email.subject, email.text, html=email.html)


def _send_existing_account_notice(kind: str, destination: str) -> None:
    """Tell the owner of an identifier already on an account that someone tried to sign
    up with it (nothing else happens)."""
    if kind == "phone":
        # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
        sms_sender().send(destination, sms_text(_(
            "Someone tried to sign up to %(brand)s with this phone number. You already have "
            "an account: log in instead, or ignore this message if it was not you.",
            brand=brand_name())))
    else:
        text = _("Someone tried to sign up to %(brand)s with this email address. You already "
                 "have an account: log in instead, or ignore this message if it was not you.",
                 brand=brand_name())
        email = compose_email(_("Someone tried to sign up with your address"), [text])
        email_sender().send(destination, email.subject, email.text, html=email.html)


def format_customer_id(customer: Customer) -> str:
    """The customer ID grouped for people."""
    return customer_ids.format_for_people(customer.customer_id)
