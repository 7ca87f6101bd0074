"""What the authorization endpoint does with a well-formed request: the pure decision.

Facts in (the request's prompt, max_age, acr_values and id_token_hint, the login
session, the stored consent), one decision out, in this order (OpenID Connect Core
3.1.2.1 and 3.1.2.3):

1. a fresh login is needed with no login session, with prompt=login, when the session is
   older than max_age, or when id_token_hint names another subject; a malformed max_age
   or an unacceptable hint is an invalid_request error instead;
2. a step up (a login that adds a factor) when acr_values asks for multi-factor (or for a
   phishing-resistant login: a passkey) and the session is below it;
3. with prompt=none any login is the login_required error instead (no page may show);
4. consent is needed for a third-party client with prompt=consent, or when the customer
   has not agreed to every scope asked for (or withdrew); with prompt=none that is the
   consent_required error instead;
5. otherwise the code is issued.

Nothing here reads the request, the session cookie or the database: the authorize view
(app/oidc/endpoints.py) gathers the facts and acts on the decision.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.auth.levels import ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_SINGLE_FACTOR, meets

#: acr_values we read as one of our levels: the OpenID PAPE multi-factor policy and the
#: plain "mfa" some libraries send; "phr" and "phrh" of OpenID's EAP ACR values
#: (phishing-resistant; hardware-protected: we cannot tell a synced passkey from a device-
#: bound one at the request, so both ask for a passkey).
MFA_ACR_ALIASES = {
    "mfa": ACR_MULTI_FACTOR,
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor": ACR_MULTI_FACTOR,
    "phr": ACR_PHISHING_RESISTANT,
    "phrh": ACR_PHISHING_RESISTANT,
}
#: The levels an app may ask for, from the weakest.
REQUESTABLE = (ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT)


@dataclass(frozen=True)
class IdTokenHint:
    """What a request's id_token_hint told us: the `sub` it names for this client, or
    why it is not acceptable (not our ID token, or not issued to this client)."""

    subject: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SessionFacts:
    """The browser's login session, as the decisions need it."""

    auth_time: float  # seconds since the epoch
    acr: str | None
    subject: str  # the `sub` this client sees for the session's customer


@dataclass(frozen=True)
class AuthorizeParams:
    """The parts of a validated authorization request the decisions read."""

    prompts: frozenset[str]
    max_age: str | None = None
    acr_values: str | None = None
    id_token_hint: IdTokenHint | None = None  # None: the request sent no hint


@dataclass(frozen=True)
class Login:
    """Send the browser to the login page; `reason` says why, `multi_factor` asks the
    login for a second factor (the app's acr_values want one), `phishing_resistant` for a
    passkey among the factors."""

    reason: str
    multi_factor: bool = False
    phishing_resistant: bool = False


@dataclass(frozen=True)
class AskConsent:
    """Show the consent page."""


@dataclass(frozen=True)
class Refuse:
    """Send this error to the client's redirect URI."""

    error: str
    description: str


@dataclass(frozen=True)
class IssueCode:
    """Everything holds: issue the authorization code."""


Decision = Login | AskConsent | Refuse | IssueCode


def decide(params: AuthorizeParams, session: SessionFacts | None, *, now: float,
           first_party: bool, scopes: list[str],
           consented_scopes: frozenset[str] | None) -> Decision:
    """The authorization endpoint's decision (see the module docstring for the order).

    `scopes` are the scopes asked for that the client may have; `consented_scopes` the
    customer's standing consent for this client (None if never given or withdrawn).
    """
    try:
        login_reason = _login_reason(params, session, now)
    except ValueError as error:
        return Refuse("invalid_request", str(error))
    wanted = requested_acr(params.acr_values)
    wants_mfa = wanted in (ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT)
    if login_reason is None and wants_mfa and not meets(session.acr, wanted):
        login_reason = "step_up"  # the session is below the level the app asks for
    if login_reason is not None:
        if "none" in params.prompts:
            return Refuse("login_required", "The customer must log in.")
        return Login(login_reason, multi_factor=wants_mfa,
                     phishing_resistant=wanted == ACR_PHISHING_RESISTANT)
    if needs_consent(params.prompts, first_party=first_party, scopes=scopes,
                     consented_scopes=consented_scopes):
        if "none" in params.prompts:
            return Refuse("consent_required", "The customer has not agreed to share this.")
        return AskConsent()
    return IssueCode()


def _login_reason(params: AuthorizeParams, session: SessionFacts | None,
                  now: float) -> str | None:
    """Why the browser must (re)authenticate before a code is issued, or None.
    ValueError (an invalid_request) for a malformed max_age or an unacceptable hint."""
    if session is None:
        return "no_session"
    if "login" in params.prompts:
        return "prompt_login"
    if params.max_age is not None:
        if not params.max_age.isdigit():
            raise ValueError("max_age must be a whole number of seconds.")
        if now - session.auth_time > int(params.max_age):
            return "max_age"
    hint = params.id_token_hint
    if hint is not None:
        if hint.error is not None:
            raise ValueError(hint.error)
        if hint.subject != session.subject:
            return "id_token_hint"
    return None


def needs_consent(prompts: frozenset[str], *, first_party: bool, scopes: list[str],
                  consented_scopes: frozenset[str] | None) -> bool:
    """Whether the customer must be asked: never for a first-party client; always with
    prompt=consent; else unless the standing consent covers every scope asked for."""
    if first_party:
        return False
    if "consent" in prompts:
        return True
    return consented_scopes is None or not set(scopes) <= consented_scopes


def requested_acr(acr_values: str | None) -> str | None:
    """The level an authorization request asks for with acr_values, or None.

    acr_values lists acceptable levels (OpenID Connect Core 3.1.2.1), so the weakest level
    we recognise in the list is the one required (multi-factor only when every known
    value is at least multi-factor); values we do not know are ignored, as the request is
    voluntary for them.
    """
    known = [MFA_ACR_ALIASES.get(value, value) for value in (acr_values or "").split()
             if value in MFA_ACR_ALIASES or value in REQUESTABLE]
    if not known:
        return None
    return min(known, key=REQUESTABLE.index)
