"""acr_values, prompt=login and max_age drive the login flow's factors, and the ID token
reports exactly the factors used (amr) and the level reached (acr)."""
from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest

from app.auth.levels import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from app.directory.customers import add_identifier, normalize_identifier
from app.extensions import db
from app.models import Customer, Identifier
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_totp
from tests.helpers import csrf_token, last_code
from tests.oidc.helpers import (EMAIL, assert_error_redirect, at_client, auth_params, authorize,
                                id_token_claims, pkce, redeem)

PHONE = "+447400123456"


def add_phone(op) -> None:
    with op.app.app_context():
        identifier = db.session.scalar(db.select(Identifier).where(Identifier.value == EMAIL))
        add_identifier(identifier.customer, normalize_identifier("phone", PHONE), TEST_ORIGIN,
                       verified=True)
        db.session.commit()


def tokens_for(op, response, verifier) -> dict:
    answer = at_client(response)
    token = redeem(op, answer["code"], verifier)
    assert token.status_code == 200, token.text
    return id_token_claims(op, token.json()["id_token"])


def follow(op, response):
    location = response.headers["Location"]
    return op.browser.get(urljoin(op.base, location), timeout=10, allow_redirects=False)


def post_form(op, page, path, data):
    data = {"csrf_token": csrf_token(page.text)} | data
    return op.browser.post(urljoin(op.base, path), data=data, timeout=10,
                           allow_redirects=False)


@pytest.mark.parametrize("acr_values", [ACR_MULTI_FACTOR, "mfa",
                                        f"{ACR_MULTI_FACTOR} urn:unknown:acr"])
def test_an_app_asking_for_two_factors_gets_a_step_up(op, acr_values):
    add_phone(op)
    verifier, challenge = pkce()
    params = auth_params(op.client_id, challenge, acr_values=acr_values, nonce="n1")
    response = authorize(op, params)
    assert response.status_code == 303
    login = urlsplit(response.headers["Location"])
    assert login.path == "/login" and parse_qs(login.query)["acr"] == ["2fa"]

    page = follow(op, response)
    answer = post_form(op, page, response.headers["Location"],
                       {"identifier": EMAIL, "password": STRONG_PASSWORD})
    assert answer.headers["Location"].endswith("/login/second-factor")
    choice = op.browser.get(f"{op.base}/login/second-factor", timeout=10)
    assert "Text a code to" in choice.text
    sent = post_form(op, choice, "/login/second-factor/sms", {})
    assert sent.headers["Location"].endswith("/login/code")
    code_page = op.browser.get(f"{op.base}/login/code", timeout=10)
    done = post_form(op, code_page, "/login/code", {"code": last_code(op.app, PHONE)})
    assert done.status_code == 303 and "/authorize?" in done.headers["Location"]

    claims = tokens_for(op, follow(op, done), verifier)
    assert claims["acr"] == ACR_MULTI_FACTOR
    assert claims["amr"] == ["pwd", "sms", "mfa"]


def test_a_two_factor_session_satisfies_the_request_without_a_new_login(op):
    add_phone(op)
    verifier, challenge = pkce()
    first = authorize(op, auth_params(op.client_id, challenge, acr_values=ACR_MULTI_FACTOR))
    page = follow(op, first)
    post_form(op, page, first.headers["Location"], {"identifier": EMAIL,
                                                    "password": STRONG_PASSWORD})
    choice = op.browser.get(f"{op.base}/login/second-factor", timeout=10)
    post_form(op, choice, "/login/second-factor/sms", {})
    code_page = op.browser.get(f"{op.base}/login/code", timeout=10)
    post_form(op, code_page, "/login/code", {"code": last_code(op.app, PHONE)})
    verifier, challenge = pkce()
    again = authorize(op, auth_params(op.client_id, challenge, acr_values=ACR_MULTI_FACTOR))
    assert tokens_for(op, again, verifier)["acr"] == ACR_MULTI_FACTOR


def test_prompt_none_cannot_step_up(op):
    response = authorize(op, auth_params(op.client_id, pkce()[1], acr_values="mfa",
                                         prompt="none"))
    assert_error_redirect(op, response, "login_required")


def test_a_request_that_accepts_one_factor_is_not_stepped_up(op):
    verifier, challenge = pkce()
    response = authorize(op, auth_params(
        op.client_id, challenge, acr_values=f"{ACR_SINGLE_FACTOR} {ACR_MULTI_FACTOR}"))
    claims = tokens_for(op, response, verifier)
    assert claims["acr"] == ACR_SINGLE_FACTOR and claims["amr"] == ["pwd"]


def test_prompt_login_repeats_both_factors_for_a_totp_customer(op):
    with op.app.app_context():
        customer = db.session.scalar(db.select(Customer))
        secret, _codes = make_totp(customer)
        db.session.commit()
    verifier, challenge = pkce()
    response = authorize(op, auth_params(op.client_id, challenge, prompt="login"))
    page = follow(op, response)
    answer = post_form(op, page, response.headers["Location"],
                       {"identifier": EMAIL, "password": STRONG_PASSWORD})
    assert answer.headers["Location"].endswith("/login/second-factor")
    choice = op.browser.get(f"{op.base}/login/second-factor", timeout=10)
    done = post_form(op, choice, "/login/second-factor/totp",
                     {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 303, done.text[:500]
    claims = tokens_for(op, follow(op, done), verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
