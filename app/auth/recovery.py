"""Self-service account recovery: a forgotten password, reset with a code sent to the
account's verified phone (by text) or verified email address, and never with a code alone
when it cannot be trusted.

    phone number ──(phone-risk decision for "recovery")──▶ code texted (or, for an unknown,
    held, recycled or rejected number, nothing: the page reads the same)
    email address ──▶ code emailed (app/auth/email_recovery.py; nothing for an unknown
    address: the page reads the same)
    code ──▶ second factor (a passkey, TOTP or a recovery code) when the customer has an
             authenticator app or the decision asked for a step up ──▶ a new password

A customer with a passkey needs no reset at all: the first page offers it before any code
(log in with it, then choose a new password on the account page), and where a reset does
ask for a second factor, the passkey comes first, ahead of the authenticator app.

The recovery thresholds are the strictest (app/risk/phone_policy.py): a SIM swap holds SMS
recovery for 14 days, and a provider that cannot say whether the SIM changed (down, no
coverage) means a step up, so there is no SMS-only recovery we could not check. Setting the
new password ends every session and invalidates every token of the customer, is audited
("recovery.completed"), and tells them on the other channel: by email after a reset by text;
by email and by text to every trusted phone after a reset by email.

The two channels are peers, each proving the same thing (this customer holds a channel of
the account), so neither is the other's second factor: a reset by text has never taken an
email code as its second factor, and a reset by email does not take a text one. The second
factor is the authenticator app (or a recovery code), for both.

The decision and the message run after the response is sent, so the page takes as long,
and makes the same queries, for every number and every address (see
login_flow.start_sms_login).

No dead end before the code (a number whose texts cannot be trusted now). The phone-risk
decision needs the phone company's answer, which comes after the response, so the page
where the number was typed cannot know it, and must not say it: "this number is held"
tells whoever typed it that the number has an account, and that its SIM change was noticed
(worth knowing to the one who swapped it). So:
- a recovery by text that cannot succeed sends no code at all: a held, suspect, recycled
  or rejected number, as before, and now also a number the phone company could not vouch
  for when the customer has no authenticator app to step up to (its code could only lead
  to "contact support" after it was typed);
- the pages say so, the same for every number, before any code is expected: which numbers
  we do not text, and what to do then: reset with an email address on the account, log in
  another way, or contact support quoting the customer ID (`NO_TEXT_NEXT_STEPS`). The
  customer ID is never on the page (a stranger could read it there);
- the owner hears why, on a channel we trust: every verified email address of the
  customer gets `refused_text_notice` (with the customer ID, as every notice). A number
  that may have changed hands is not texted the reason.
A phone-only customer with no email on the account therefore learns it from the page
(the same for everyone) and quotes the customer ID from the welcome text or their account
page to support.

The state is a LoginFlow row with purpose "recovery" (its token in the browser's signed
session), so it expires and finishes exactly like a login.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import (
    code_sender,
    devices,
    email_recovery,
    passkeys,
    recovery_codes,
    sms_codes,
    support,
    totp,
)
from app.auth import flow as login_flow
from app.auth.levels import ACR_MULTI_FACTOR, AMR_OTP, AMR_SMS, PASSKEY_AMR
from app.auth.login import LoginRefused, set_password
from app.auth.recovery_links import mask_email
from app.auth.sessions import end_all_sessions
from app.auth.sms_codes import SmsCodeError
from app.extensions import db
from app.models import Customer, LoginFlow, VerificationCode, utcnow
from app.phones import trust
from app.platform.audit import Origin, record_event
from app.platform.notifications import (
    notify_after_commit,
    notify_security_change_after_commit,
)
from app.risk import phone_policy

CODE, SECOND, NEW_PASSWORD, STUCK = "code", "second", "new_password", "stuck"
STUCK_MESSAGE = _l("We cannot reset your password with a text message alone right now. "
                   "Contact support and quote your customer ID, or log in another way.")
#: What a customer whose number we do not text can do instead (on every page that waits
#: for a texted code, the same for every number: see the module docstring).
NO_TEXT_NEXT_STEPS = _l(
    "We do not text a reset code to a number we cannot trust right now: for example just "
    "after its SIM card changed, or when the phone company cannot confirm it, unless your "
    "account also has a passkey or an authenticator app. If no text arrives within a minute, reset your "
    "password with an email address on your account instead, or contact support and quote "
    "your customer ID (it is in the welcome message we sent you).")


@dataclass(frozen=True)
class RecoveryState:
    step: str                      # CODE | SECOND | NEW_PASSWORD | STUCK
    methods: tuple[str, ...] = ()  # in SECOND: "passkey", "totp", "recovery"


def start(identifier_text: str, origin: Origin, *, device_token: str | None = None,
          later: login_flow.Later | None = None
          ) -> tuple[login_flow.Started, code_sender.SentCode]:
    """Begin a recovery for the phone number or email address typed in: by email when it
    has an "@" (start_by_email), else by text. The caller commits nothing more."""
    if email_recovery.looks_like_email(identifier_text):
        return start_by_email(identifier_text, origin, later=later)
    return start_by_sms(identifier_text, origin, device_token=device_token, later=later)


def start_by_email(address_text: str, origin: Origin, *, later: login_flow.Later | None = None
                   ) -> tuple[login_flow.Started, code_sender.SentCode]:
    """Begin a recovery by email: the same work for every address (one lookup, the send
    limits, a code row nobody can redeem yet); the email itself, only to a verified address
    of an active customer, is the job handed to `later` (default: run at once).
    EmailCodeError for an address we cannot read or a limit (run at once: also a provider
    failure). Commits the flow and its code row before handing the job to `later`."""
    customer_pk, sent = email_recovery.open_reset_code(address_text, origin)
    started = login_flow.begin(origin)
    started.flow.purpose = "recovery"
    started.flow.verification_code_id = sent.verification_id
    db.session.commit()
    (later or login_flow.run_now)(partial(email_recovery.email_reset_code, customer_pk, sent,
                                          origin))
    return started, sent


def start_by_sms(phone_text: str, origin: Origin, *, device_token: str | None = None,
                 later: login_flow.Later | None = None
                 ) -> tuple[login_flow.Started, code_sender.SentCode]:
    """Begin a recovery for the phone typed in. As for an SMS login (see
    login_flow.start_sms_login) the request does the same work for every number; the
    phone-risk decision and the text, for a number that may be trusted for recovery, are
    the job handed to `later` (default: run at once). SmsCodeError for an unfit number or
    a limit (run at once: also a provider failure). Commits the flow and its code row
    before handing the job to `later`: the job runs after the response, in a session of
    its own, and must find them."""
    phone = login_flow.parse_phone(phone_text)
    started = login_flow.begin(origin)
    flow = started.flow
    flow.purpose = "recovery"
    customer = login_flow.customer_with_verified_phone(phone)
    customer_pk, flow_pk = (customer.id if customer else None), flow.id
    sent = code_sender.open_code(sms_codes.SMS, phone, sms_codes.RECOVERY, origin,
                                 customer=customer)
    flow.verification_code_id = sent.verification_id
    db.session.commit()
    (later or login_flow.run_now)(partial(_text_recovery_code, flow_pk, customer_pk, sent,
                                          origin, device_token))
    return started, sent


def _text_recovery_code(flow_pk: int, customer_pk: int | None, sent: code_sender.SentCode,
                        origin: Origin, device_token: str | None) -> None:
    """start's deferred job: the phone-risk decision for "recovery", then the text; fails
    safe (the code stays unusable unless it is texted). It commits itself: it runs after
    the response, with no request left to commit for it."""
    if customer_pk is None:
        return  # nobody's number: nobody is texted, and its code can never be redeemed
    flow = db.session.get(LoginFlow, flow_pk)
    customer = db.session.get(Customer, customer_pk)
    decision = trust.assess(customer, sent.destination, "recovery", origin,
                            new_device=not devices.is_known(customer, device_token))
    flow.risk = [{"purpose": "recovery", "action": decision.action,
                  "signals": list(decision.signals)}]
    if decision.action == phone_policy.STEP_UP and _has_second_factor(customer):
        flow.required_acr = ACR_MULTI_FACTOR
    elif decision.action != phone_policy.ALLOW:
        # Held, recycled or rejected; or a step up with nothing to step up to, whose code
        # could only end in "contact support": no code, and the owner hears why by email.
        code_sender.void_code(sent.verification_id)
        record_event("recovery.text_refused", origin, customer.customer_id,
                     action=decision.action, signals=list(decision.signals))
        notify_security_change_after_commit(customer, "recovery_text_refused",
                                            login_flow.mask_phone(sent.destination))
        db.session.commit()
        return
    db.session.commit()  # the level the recovery needs, before its code proves anything
    code_sender.deliver_code(sms_codes.SMS, sent, sms_codes.RECOVERY, origin, customer=customer)


def load(token: str | None) -> LoginFlow | None:
    flow = login_flow.load(token)
    return flow if flow is not None and flow.purpose == "recovery" else None


def destination_hint(sent: code_sender.SentCode) -> str:
    """Where start's code went, masked for the page: "+44•••••••56", "a•••@example.com"."""
    if email_recovery.looks_like_email(sent.destination):
        return mask_email(sent.destination)
    return login_flow.mask_phone(sent.destination)


def by_email(flow: LoginFlow) -> bool:
    """Whether this recovery's code went (or goes) by email."""
    if email_recovery.EMAIL_FACTOR in flow.factors:
        return True
    row = (db.session.get(VerificationCode, flow.verification_code_id)
           if flow.verification_code_id else None)
    return row is not None and row.kind == "email"


def state(flow: LoginFlow) -> RecoveryState:
    """Where a recovery stands (see the module docstring)."""
    if not flow.factors:
        return RecoveryState(CODE)
    customer = flow.customer
    needs_second = flow.required_acr == ACR_MULTI_FACTOR or totp.has_totp(customer)
    if not needs_second or any(f == AMR_OTP or f in PASSKEY_AMR for f in flow.factors):
        return RecoveryState(NEW_PASSWORD)
    methods = []
    if passkeys.available() and passkeys.has_passkey(customer):
        methods.append(login_flow.METHOD_PASSKEY)
    if totp.has_totp(customer):
        methods.append("totp")
        if recovery_codes.remaining(customer):
            methods.append("recovery")
    return RecoveryState(SECOND, tuple(methods)) if methods else RecoveryState(STUCK)


def prove_code(flow: LoginFlow, code: str, origin: Origin) -> RecoveryState:
    """The texted or emailed code (SmsCodeError or EmailCodeError if wrong, expired or for
    nobody); the caller commits."""
    if state(flow).step != CODE or flow.verification_code_id is None:
        raise SmsCodeError(_("Ask for a new code."))
    if by_email(flow):
        customer = email_recovery.check_reset_code(flow.verification_code_id, code, origin)
        factor = email_recovery.EMAIL_FACTOR
    else:
        row = sms_codes.check_code(flow.verification_code_id, code, origin,
                                   purpose=sms_codes.RECOVERY)
        customer = db.session.get(Customer, row.customer_pk) if row.customer_pk else None
        factor = AMR_SMS
    if customer is None or customer.status != "active":
        raise SmsCodeError(login_flow.SMS_FAILURE)
    flow.customer_pk = customer.id
    flow.customer = customer
    flow.factors = [factor]
    flow.verification_code_id = None
    record_event("recovery.code_proved", origin, customer.customer_id, channel=factor)
    return state(flow)


def prove_second(flow: LoginFlow, method: str, code: str, origin: Origin) -> RecoveryState:
    """A TOTP or recovery code, when the recovery needs a second factor; the caller
    commits."""
    current = state(flow)
    if current.step != SECOND or method not in current.methods:
        raise LoginRefused(_("That kind of code is not available here."))
    if not login_flow.check_second_factor(flow.customer, method, code, origin,
                                          failed_event="recovery.failed"):
        raise LoginRefused(_("That code is not right."))
    flow.factors = [*flow.factors, AMR_OTP]
    return state(flow)


def passkey_options(flow: LoginFlow) -> str:
    """The passkey prompt's options for this recovery's second step (only the customer's
    passkeys; the caller commits). PasskeyError when a passkey is not offered here."""
    if login_flow.METHOD_PASSKEY not in state(flow).methods:
        raise passkeys.PasskeyError(_("A passkey is not available here."))
    return passkeys.authentication_options(flow.id, flow.customer)


def prove_passkey(flow: LoginFlow, response_json: str | None, origin: Origin) -> RecoveryState:
    """The customer's passkey as this recovery's second factor; LoginRefused for every
    failure, after committing the spent challenge and its audit event. The caller
    commits a success."""
    if login_flow.METHOD_PASSKEY not in state(flow).methods:
        raise LoginRefused(_("A passkey is not available here."))
    proof = login_flow.check_passkey(flow, response_json, origin)
    flow.factors = [*flow.factors, *proof.amr]
    record_event("recovery.factor_proved", origin, flow.customer.customer_id,
                 factor=login_flow.METHOD_PASSKEY)
    return state(flow)


def _has_second_factor(customer: Customer) -> bool:
    """A factor a recovery can step up to: the authenticator app, or a passkey."""
    return totp.has_totp(customer) or (passkeys.available() and passkeys.has_passkey(customer))


def set_new_password(flow: LoginFlow, password: str, origin: Origin) -> Customer:
    """Set the new password (PasswordRejected if the policy refuses it), end every
    session, invalidate every token and finish the recovery; the caller commits, and the
    customer is told once it has."""
    if state(flow).step != NEW_PASSWORD:
        raise LoginRefused(_("Prove the code first."))
    customer = flow.customer
    support.refuse_reset_password(customer, password)
    set_password(customer, password, origin)
    claimed = db.session.execute(
        db.update(LoginFlow).where(LoginFlow.id == flow.id, LoginFlow.finished_at.is_(None))
        .values(finished_at=utcnow())).rowcount
    if claimed != 1:
        raise LoginRefused(_("This recovery was already completed."))
    ended = end_all_sessions(customer)
    customer.tokens_not_before = utcnow()
    record_event("recovery.completed", origin, customer.customer_id, factors=flow.factors,
                 sessions_ended=ended)
    if email_recovery.EMAIL_FACTOR in flow.factors:
        notify_after_commit(customer, "password_changed")  # every address, trusted phones
    else:
        notify_security_change_after_commit(customer, "password_changed")  # by email
    return customer
