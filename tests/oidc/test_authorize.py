"""The authorization endpoint over real HTTP (OpenID Basic OP plan, RFC 6749/9207/9700).

Every test is one exchange between a browser (requests.Session, cookies kept), the live
server and what the relying party receives at its redirect URI. The helpers at the top are
shared with test_token_endpoint.py and test_attacks.py.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import time_machine
from joserfc import jwt
from joserfc.jwk import KeySet

from app.models import utcnow
from tests.conftest import csrf_token
from tests.factories import STRONG_PASSWORD
from tests.oidc.helpers import REDIRECT_URI, logged_in_browser, make_client

EMAIL = "ada@example.com"
STATE = "st-4a7e"


# ---- helpers shared by the OIDC endpoint tests ------------------------------------------

@dataclass
class Provider:
    """A live Tessera with a logged-in browser and two registered clients."""

    app: object
    base: str
    browser: requests.Session
    client_id: str  # confidential, first party, client_secret_basic
    secret: str
    public_id: str  # public, first party (PKCE required)


@pytest.fixture
def op(app, live_server) -> Provider:
    app.config["ISSUER"] = live_server
    client_id, secret = make_client(app, first_party=True,
                                    scope="openid profile email offline_access")
    public_id, _ = make_client(app, public=True, first_party=True, scope="openid profile")
    browser = logged_in_browser(app, live_server, EMAIL)
    return Provider(app, live_server, browser, client_id, secret, public_id)


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def auth_params(client_id: str, challenge: str | None = None, **extra) -> dict:
    """An authorization request; extra=None drops a parameter."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid", "state": STATE}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize(op: Provider, params: dict, method: str = "GET",
              browser: requests.Session | None = None) -> requests.Response:
    browser = browser or op.browser
    if method == "POST":
        return browser.post(f"{op.base}/authorize", data=params, timeout=10,
                            allow_redirects=False)
    return browser.get(f"{op.base}/authorize?{urlencode(params)}", timeout=10,
                       allow_redirects=False)


def at_client(response: requests.Response) -> dict:
    """The query the relying party receives (the response must redirect to it)."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in query.values()), query
    return {k: v[0] for k, v in query.items()}


def assert_clean_description(description: str) -> None:
    """RFC 6749 4.1.2.1/5.2: error_description is %x20-21 / %x23-5B / %x5D-7E only."""
    assert description
    bad = [ch for ch in description if not (0x20 <= ord(ch) <= 0x7E) or ch in '"\\']
    assert not bad, (description, bad)


def assert_error_redirect(op: Provider, response: requests.Response, error: str,
                          state: str | None = STATE) -> dict:
    answer = at_client(response)
    assert answer["error"] == error, answer
    assert_clean_description(answer["error_description"])
    assert answer["iss"] == op.base
    assert "code" not in answer
    if state is None:
        assert "state" not in answer
    else:
        assert answer["state"] == state
    return answer


def assert_error_page(response: requests.Response) -> None:
    """Refused without redirecting anywhere: a 400 page, no Location header."""
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


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


def redeem(op: Provider, code: str, verifier: str | None = None, *,
           client_id: str | None = None, secret: str | None = None,
           auth: str = "basic", redirect_uri: str = REDIRECT_URI) -> requests.Response:
    """POST the code to the token endpoint as a confidential (basic/post) or public client."""
    client_id = client_id or op.client_id
    secret = op.secret if secret is None and client_id == op.client_id else secret
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    kwargs = {}
    if auth == "basic":
        kwargs["auth"] = (client_id, secret)
    elif auth == "post":
        data.update(client_id=client_id, client_secret=secret)
    else:  # public client
        data["client_id"] = client_id
    return requests.post(f"{op.base}/token", data=data, timeout=10, **kwargs)


def get_code(op: Provider, client_id: str | None = None, **extra) -> tuple[str, str]:
    """(code, verifier) for a fresh authorization with PKCE."""
    verifier, challenge = pkce()
    answer = at_client(authorize(op, auth_params(client_id or op.client_id, challenge, **extra)))
    assert "code" in answer, answer
    return answer["code"], verifier


def id_token_claims(op: Provider, id_token: str) -> dict:
    key_set = KeySet.import_key_set(requests.get(f"{op.base}/jwks.json", timeout=10).json())
    return dict(jwt.decode(id_token, key_set, algorithms=["RS256"]).claims)


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
