"""The login flow: one explicit state machine from "who are you" to a login session.

    FIRST ──password, SMS code──▶ (second factor needed?) ──no──▶ DONE ──finish()──▶ session
          or passkey                      │yes
                                          ▼
                                       SECOND ──passkey, TOTP, recovery code, SMS code (if the
                                          │      first factor was the password) or the
                                          │      password (if it was an SMS code)──▶ DONE
                                          ▼
                                      (none of them available: the flow cannot finish)

A passkey whose authenticator verified the person (PIN, fingerprint, face) counts as two
factors on its own ("hwk"/"swk" and "user"), so it needs no second step. An app asking for
a phishing-resistant login (ACR_PHISHING_RESISTANT) gets it only with a passkey among the
factors: after a password or an SMS code, the only second factor offered is a passkey.

A second factor is needed when the customer has an authenticator app (TOTP), when the
login must reach ACR_MULTI_FACTOR (the app asked for it with acr_values, or a sensitive
change asked for it), or when the phone-risk decision on an SMS code (app/phones/trust.py)
asks for a step up.

The flow lives in the database (LoginFlow); the browser holds a random token whose keyed
hash finds it. It expires after FLOW_SECONDS and ends at finish(). Until a first factor is
proved the flow knows no customer, so an SMS login to an unknown number looks exactly like
one to a known number. It also costs the same: the work only a number with an account
needs (the phone-risk decision, possibly a live lookup, and the text itself) runs after
the response is sent (start_sms_login's `later`), and until then that number's code can
no more be redeemed than a stranger's. A re-authentication flow is bound to its customer
from the start: a factor that proves anyone else is refused.

`amr` lists exactly the factors used ("pwd", "sms", "otp", "hwk" or "swk", "user"; plus
"mfa" when two different ones were), `acr` is ACR_PHISHING_RESISTANT for two with a passkey
among them, ACR_MULTI_FACTOR for two others, else ACR_SINGLE_FACTOR (levels.levels_of).

When the phone lookup cannot answer (down, timeout, garbage), an SMS code is not read as
safe (app/risk/phone_policy.py: an "unchecked" step up): the login steps up to another
factor (password, authenticator app) when the customer has one. A customer with none is
let in with the code alone, but to a weaker session (acr ACR_PHONE_UNCHECKED, which no app
asking for a level and no sensitive change accepts: app/web/reauth.py asks an SMS-only
session for two factors), and is told by email. A password support reset as suspected
stolen (app/auth/support.py) is not a factor until it is replaced.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import (code_sender, devices, passkeys, recovery_codes, sms_codes, support,
                      throttle, totp)
from app.auth.levels import (ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_PHONE_UNCHECKED,
                             ACR_SINGLE_FACTOR, AMR_OTP, AMR_PASSWORD, AMR_SMS, PASSKEY_AMR,
                             levels_of, meets)
from app.auth.login import GENERIC_FAILURE, LoginRefused, check_password
from app.auth.sessions import start_session
from app.auth.sms_codes import SmsCodeError
from app.directory.customers import CustomerError, normalize_identifier
from app.extensions import db
from app.models import Customer, Identifier, LoginFlow, PasswordCredential, utcnow
from app.phones import bindings, trust
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash
from app.platform.notifications import notify_security_change_after_commit
from app.risk import phone_policy

FIRST, SECOND, DONE = "first", "second", "done"
#: Second-factor methods a page may offer.
METHOD_TOTP, METHOD_RECOVERY, METHOD_SMS, METHOD_PASSWORD = "totp", "recovery", "sms", "pwd"
METHOD_PASSKEY = "passkey"
FLOW_SECONDS = 600
_TOKEN_PURPOSE = "login-flow"
_SECOND_FACTOR_THROTTLE = "second-factor"
SMS_FAILURE = _l("The code is not right, or it has expired. Ask for a new one.")
#: Runs a job (no arguments, in an app context) later: after the response, for the pages.
Later = Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class Started:
    """A new flow and the token for the browser to keep."""

    flow: LoginFlow
    token: str


@dataclass(frozen=True)
class LoginSuccess:
    """The customer who logged in and the session token for their cookie."""

    customer: Customer
    session_token: str


@dataclass(frozen=True)
class FlowState:
    """Where a flow stands: the step, and in SECOND which methods the customer may use
    (empty: none is set up, so this login cannot reach the level it needs)."""

    step: str
    methods: tuple[str, ...] = ()
    phone_hint: str | None = None
    #: The customer's phone whose texts are paused now (a SIM-swap hold), masked: the page
    #: says why no code is offered to it, and points to the passkey.
    held_phone_hint: str | None = None
    #: The login must be phishing-resistant: only a passkey can finish it.
    required_passkey: bool = False


def begin(origin: Origin, *, required_acr: str = ACR_SINGLE_FACTOR,
          next_path: str | None = None, customer: Customer | None = None) -> Started:
    """Start a flow (the caller commits). `customer` binds a re-authentication to who is
    logged in."""
    if required_acr not in (ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT):
        raise ValueError(f"unknown acr {required_acr!r}")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    flow = LoginFlow(token_hash=keyed_hash(_TOKEN_PURPOSE, token),
                     customer_pk=customer.id if customer else None, factors=[],
                     purpose="reauth" if customer else "login",
                     required_acr=required_acr, next_path=next_path, created_at=now,
                     expires_at=now + timedelta(seconds=FLOW_SECONDS))
    db.session.add(flow)
    return Started(flow, token)


def load(token: str | None) -> LoginFlow | None:
    """The live flow for a browser's token, or None (unknown, finished or expired)."""
    if not token or len(token) > 128:
        return None
    flow = db.session.execute(db.select(LoginFlow).where(
        LoginFlow.token_hash == keyed_hash(_TOKEN_PURPOSE, token))).scalar_one_or_none()
    if flow is None or flow.finished_at is not None or flow.expires_at <= utcnow():
        return None
    return flow


def state(flow: LoginFlow, origin: Origin | None = None) -> FlowState:
    """The flow's step now (see the module docstring)."""
    if not flow.factors:
        return FlowState(FIRST)
    customer = flow.customer
    if _reached(flow, customer):
        return FlowState(DONE)
    methods = _second_factor_methods(flow, customer)
    phone = _sms_phone(customer) if METHOD_SMS in methods else None
    held = _held_phone(customer) if AMR_SMS not in flow.factors else None
    return FlowState(SECOND, methods, mask_phone(phone) if phone else None,
                     mask_phone(held) if held else None,
                     flow.required_acr == ACR_PHISHING_RESISTANT)


# ---- first factors ------------------------------------------------------------------------

def prove_password(flow: LoginFlow, identifier_text: str, password: str,
                   origin: Origin) -> FlowState:
    """The password as first factor (or as second, after an SMS code). LoginRefused.

    A password support reset as suspected stolen is refused with a rollback (a refused
    password's re-hash is not kept) and a committed "login.failed": the audit must
    survive the caller rendering the refusal without committing."""
    step = state(flow)
    if step.step == DONE or (step.step == SECOND and METHOD_PASSWORD not in step.methods):
        raise LoginRefused(_("This step of the login is already done."))
    if step.step == SECOND:
        identifier_text = _any_identifier(flow.customer) or identifier_text
    customer = check_password(identifier_text, password, origin)
    if support.password_reset_pending(customer):
        # Support reset this password as suspected stolen: it never logs in again, and
        # it reads exactly like a wrong one (after the same argon2 work). The customer
        # was told by email how to set a new one (a recovery code or link).
        db.session.rollback()
        record_event("login.failed", origin, customer.customer_id, factor=AMR_PASSWORD,
                     reason="password_reset_pending")
        db.session.commit()
        raise LoginRefused(GENERIC_FAILURE)
    return _proved(flow, customer, AMR_PASSWORD, origin)


def start_sms_login(flow: LoginFlow, phone_text: str, origin: Origin, *,
                    device_token: str | None = None, later: Later | None = None
                    ) -> code_sender.SentCode:
    """Send a login code to the phone typed in (the first factor). The answer, and the
    work done before it, are the same whether or not the number belongs to an account:
    one lookup, the send limits and a code row nobody can redeem yet, for every number
    (code_sender.open_code). The rest, only for a verified phone of an active customer (the
    phone-risk decision, and the text if the number may be trusted), is the job handed to
    `later`, which runs it after the response (the web pages) or, by default, at once.
    SmsCodeError for an unfit number or a limit (run at once: also a provider failure).

    Commits the flow and its code row before handing the job to `later`: the job runs
    after the response, in a session of its own, and must find them.

    Security limit: the deferred job still runs in the same worker, so it delays what
    that worker serves next; with several workers behind a balancer that is noise, not
    an answer about one request.
    """
    if flow.factors:
        raise SmsCodeError(_("This step of the login is already done."))
    phone = parse_phone(phone_text)
    customer = customer_with_verified_phone(phone)
    if flow.customer_pk is not None and (customer is None or customer.id != flow.customer_pk):
        customer = None  # re-authentication: only the logged-in customer's phone counts
    customer_pk, flow_pk = (customer.id if customer else None), flow.id
    sent = code_sender.open_code(sms_codes.SMS, phone, sms_codes.LOGIN, origin, customer=customer)
    flow.verification_code_id = sent.verification_id
    db.session.commit()
    (later or run_now)(partial(_text_login_code, flow_pk, customer_pk, sent, origin,
                               device_token))
    return sent


def _text_login_code(flow_pk: int, customer_pk: int | None, sent: code_sender.SentCode,
                     origin: Origin, device_token: str | None) -> None:
    """start_sms_login's deferred job: decide whether the number may be trusted, then
    text the code; fails safe (the code stays unusable unless it is texted). It commits
    itself: it runs after the response, with no request left to commit for it."""
    if customer_pk is None:
        return  # nobody's number: nobody is texted, and its code can never be redeemed
    flow = db.session.get(LoginFlow, flow_pk)
    customer = db.session.get(Customer, customer_pk)
    # Phone trust: a number held after a SIM swap, recycled, or otherwise not to be
    # trusted is not texted; the page read the same as for an unknown number.
    decision = _assess(flow, customer, sent.destination, "login", origin, device_token)
    if decision.action == phone_policy.STEP_UP:
        if not (decision.unchecked and not _has_another_factor(customer)):
            flow.required_acr = ACR_MULTI_FACTOR
        # else: the number could not be checked and the customer has nothing else to
        # prove: the code alone lets them in, to a weaker session (see `finish`).
    elif decision.action != phone_policy.ALLOW:
        code_sender.void_code(sent.verification_id)
        db.session.commit()
        return
    db.session.commit()  # the level the flow needs, before its code can prove anything
    code_sender.deliver_code(sms_codes.SMS, sent, sms_codes.LOGIN, origin, customer=customer)


def run_now(job: Callable[[], None]) -> None:
    """The default `later`: run the job at once (callers with no response to send)."""
    job()


def start_sms_second_factor(flow: LoginFlow, origin: Origin, *,
                            device_token: str | None = None) -> code_sender.SentCode:
    """Text a code to the customer's verified phone as the second factor, if the phone
    can be trusted now (else SmsCodeError says why: the customer is already known).
    The caller commits the code's row on the flow. A refusal commits the phone-risk
    decision kept on the flow (and its audit) before raising: the caller renders the
    refusal without committing, and the decision must stand."""
    step = state(flow)
    if step.step != SECOND or METHOD_SMS not in step.methods:
        raise SmsCodeError(_("A text message code is not available for this login."))
    phone = _sms_phone(flow.customer)
    decision = _assess(flow, flow.customer, phone, "mfa", origin, device_token)
    if decision.action != phone_policy.ALLOW:
        db.session.commit()
        raise SmsCodeError(phone_policy.describe(decision))
    sent = code_sender.send_code(sms_codes.SMS, phone, sms_codes.SECOND_FACTOR, origin,
                                 customer=flow.customer)
    flow.verification_code_id = sent.verification_id
    return sent


def prove_sms(flow: LoginFlow, code: str, origin: Origin) -> FlowState:
    """The code from the flow's last text message, as first or second factor."""
    if flow.verification_code_id is None:
        raise SmsCodeError(_("Ask for a code first."))
    step = state(flow)
    if step.step == DONE:
        raise SmsCodeError(_("This step of the login is already done."))
    purpose = sms_codes.LOGIN if step.step == FIRST else sms_codes.SECOND_FACTOR
    row = sms_codes.check_code(flow.verification_code_id, code, origin, purpose=purpose,
                               customer=flow.customer if step.step == SECOND else None)
    customer = db.session.get(Customer, row.customer_pk) if row.customer_pk else None
    if customer is None:
        # A code "sent" to a number without an account: nobody has it, so this cannot
        # happen, but never let it through.
        raise SmsCodeError(SMS_FAILURE)
    flow.verification_code_id = None
    return _proved(flow, customer, AMR_SMS, origin)


# ---- passkeys (first or second factor) ----------------------------------------------------

def passkey_options(flow: LoginFlow) -> str:
    """The options for the browser's passkey prompt, with a challenge bound to this flow
    (the caller commits). Before any factor, any passkey of this site may answer (unless
    the flow confirms a logged-in customer: then only theirs); as a second factor, only
    the customer's. PasskeyError when passkeys are off or this step takes none."""
    step = state(flow)
    if step.step == DONE or (step.step == SECOND and METHOD_PASSKEY not in step.methods):
        raise passkeys.PasskeyError(_("A passkey is not available for this login."))
    db.session.flush()  # a flow begun in this request: the challenge needs its id
    return passkeys.authentication_options(flow.id, flow.customer)


def prove_passkey(flow: LoginFlow, response_json: str | None, origin: Origin) -> FlowState:
    """A passkey's answer to this flow's challenge (app/auth/passkeys.py), as the first or
    the second factor: "hwk" or "swk", plus "user" when the authenticator verified the
    person, which makes it two factors on its own. LoginRefused for every failure, after
    committing the spent challenge and the audit event (the caller renders the refusal
    without committing)."""
    step = state(flow)
    if step.step == DONE or (step.step == SECOND and METHOD_PASSKEY not in step.methods):
        raise LoginRefused(_("A passkey is not available for this login."))
    proof = check_passkey(flow, response_json, origin)
    key, *verified = proof.amr
    _proved(flow, proof.customer, key, origin, method=METHOD_PASSKEY)
    flow.factors = [*flow.factors, *verified]
    return state(flow)


def check_passkey(flow: LoginFlow, response_json: str | None,
                  origin: Origin) -> passkeys.Proof:
    """passkeys.authenticate for this flow (of any purpose: a login or a recovery), bound
    to its customer once known; LoginRefused for every failure, after committing the
    spent challenge and the audit event: the caller renders the refusal without
    committing, and both must stand."""
    try:
        return passkeys.authenticate(flow.id, response_json, origin,
                                     customer_pk=flow.customer_pk)
    except passkeys.PasskeyError as error:
        db.session.commit()
        raise LoginRefused(error.message) from None


# ---- second factors -----------------------------------------------------------------------

def prove_totp(flow: LoginFlow, code: str, origin: Origin) -> FlowState:
    """A code from the customer's authenticator app (second factor)."""
    return _prove_second(flow, METHOD_TOTP, code, origin)


def prove_recovery_code(flow: LoginFlow, code: str, origin: Origin) -> FlowState:
    """One of the customer's recovery codes, in place of the authenticator app."""
    return _prove_second(flow, METHOD_RECOVERY, code, origin)


def _prove_second(flow: LoginFlow, method: str, code: str, origin: Origin) -> FlowState:
    step = state(flow)
    if step.step != SECOND or method not in step.methods:
        raise LoginRefused(_("That kind of code is not available for this login."))
    customer = flow.customer
    if not check_second_factor(customer, method, code, origin, failed_event="login.failed"):
        raise LoginRefused(_("That code is not right.") if method == METHOD_TOTP else
                           _("That recovery code is not right or was already used."))
    return _proved(flow, customer, AMR_OTP, origin, method=method)


def check_second_factor(customer: Customer, method: str, code: str | None, origin: Origin,
                        *, failed_event: str) -> bool:
    """Check a TOTP or recovery code (METHOD_TOTP / METHOD_RECOVERY) under the customer's
    second-factor backoff: True if it is right; False after auditing `failed_event`;
    LoginRefused while backing off. Shared by login and account recovery.

    A throttled or wrong code's audit event is committed here: the caller answers with
    LoginRefused and does not commit, and the event (which the customer's account page
    and support read) must survive that."""
    reservation = throttle.reserve_attempt(_SECOND_FACTOR_THROTTLE, customer.customer_id)
    if not reservation.allowed:
        record_event("login.throttled", origin, customer.customer_id, factor=method)
        db.session.commit()
        raise LoginRefused(_("Too many wrong codes. Wait a little and try again."),
                           reservation.retry_at)
    if method == METHOD_TOTP:
        ok = totp.verify_totp(customer, code or "")
    else:
        ok = recovery_codes.use(customer, code or "", origin)
    if not ok:
        record_event(failed_event, origin, customer.customer_id, factor=method)
        db.session.commit()
        return False
    throttle.clear(reservation.key_hash)
    return True


# ---- finishing ----------------------------------------------------------------------------

def finish(flow: LoginFlow, origin: Origin, *, device_token: str | None = None) -> str:
    """Start the login session of a DONE flow and return its cookie token (the caller
    commits; a notice of an unchecked login goes out once it has). The flow ends here,
    so its token cannot start a second session."""
    if state(flow).step != DONE:
        raise LoginRefused(_("The login is not complete."))
    claimed = db.session.execute(
        db.update(LoginFlow).where(LoginFlow.id == flow.id, LoginFlow.finished_at.is_(None))
        .values(finished_at=utcnow())).rowcount
    if claimed != 1:
        raise LoginRefused(_("This login was already completed."))
    amr, acr = levels_of(flow.factors)
    customer = flow.customer
    unchecked = amr == [AMR_SMS] and _phone_unchecked(flow)
    if unchecked:
        acr = ACR_PHONE_UNCHECKED
    token = start_session(customer, amr, acr, origin, risk=flow.risk)
    if device_token:
        devices.remember(customer, device_token, origin.user_agent)
    record_event("login.succeeded", origin, customer.customer_id, amr=amr, acr=acr)
    if unchecked:
        # The owner hears of a login we could not vouch for, on another channel.
        notify_security_change_after_commit(customer, "login_phone_unchecked",
                                            mask_phone(_sms_phone(customer) or ""))
    return token


def password_login(identifier_text: str, password: str, origin: Origin) -> LoginSuccess:
    """Log in with a password alone: for customers who need no second factor. One who
    does gets LoginRefused, so this can never skip a factor (the hosted pages use the
    whole flow, which asks for it). The caller commits."""
    login = begin(origin).flow
    step = prove_password(login, identifier_text, password, origin)
    if step.step != DONE:
        raise LoginRefused(_("A second factor is needed to log in."))
    token = finish(login, origin)
    return LoginSuccess(login.customer, token)


def mask_phone(phone: str) -> str:
    """A phone number as a hint: the country code and the last two digits."""
    return phone[:3] + "•" * max(len(phone) - 5, 0) + phone[-2:]


# ---- internals ----------------------------------------------------------------------------

def _proved(flow: LoginFlow, customer: Customer, factor: str, origin: Origin, *,
            method: str | None = None) -> FlowState:
    """Record a proved factor on the flow, after the checks that bind it to one customer
    (the caller commits). A factor that proves another customer is refused with a
    committed "login.failed": the caller renders the refusal without committing."""
    if flow.customer_pk is not None and flow.customer_pk != customer.id:
        record_event("login.failed", origin, customer.customer_id, factor=factor,
                     reason="another_customer")
        db.session.commit()
        raise LoginRefused(GENERIC_FAILURE)
    flow.customer_pk = customer.id
    flow.customer = customer
    flow.factors = [*flow.factors, factor]
    record_event("login.factor_proved", origin, customer.customer_id, factor=method or factor)
    return state(flow)


def _assess(flow: LoginFlow, customer: Customer, phone: str, purpose: str, origin: Origin,
            device_token: str | None) -> phone_policy.Decision:
    """The phone-risk decision for an SMS code in this flow, kept on the flow (and so on
    the login session it starts)."""
    if flow.purpose == "reauth":
        purpose = "change_factor"  # the stricter thresholds: this login changes a factor
    decision = trust.assess(customer, phone, purpose, origin,
                            new_device=not devices.is_known(customer, device_token))
    flow.risk = [*(flow.risk or []), {"purpose": purpose, "action": decision.action,
                                      "signals": list(decision.signals),
                                      "unchecked": decision.unchecked}]
    return decision


def _reached(flow: LoginFlow, customer: Customer) -> bool:
    """Whether the factors proved reach the level the flow needs; a customer with an
    authenticator app always uses two factors."""
    _amr, acr = levels_of(flow.factors)
    if totp.has_totp(customer) and not meets(acr, ACR_MULTI_FACTOR):
        return False
    return meets(acr, flow.required_acr)


def _second_factor_methods(flow: LoginFlow, customer: Customer) -> tuple[str, ...]:
    passkey_ready = passkeys.available() and not any(
        factor in PASSKEY_AMR for factor in flow.factors) and passkeys.has_passkey(customer)
    if flow.required_acr == ACR_PHISHING_RESISTANT and not any(
            factor in PASSKEY_AMR for factor in flow.factors):
        # Only a passkey makes a login phishing-resistant.
        return (METHOD_PASSKEY,) if passkey_ready else ()
    methods = [METHOD_PASSKEY] if passkey_ready else []
    if totp.has_totp(customer):
        methods.append(METHOD_TOTP)
        if recovery_codes.remaining(customer):
            methods.append(METHOD_RECOVERY)
    if AMR_SMS not in flow.factors and _sms_phone(customer):
        methods.append(METHOD_SMS)
    if AMR_PASSWORD not in flow.factors and _has_usable_password(customer):
        methods.append(METHOD_PASSWORD)
    return tuple(methods)


def _phone_unchecked(flow: LoginFlow) -> bool:
    """Whether the flow's last SMS-login decision let the code in unchecked (the lookup
    could not answer and the customer had no other factor: see start_sms_login)."""
    decisions = [entry for entry in flow.risk or [] if entry.get("purpose") == "login"]
    return bool(decisions) and bool(decisions[-1].get("unchecked"))


def _has_another_factor(customer: Customer) -> bool:
    """A factor besides an SMS code that a login could step up to."""
    return (totp.has_totp(customer) or _has_usable_password(customer)
            or (passkeys.available() and passkeys.has_passkey(customer)))


def _has_usable_password(customer: Customer) -> bool:
    """A password that may log in (not one support reset as suspected stolen)."""
    return (db.session.get(PasswordCredential, customer.id) is not None
            and not support.password_reset_pending(customer))


def _sms_phone(customer: Customer) -> str | None:
    """The customer's first verified phone that can receive SMS."""
    now = utcnow()
    for identifier in customer.identifiers:
        if identifier.kind == "phone" and identifier.verified_at is not None:
            try:
                check_sms_destination(identifier.value)
            except SmsNotAllowed:
                continue
            binding = bindings.binding_of(customer, identifier.value)
            if binding is not None and (binding.status != "active" or (
                    binding.sms_hold_until is not None and binding.sms_hold_until > now)):
                continue  # held, suspect or recycled: not offered
            return identifier.value
    return None


def _held_phone(customer: Customer) -> str | None:
    """The customer's verified phone whose texts are held now (after a SIM swap), if any."""
    now = utcnow()
    for identifier in customer.identifiers:
        if identifier.kind == "phone" and identifier.verified_at is not None:
            binding = bindings.binding_of(customer, identifier.value)
            if binding is not None and binding.sms_hold_until is not None \
                    and binding.sms_hold_until > now:
                return identifier.value
    return None


def _any_identifier(customer: Customer) -> str | None:
    for identifier in customer.identifiers:
        if identifier.kind in ("email", "phone", "username"):
            return identifier.value
    return None


def customer_with_verified_phone(phone: str) -> Customer | None:
    """The active customer whose verified phone this E.164 number is, or None. One query
    either way: an SMS login or recovery must cost the same for a stranger's number."""
    return db.session.scalar(
        db.select(Customer).join(Identifier, Identifier.customer_pk == Customer.id)
        .where(Identifier.kind == "phone", Identifier.match_key == phone,
               Identifier.verified_at.is_not(None), Customer.status == "active"))


def parse_phone(phone_text: str) -> str:
    """The E.164 form of a number typed in; SmsCodeError if it is not one."""
    try:
        return normalize_identifier("phone", phone_text).value
    except CustomerError as error:
        raise SmsCodeError(str(error)) from None
