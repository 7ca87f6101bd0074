"""The authorization endpoint over real HTTP (OpenID Basic OP plan, RFC 6749/9207/9700).

Every test is one exchange between a browser (requests.Session, cookies kept), the live
server and what the relying party receives at its redirect URI. The steps and assertions
shared with the other OIDC endpoint tests are in helpers.py, the `op` fixture in conftest.py.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import time_machine

from app.models import utcnow
from tests.factories import STRONG_PASSWORD
from tests.helpers import csrf_token
from tests.oidc.helpers import (EMAIL, STATE, Provider, assert_error_page, assert_error_redirect,
                                at_client, auth_params, authorize, id_token_claims, make_client,
                                pkce, redeem)


# ---- helpers of this module -------------------------------------------------------------

def login_page_redirect(op: Provider, response: requests.Response) -> str:
    """The login page URL an authorization request sent the browser to."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    if location.startswith("/"):
        location = op.base + location
    assert urlsplit(location).path == "/login", location
    return location


def log_in_at(op: Provider, login_url: str, browser: requests.Session | None = None,
              email: str = EMAIL) -> requests.Response:
    """Submit the login form at `login_url`; return the redirect that follows login."""
    browser = browser or op.browser
    page = browser.get(login_url, timeout=10)
    response = browser.post(login_url, timeout=10, allow_redirects=False,
                            data={"csrf_token": csrf_token(page.text), "identifier": email,
                                  "password": STRONG_PASSWORD})
    assert response.status_code == 303, response.text[:300]
    location = response.headers["Location"]
    return browser.get(location if location.startswith("http") else op.base + location,
                       timeout=10, allow_redirects=False)


# ---- successful requests ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_code_with_state_and_iss(op, method):
    answer = at_client(authorize(op, auth_params(op.client_id, nonce="n-1"), method))
    assert set(answer) == {"code", "state", "iss"}
    assert answer["state"] == STATE and answer["iss"] == op.base
    token = redeem(op, answer["code"])
    assert token.status_code == 200, token.text
    assert token.headers["Cache-Control"] == "no-store"
    assert id_token_claims(op, token.json()["id_token"])["nonce"] == "n-1"


def test_state_is_optional_and_not_invented(op):
    answer = at_client(authorize(op, auth_params(op.client_id, state=None)))
    assert "code" in answer and "state" not in answer and answer["iss"] == op.base


def test_optional_and_unknown_parameters_are_accepted(op):
    answer = at_client(authorize(op, auth_params(
        op.client_id, ui_locales="fr-CA en", claims_locales="de", display="popup",
        acr_values="urn:tessera:acr:pwd", login_hint=EMAIL, response_mode="query",
        nonce="n-2", frobnicate="yes", x_custom="1")))
    assert "code" in answer and answer["state"] == STATE


def test_unknown_scopes_are_dropped(op):
    code = at_client(authorize(op, auth_params(op.client_id, scope="openid admin")))["code"]
    token = redeem(op, code)
    assert token.status_code == 200
    assert token.json()["scope"].split() == ["openid"]


# ---- response types -----------------------------------------------------------------------

@pytest.mark.parametrize("response_type", [
    "token", "id_token", "id_token token", "code id_token", "code token",
    "code id_token token", "none", "CODE"])
def test_only_the_code_flow(op, response_type):
    response = authorize(op, auth_params(op.client_id, response_type=response_type,
                                         nonce="n"))
    assert_error_redirect(op, response, "unsupported_response_type")


def test_missing_response_type(op):
    response = authorize(op, auth_params(op.client_id, response_type=None))
    assert_error_redirect(op, response, "invalid_request")


@pytest.mark.parametrize("param, error", [
    ("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")])
def test_request_objects_refused(op, param, error):
    value = ("eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ." if param == "request"
             else "https://rp.example/request.jwt")
    response = authorize(op, auth_params(op.client_id, **{param: value}))
    assert_error_redirect(op, response, error)


@pytest.mark.parametrize("name", ["response_type", "client_id", "redirect_uri", "scope",
                                  "state"])
def test_repeated_parameter_is_invalid_request(op, name):
    params = list(auth_params(op.client_id).items()) + [(name, auth_params(op.client_id)[name])]
    response = op.browser.get(f"{op.base}/authorize?{urlencode(params)}", timeout=10,
                              allow_redirects=False)
    if name in ("client_id", "redirect_uri"):
        assert_error_page(response)  # which client, which URI? Never redirect on doubt.
    else:
        assert_error_redirect(op, response, "invalid_request")


# ---- prompt, max_age, login_hint, id_token_hint -------------------------------------------

def test_prompt_none_logged_out_is_login_required(op):
    response = authorize(op, auth_params(op.client_id, prompt="none"),
                         browser=requests.Session())
    assert_error_redirect(op, response, "login_required")


def test_prompt_none_logged_in_gives_a_code(op):
    answer = at_client(authorize(op, auth_params(op.client_id, prompt="none")))
    assert "code" in answer and answer["state"] == STATE


def test_prompt_none_with_login_is_invalid(op):
    response = authorize(op, auth_params(op.client_id, prompt="none login"))
    assert_error_redirect(op, response, "invalid_request")


def test_logged_out_goes_to_login_then_back_with_a_code(op):
    browser = requests.Session()
    login_url = login_page_redirect(op, authorize(op, auth_params(op.client_id),
                                                  browser=browser))
    answer = at_client(log_in_at(op, login_url, browser))
    assert "code" in answer and answer["state"] == STATE and answer["iss"] == op.base


def test_prompt_login_forces_a_fresh_login(op):
    with time_machine.travel(utcnow() + timedelta(seconds=30), tick=True):
        login_url = login_page_redirect(op, authorize(op, auth_params(op.client_id,
                                                                      prompt="login")))
        answer = at_client(log_in_at(op, login_url))
        token = redeem(op, answer["code"])
    claims = id_token_claims(op, token.json()["id_token"])
    assert abs(claims["auth_time"] - (utcnow() + timedelta(seconds=30)).timestamp()) < 10


def test_max_age_after_an_old_login_forces_login_and_fresh_auth_time(op):
    with time_machine.travel(utcnow() + timedelta(seconds=5), tick=True):
        before = int(utcnow().timestamp())
        login_url = login_page_redirect(op, authorize(op, auth_params(op.client_id,
                                                                      max_age="1")))
        assert "max_age" not in login_url  # satisfied by this login: no loop
        answer = at_client(log_in_at(op, login_url))
        token = redeem(op, answer["code"])
    assert token.status_code == 200
    assert id_token_claims(op, token.json()["id_token"])["auth_time"] >= before


def test_max_age_within_limit_gives_a_code(op):
    answer = at_client(authorize(op, auth_params(op.client_id, max_age="3600")))
    claims = id_token_claims(op, redeem(op, answer["code"]).json()["id_token"])
    assert "auth_time" in claims


@pytest.mark.parametrize("max_age", ["-1", "soon", "1.5", ""])
def test_bad_max_age_is_invalid_request(op, max_age):
    response = authorize(op, auth_params(op.client_id, max_age=max_age))
    assert_error_redirect(op, response, "invalid_request")


def test_max_age_with_prompt_none_and_an_old_login_is_login_required(op):
    with time_machine.travel(utcnow() + timedelta(seconds=5), tick=True):
        response = authorize(op, auth_params(op.client_id, max_age="1", prompt="none"))
    assert_error_redirect(op, response, "login_required")


def test_login_hint_prefills_the_login_form(op):
    browser = requests.Session()
    hint = "grace@example.com"
    login_url = login_page_redirect(op, authorize(op, auth_params(op.client_id,
                                                                  login_hint=hint),
                                                  browser=browser))
    page = browser.get(login_url, timeout=10).text
    field = re.search(r'<input[^>]*name="identifier"[^>]*>', page).group(0)
    assert unescape(re.search(r'value="([^"]*)"', field).group(1)) == hint


def test_id_token_hint_of_the_logged_in_customer(op):
    first = redeem(op, at_client(authorize(op, auth_params(op.client_id)))["code"]).json()
    answer = at_client(authorize(op, auth_params(op.client_id, prompt="none",
                                                 id_token_hint=first["id_token"])))
    assert "code" in answer


def test_id_token_hint_of_another_customer_needs_login(op):
    from tests.factories import make_customer
    other = requests.Session()
    with op.app.app_context():
        make_customer(email="grace@example.com")
    login_url = login_page_redirect(op, authorize(op, auth_params(op.client_id),
                                                  browser=other))
    grace = redeem(op, at_client(log_in_at(op, login_url, other, "grace@example.com"))["code"])
    hint = grace.json()["id_token"]
    # Ada's browser, Grace's hint: log in again (or login_required with prompt=none).
    login_page_redirect(op, authorize(op, auth_params(op.client_id, id_token_hint=hint)))
    response = authorize(op, auth_params(op.client_id, id_token_hint=hint, prompt="none"))
    assert_error_redirect(op, response, "login_required")


def test_an_expired_id_token_is_still_a_hint(op):
    # OpenID Core 3.1.2.1: the RP may send an ID token that has expired as the hint.
    first = redeem(op, at_client(authorize(op, auth_params(op.client_id)))["code"]).json()
    lifetime = int(op.app.config["ID_TOKEN_SECONDS"])
    with time_machine.travel(utcnow() + timedelta(seconds=lifetime + 60), tick=True):
        answer = at_client(authorize(op, auth_params(op.client_id, prompt="none",
                                                     id_token_hint=first["id_token"])))
    assert "code" in answer


@pytest.mark.parametrize("kind", ["access-token", "other-clients-id-token", "garbage"])
def test_a_hint_that_is_not_our_id_token_for_this_client_is_refused(op, kind):
    # Each hint names the logged-in customer, so only its kind can get it refused.
    if kind == "other-clients-id-token":
        verifier, challenge = pkce()
        code = at_client(authorize(op, auth_params(op.public_id, challenge)))["code"]
        hint = redeem(op, code, verifier, client_id=op.public_id, auth="none").json()["id_token"]
    elif kind == "garbage":
        hint = "not.a.token"
    else:  # signed by the same keys, same issuer, same customer: only typ differs
        hint = redeem(op, at_client(authorize(op, auth_params(op.client_id)))["code"]
                      ).json()["access_token"]
    response = authorize(op, auth_params(op.client_id, prompt="none", id_token_hint=hint))
    assert_error_redirect(op, response, "invalid_request")


# ---- consent -------------------------------------------------------------------------------

@pytest.fixture
def third_party(op) -> str:
    client_id, _ = make_client(op.app, first_party=False, scope="openid profile",
                               public=True)
    return client_id


def test_prompt_none_without_consent_is_consent_required(op, third_party):
    _, challenge = pkce()
    response = authorize(op, auth_params(third_party, challenge, prompt="none"))
    assert_error_redirect(op, response, "consent_required")


def _consent_page(op, client_id, **extra):
    _, challenge = pkce()
    page = authorize(op, auth_params(client_id, challenge, **extra))
    assert page.status_code == 200 and "Allow" in page.text, page.status_code
    query = unescape(re.search(r'name="request_query"[^>]*value="([^"]*)"', page.text)
                     .group(1))
    return csrf_token(page.text), query


def test_consent_denied_is_access_denied(op, third_party):
    token, query = _consent_page(op, third_party)
    response = op.browser.post(f"{op.base}/authorize/consent", timeout=10,
                               allow_redirects=False,
                               data={"csrf_token": token, "request_query": query,
                                     "deny": "Deny"})
    assert_error_redirect(op, response, "access_denied")


def test_consent_allowed_then_prompt_consent_asks_again(op, third_party):
    token, query = _consent_page(op, third_party)
    response = op.browser.post(f"{op.base}/authorize/consent", timeout=10,
                               allow_redirects=False,
                               data={"csrf_token": token, "request_query": query,
                                     "allow": "Allow"})
    assert response.status_code == 303
    back = op.browser.get(op.base + response.headers["Location"], timeout=10,
                          allow_redirects=False)
    assert "code" in at_client(back)
    _, challenge = pkce()
    assert "code" in at_client(authorize(op, auth_params(third_party, challenge,
                                                         prompt="none")))
    _consent_page(op, third_party, prompt="consent")
