"""The authorization endpoint's decision table (app/oidc/authorize_decisions.py), without a
server: prompt, max_age, acr_values, id_token_hint and the stored consent in, one decision
out. The same rules end to end are in test_authorize.py, test_acr.py and test_code_flow.py."""
from __future__ import annotations

import pytest

from app.auth.levels import ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_SINGLE_FACTOR
from app.oidc.authorize_decisions import (AskConsent, AuthorizeParams, IdTokenHint, IssueCode,
                                          Login, Refuse, SessionFacts, decide, needs_consent,
                                          requested_acr)

NOW = 1_700_000_000.0
PAPE_MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
ONE_FACTOR = SessionFacts(auth_time=NOW - 600, acr=ACR_SINGLE_FACTOR, subject="C-ADA")
TWO_FACTORS = SessionFacts(auth_time=NOW - 600, acr=ACR_MULTI_FACTOR, subject="C-ADA")
PASSKEY = SessionFacts(auth_time=NOW - 600, acr=ACR_PHISHING_RESISTANT, subject="C-ADA")
PHR_LOGIN = dict(multi_factor=True, phishing_resistant=True)
ASKED = ["openid", "email"]
CONSENTED = frozenset({"openid", "email", "phone"})
LOGIN_REQUIRED = Refuse("login_required", "The customer must log in.")
CONSENT_REQUIRED = Refuse("consent_required", "The customer has not agreed to share this.")


def params(prompt: str = "", **facts) -> AuthorizeParams:
    return AuthorizeParams(prompts=frozenset(prompt.split()), **facts)


@pytest.mark.parametrize(("request_params", "session", "expected"), [
    (params(), None, Login("no_session")),
    (params("none"), None, LOGIN_REQUIRED),
    (params(acr_values="mfa"), None, Login("no_session", multi_factor=True)),
    (params("login"), ONE_FACTOR, Login("prompt_login")),
    (params("login none"), ONE_FACTOR, LOGIN_REQUIRED),
    # prompt=login wins before max_age or the hint are even read.
    (params("login", max_age="soon", id_token_hint=IdTokenHint(error="bad")), ONE_FACTOR,
     Login("prompt_login")),
    (params(max_age="600"), ONE_FACTOR, IssueCode()),
    (params(max_age="599"), ONE_FACTOR, Login("max_age")),
    (params("none", max_age="0"), ONE_FACTOR, LOGIN_REQUIRED),
    (params(max_age="-1"), ONE_FACTOR,
     Refuse("invalid_request", "max_age must be a whole number of seconds.")),
    (params(max_age="1.5"), ONE_FACTOR,
     Refuse("invalid_request", "max_age must be a whole number of seconds.")),
    # An expired max_age sends the browser to log in before the hint is judged.
    (params(max_age="1", id_token_hint=IdTokenHint(error="bad")), ONE_FACTOR,
     Login("max_age")),
    (params(id_token_hint=IdTokenHint(subject="C-ADA")), ONE_FACTOR, IssueCode()),
    (params(id_token_hint=IdTokenHint(subject="C-BOB")), ONE_FACTOR, Login("id_token_hint")),
    (params("none", id_token_hint=IdTokenHint(subject="C-BOB")), ONE_FACTOR, LOGIN_REQUIRED),
    (params(id_token_hint=IdTokenHint(error="id_token_hint was not issued to this client.")),
     ONE_FACTOR, Refuse("invalid_request", "id_token_hint was not issued to this client.")),
    (params(acr_values=ACR_MULTI_FACTOR), ONE_FACTOR, Login("step_up", multi_factor=True)),
    (params(acr_values=PAPE_MFA), ONE_FACTOR, Login("step_up", multi_factor=True)),
    (params("none", acr_values="mfa"), ONE_FACTOR, LOGIN_REQUIRED),
    (params(acr_values="mfa"), TWO_FACTORS, IssueCode()),
    (params(acr_values=f"mfa {ACR_SINGLE_FACTOR}"), ONE_FACTOR, IssueCode()),
    (params(acr_values="urn:other:gold"), ONE_FACTOR, IssueCode()),
    # Phishing-resistant (a passkey among two factors): above multi-factor, never below.
    (params(acr_values=ACR_PHISHING_RESISTANT), TWO_FACTORS, Login("step_up", **PHR_LOGIN)),
    (params(acr_values="phr"), ONE_FACTOR, Login("step_up", **PHR_LOGIN)),
    (params(acr_values=ACR_PHISHING_RESISTANT), PASSKEY, IssueCode()),
    (params(acr_values="mfa"), PASSKEY, IssueCode()),
    (params("none", acr_values="phrh"), TWO_FACTORS, LOGIN_REQUIRED),
    # Acceptable levels: the weakest one listed is enough.
    (params(acr_values=f"{ACR_PHISHING_RESISTANT} mfa"), TWO_FACTORS, IssueCode()),
    # A fresh login asked for anyway still asks for the second factor the app wants.
    (params("login", acr_values="mfa"), TWO_FACTORS, Login("prompt_login", multi_factor=True)),
])
def test_login_decisions(request_params, session, expected):
    assert decide(request_params, session, now=NOW, first_party=False, scopes=ASKED,
                  consented_scopes=CONSENTED) == expected


@pytest.mark.parametrize(("prompt", "first_party", "consented", "expected"), [
    ("", False, CONSENTED, IssueCode()),
    ("", False, frozenset({"openid"}), AskConsent()),
    ("", False, None, AskConsent()),
    ("none", False, None, CONSENT_REQUIRED),
    ("consent", False, CONSENTED, AskConsent()),
    ("consent none", False, CONSENTED, CONSENT_REQUIRED),
    ("", True, None, IssueCode()),
    ("consent", True, None, IssueCode()),
    ("none", True, None, IssueCode()),
])
def test_consent_decisions(prompt, first_party, consented, expected):
    assert decide(params(prompt), ONE_FACTOR, now=NOW, first_party=first_party, scopes=ASKED,
                  consented_scopes=consented) == expected


def test_a_login_is_decided_before_consent():
    assert decide(params("none"), None, now=NOW, first_party=False, scopes=ASKED,
                  consented_scopes=None) == LOGIN_REQUIRED


@pytest.mark.parametrize(("scopes", "consented", "expected"), [
    ([], frozenset(), False),
    (["openid"], frozenset(), True),
    (["openid", "openid"], frozenset({"openid"}), False),
])
def test_needs_consent_compares_scope_sets(scopes, consented, expected):
    assert needs_consent(frozenset(), first_party=False, scopes=scopes,
                         consented_scopes=consented) is expected


@pytest.mark.parametrize(("acr_values", "expected"), [
    (None, None),
    ("", None),
    ("urn:other:gold", None),
    ("mfa", ACR_MULTI_FACTOR),
    (PAPE_MFA, ACR_MULTI_FACTOR),
    (f"{ACR_MULTI_FACTOR} urn:other:gold", ACR_MULTI_FACTOR),
    (ACR_SINGLE_FACTOR, ACR_SINGLE_FACTOR),
    (f"{ACR_SINGLE_FACTOR} mfa", ACR_SINGLE_FACTOR),
])
def test_requested_acr(acr_values, expected):
    assert requested_acr(acr_values) == expected
