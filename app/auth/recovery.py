"""Self-service account recovery: a forgotten password, reset with a code texted to the
account's verified phone, and never with that code alone when it cannot be trusted.

    phone number ──(phone-risk decision for "recovery")──▶ code texted (or, for an unknown,
    held, recycled or rejected number, nothing: the page reads the same)
    code ──▶ second factor (TOTP or a recovery code) when the customer has an authenticator
             app or the decision asked for a step up ──▶ a new password

The recovery thresholds are the strictest (app/risk/phone_policy.py): a SIM swap holds SMS
recovery for 14 days, and a provider that cannot say whether the SIM changed (down, no
coverage) means a step up, so there is no SMS-only recovery we could not check. When a step
up is needed and the customer has no other factor, recovery stops and says to contact
support. Setting the new password ends every session and invalidates every token of the
customer, and tells them by email.

The decision and the text run after the response is sent, so the page takes as long, and
makes the same queries, for every number (see login_flow.start_sms_login).

The state is a LoginFlow row with purpose "recovery" (its token in the browser's signed
session), so it expires and finishes exactly like a login.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from app.auth import (code_sender, devices, flow as login_flow, recovery_codes, sms_codes, support,
                      totp)
from app.auth.levels import ACR_MULTI_FACTOR, AMR_OTP, AMR_SMS
from app.auth.login import LoginRefused, set_password
from app.auth.sessions import end_all_sessions
from app.auth.sms_codes import SmsCodeError
from app.extensions import db
from app.models import Customer, LoginFlow, utcnow
from app.phones import trust
from app.platform.audit import Origin, record_event
from app.platform.notifications import notify_security_change_after_commit
from app.risk import phone_policy

CODE, SECOND, NEW_PASSWORD, STUCK = "code", "second", "new_password", "stuck"
STUCK_MESSAGE = ("We cannot reset your password with a text message alone right now. "
                 "Contact support and quote your customer ID, or log in another way.")


@dataclass(frozen=True)
class RecoveryState:
    step: str                      # CODE | SECOND | NEW_PASSWORD | STUCK
    methods: tuple[str, ...] = ()  # in SECOND: "totp", "recovery"


def start(phone_text: str, origin: Origin, *, device_token: str | None = None,
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
    if decision.action == phone_policy.STEP_UP:
        flow.required_acr = ACR_MULTI_FACTOR
    elif decision.action != phone_policy.ALLOW:
        code_sender.void_code(sent.verification_id)  # held, recycled or rejected
        db.session.commit()
        return
    db.session.commit()  # the level the recovery needs, before its code proves anything
    code_sender.deliver_code(sms_codes.SMS, sent, sms_codes.RECOVERY, origin, customer=customer)


def load(token: str | None) -> LoginFlow | None:
    flow = login_flow.load(token)
    return flow if flow is not None and flow.purpose == "recovery" else None


def state(flow: LoginFlow) -> RecoveryState:
    if AMR_SMS not in flow.factors:
        return RecoveryState(CODE)
    customer = flow.customer
    needs_second = flow.required_acr == ACR_MULTI_FACTOR or totp.has_totp(customer)
    if not needs_second or AMR_OTP in flow.factors:
        return RecoveryState(NEW_PASSWORD)
    methods = []
    if totp.has_totp(customer):
        methods.append("totp")
        if recovery_codes.remaining(customer):
            methods.append("recovery")
    return RecoveryState(SECOND, tuple(methods)) if methods else RecoveryState(STUCK)


def prove_code(flow: LoginFlow, code: str, origin: Origin) -> RecoveryState:
    """The texted code (SmsCodeError if wrong, expired or for nobody); the caller commits."""
    if state(flow).step != CODE or flow.verification_code_id is None:
        raise SmsCodeError("Ask for a new code.")
    row = sms_codes.check_code(flow.verification_code_id, code, origin,
                               purpose=sms_codes.RECOVERY)
    customer = db.session.get(Customer, row.customer_pk) if row.customer_pk else None
    if customer is None or customer.status != "active":
        raise SmsCodeError(login_flow.SMS_FAILURE)
    flow.customer_pk = customer.id
    flow.customer = customer
    flow.factors = [AMR_SMS]
    flow.verification_code_id = None
    record_event("recovery.code_proved", origin, customer.customer_id)
    return state(flow)


def prove_second(flow: LoginFlow, method: str, code: str, origin: Origin) -> RecoveryState:
    """A TOTP or recovery code, when the recovery needs a second factor; the caller
    commits."""
    current = state(flow)
    if current.step != SECOND or method not in current.methods:
        raise LoginRefused("That kind of code is not available here.")
    if not login_flow.check_second_factor(flow.customer, method, code, origin,
                                          failed_event="recovery.failed"):
        raise LoginRefused("That code is not right.")
    flow.factors = [*flow.factors, AMR_OTP]
    return state(flow)


def set_new_password(flow: LoginFlow, password: str, origin: Origin) -> Customer:
    """Set the new password (PasswordRejected if the policy refuses it), end every
    session, invalidate every token and finish the recovery; the caller commits, and the
    customer is told once it has."""
    if state(flow).step != NEW_PASSWORD:
        raise LoginRefused("Prove the code first.")
    customer = flow.customer
    support.refuse_reset_password(customer, password)
    set_password(customer, password, origin)
    claimed = db.session.execute(
        db.update(LoginFlow).where(LoginFlow.id == flow.id, LoginFlow.finished_at.is_(None))
        .values(finished_at=utcnow())).rowcount
    if claimed != 1:
        raise LoginRefused("This recovery was already completed.")
    ended = end_all_sessions(customer)
    customer.tokens_not_before = utcnow()
    record_event("recovery.completed", origin, customer.customer_id, factors=flow.factors,
                 sessions_ended=ended)
    notify_security_change_after_commit(customer, "password_changed")
    return customer
