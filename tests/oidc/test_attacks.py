"""Attacks the provider must refuse (RFC 9700, OpenID Basic OP plan), each over real HTTP."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import requests
import time_machine
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.extensions import db
from app.models import AuditEvent, utcnow
from tests.oidc.helpers import (assert_error_page, assert_error_redirect, assert_token_error,
                                at_client, auth_params, authorize, get_code, make_client, pkce,
                                redeem, refresh, token_request, userinfo)


# ---- redirect URI tricks: an error page, never a redirect ---------------------------------

BAD_REDIRECTS = {
    "unregistered": "https://evil.example/callback",
    "prefix": "https://rp.example/call",
    "extra-path": "https://rp.example/callback/evil",
    "path-traversal": "https://rp.example/callback/../evil",
    "trailing-slash": "https://rp.example/callback/",
    "extra-query": "https://rp.example/callback?next=https://evil.example",
    "host-case": "https://RP.example/callback",
    "path-case": "https://rp.example/Callback",
    "scheme-downgrade": "http://rp.example/callback",
    "explicit-port": "https://rp.example:443/callback",
    "fragment": "https://rp.example/callback#evil",
    "userinfo": "https://rp.example@evil.example/callback",
    "userinfo-same-host": "https://attacker@rp.example/callback",
    "suffix-host": "https://rp.example.evil.example/callback",
    "encoded": "https%3A%2F%2Frp.example%2Fcallback",
    "quote-and-controls": 'https://rp.example/callback"\r\n\\',
    "javascript": "javascript:alert(1)//https://rp.example/callback",
}


@pytest.mark.parametrize("redirect_uri", list(BAD_REDIRECTS.values()),
                         ids=list(BAD_REDIRECTS))
def test_bad_redirect_uri_gets_an_error_page(op, redirect_uri):
    response = authorize(op, auth_params(op.client_id, redirect_uri=redirect_uri))
    assert_error_page(response)
    assert "evil" not in response.headers.get("Refresh", "")


@pytest.mark.parametrize("case", ["missing-redirect", "unknown-client", "no-client",
                                  "bad-response-type-and-redirect", "prompt-none-logged-out"])
def test_requests_without_a_trusted_redirect_get_an_error_page(op, case):
    params = auth_params(op.client_id)
    browser = None
    if case == "missing-redirect":
        params.pop("redirect_uri")
    elif case == "unknown-client":
        params["client_id"] = "no-such-client"
    elif case == "no-client":
        params.pop("client_id")
    elif case == "bad-response-type-and-redirect":
        params |= {"response_type": "token", "redirect_uri": BAD_REDIRECTS["unregistered"]}
    else:
        params |= {"prompt": "none", "redirect_uri": BAD_REDIRECTS["prefix"]}
        browser = requests.Session()
    assert_error_page(authorize(op, params, browser=browser))


def test_redirect_uri_of_another_client_is_refused(op):
    other_id, _ = make_client(op.app, first_party=True,
                              redirect_uris=["https://other.example/cb"])
    response = authorize(op, auth_params(op.client_id, redirect_uri="https://other.example/cb"))
    assert_error_page(response)


# ---- PKCE ---------------------------------------------------------------------------------

@pytest.mark.parametrize("pkce_params", [
    {},
    {"code_challenge_method": "plain", "code_challenge": "a" * 43},
    {"code_challenge": "a" * 43},  # no method means plain
    {"code_challenge_method": "S256"},  # no challenge
    {"code_challenge_method": "S512", "code_challenge": "a" * 43},
], ids=["missing", "plain", "method-missing", "challenge-missing", "unknown-method"])
def test_public_client_needs_s256_pkce(op, pkce_params):
    response = authorize(op, auth_params(op.public_id, **pkce_params))
    assert_error_redirect(op, response, "invalid_request")


def test_plain_pkce_refused_for_confidential_clients_too(op):
    response = authorize(op, auth_params(op.client_id, code_challenge="a" * 43,
                                         code_challenge_method="plain"))
    assert_error_redirect(op, response, "invalid_request")


def test_require_pkce_switch_for_a_confidential_client(op):
    client_id, _ = make_client(op.app, first_party=True, require_pkce=True)
    assert_error_redirect(op, authorize(op, auth_params(client_id)), "invalid_request")


@pytest.mark.parametrize("verifier", ["wrong", "missing", "challenge-itself"])
def test_token_request_with_a_bad_verifier(op, verifier):
    good, challenge = pkce()
    code = at_client(authorize(op, auth_params(op.public_id, challenge)))["code"]
    sent = {"wrong": pkce()[0], "missing": None, "challenge-itself": challenge}[verifier]
    response = redeem(op, code, sent, client_id=op.public_id, auth="none")
    assert_token_error(response, "invalid_grant" if verifier != "missing"
                       else "invalid_request")


def audited(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == event)))


# ---- codes --------------------------------------------------------------------------------

def test_replayed_code_is_refused_and_revokes_what_it_issued(op):
    code, verifier = get_code(op)
    first = redeem(op, code, verifier).json()
    assert userinfo(op, first["access_token"]).status_code == 200
    assert audited(op.app, "token.code_replayed") == []
    assert_token_error(redeem(op, code, verifier), "invalid_grant")
    answer = userinfo(op, first["access_token"])
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert_token_error(refresh(op, first["refresh_token"]), "invalid_grant")
    [event] = audited(op.app, "token.code_replayed")
    assert event.details["client_id"] == op.client_id and event.details["revoked"] == 1
    assert event.customer_id is not None


def test_replay_also_revokes_refreshed_descendants(op):
    code, verifier = get_code(op)
    first = redeem(op, code, verifier).json()
    second = refresh(op, first["refresh_token"]).json()
    assert_token_error(redeem(op, code, verifier), "invalid_grant")
    assert userinfo(op, second["access_token"]).status_code == 401
    assert_token_error(refresh(op, second["refresh_token"]), "invalid_grant")


def test_code_injection_across_clients(op):
    """Client B presents client A's code (with its own valid credentials): refused. A wrong
    client burns nothing, so B cannot deny A its login either."""
    other_id, other_secret = make_client(op.app, first_party=True)
    code, verifier = get_code(op)
    for auth in ("basic", "post"):
        response = redeem(op, code, verifier, client_id=other_id, secret=other_secret,
                          auth=auth)
        assert_token_error(response, "invalid_grant")
    response = redeem(op, code, verifier, client_id=op.public_id, auth="none")
    assert response.status_code in (400, 401)
    assert "access_token" not in response.text
    assert redeem(op, code, verifier).status_code == 200


def test_code_of_a_public_client_presented_by_a_confidential_one(op):
    verifier, challenge = pkce()
    code = at_client(authorize(op, auth_params(op.public_id, challenge)))["code"]
    assert_token_error(redeem(op, code, verifier), "invalid_grant")
    assert redeem(op, code, verifier, client_id=op.public_id, auth="none").status_code == 200


def test_expired_code(op):
    code, verifier = get_code(op)
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        assert_token_error(redeem(op, code, verifier), "invalid_grant")


# ---- refresh tokens -----------------------------------------------------------------------

def test_refresh_token_of_another_client_is_refused(op):
    other_id, other_secret = make_client(op.app, first_party=True)
    first = redeem(op, *get_code(op)).json()
    assert_token_error(refresh(op, first["refresh_token"], other_id, other_secret),
                       "invalid_grant")
    # The owner's token was not burnt by the attempt: it is still unrotated, so the
    # owner's refresh is an ordinary one, not a lost-response retry.
    assert_unrotated(op, first["refresh_token"])
    assert refresh(op, first["refresh_token"]).status_code == 200


def assert_unrotated(op, refresh_token: str) -> None:
    from app.oidc import tokens
    with op.app.app_context():
        grant = tokens.find_refresh_token(refresh_token)
        assert grant.rotated_at is None and grant.revoked_at is None


def test_a_refresh_asking_for_more_scope_is_refused_and_burns_nothing(op):
    first = redeem(op, *get_code(op)).json()
    response = token_request(op, {"grant_type": "refresh_token", "scope": "openid admin",
                                  "refresh_token": first["refresh_token"]},
                             auth=(op.client_id, op.secret))
    assert_token_error(response, "invalid_scope")
    assert_unrotated(op, first["refresh_token"])


def test_rotated_refresh_token_reuse_revokes_the_family(op):
    first = redeem(op, *get_code(op)).json()
    second = refresh(op, first["refresh_token"]).json()
    third = refresh(op, second["refresh_token"]).json()
    assert audited(op.app, "token.refresh_reused") == []
    assert_token_error(refresh(op, first["refresh_token"]), "invalid_grant")
    [event] = audited(op.app, "token.refresh_reused")
    assert event.details["client_id"] == op.client_id and event.customer_id is not None
    # The newest token of the family dies too: the attacker or the client holds it.
    assert_token_error(refresh(op, third["refresh_token"]), "invalid_grant")
    assert userinfo(op, third["access_token"]).status_code == 401


def test_expired_refresh_token(op):
    first = redeem(op, *get_code(op)).json()
    later = utcnow() + timedelta(seconds=int(op.app.config["REFRESH_TOKEN_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        assert_token_error(refresh(op, first["refresh_token"]), "invalid_grant")


def test_expired_access_token(op):
    first = redeem(op, *get_code(op)).json()
    later = utcnow() + timedelta(seconds=int(op.app.config["ACCESS_TOKEN_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        response = userinfo(op, first["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("token", ["", "not.a.jwt", "a" * 9000, "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_access_tokens(op, token):
    response = requests.get(f"{op.base}/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 401)
    assert response.headers["Cache-Control"] == "no-store"


# ---- forged id_token_hint -----------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hint_claims(op, sub: str) -> dict:
    now = int(utcnow().timestamp())
    return {"iss": op.base, "sub": sub, "aud": op.client_id, "iat": now, "exp": now + 600}


def _forge(op, kind: str, claims: dict) -> str:
    jwks = requests.get(f"{op.base}/jwks.json", timeout=10).json()["keys"]
    rsa = next(k for k in jwks if k["alg"] == "RS256")
    body = _b64(json.dumps(claims).encode())
    if kind == "alg-none":
        return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}."
    if kind == "hs256-public-key":
        header = _b64(json.dumps({"alg": "HS256", "kid": rsa["kid"]}).encode())
        pem = RSAKey.import_key(rsa).as_pem(private=False)
        signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"
    foreign = RSAKey.generate_key(2048)
    return jwt.encode({"alg": "RS256", "kid": rsa["kid"]}, claims, foreign)


@pytest.mark.parametrize("kind", ["alg-none", "hs256-public-key", "foreign-rsa-key"])
def test_forged_id_token_hint_is_invalid_request(op, kind):
    first = redeem(op, *get_code(op)).json()
    sub = requests.get(f"{op.base}/userinfo", timeout=10, headers={
        "Authorization": f"Bearer {first['access_token']}"}).json()["sub"]
    hint = _forge(op, kind, _hint_claims(op, sub))
    response = authorize(op, auth_params(op.client_id, prompt="none", id_token_hint=hint))
    assert_error_redirect(op, response, "invalid_request")


def test_id_token_hint_from_another_issuer(op):
    from app.oidc import keys
    with op.app.app_context():
        hint = keys.sign(_hint_claims(op, "X") | {"iss": "https://evil.example"}, "RS256")
    response = authorize(op, auth_params(op.client_id, id_token_hint=hint))
    assert_error_redirect(op, response, "invalid_request")


def test_error_redirect_does_not_reflect_injected_parameters(op):
    params = auth_params(op.client_id, response_type='token"\r\n<x>',
                         state="s&error=ok")
    answer = assert_error_redirect(op, authorize(op, params), "unsupported_response_type",
                                   state="s&error=ok")
    assert answer["error"] == "unsupported_response_type"
    assert urlencode({"state": "s&error=ok"}) in authorize(op, params).headers["Location"]
