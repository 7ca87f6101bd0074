"""The token endpoint over real HTTP: client authentication, grants, RFC 6749 5.2 errors.

Every error carries Cache-Control: no-store, a clean error_description, and changes
nothing (no token row is written, and the code can still be redeemed afterwards).
"""
from __future__ import annotations

import pytest
import requests

from app.extensions import db
from app.models import IssuedToken, utcnow
from tests.oidc.helpers import (REDIRECT_URI, Provider, assert_token_error, get_code,
                                id_token_claims, make_client, redeem, refresh, token_request,
                                userinfo)


def token_rows(op: Provider) -> int:
    with op.app.app_context():
        return db.session.scalar(db.select(db.func.count(IssuedToken.id)))


# ---- success ------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["basic", "post"])
def test_confidential_client_authenticates_with_basic_or_post(op, auth):
    code, verifier = get_code(op)
    response = redeem(op, code, verifier, auth=auth)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    assert userinfo(op, body["access_token"]).status_code == 200


def test_public_client_with_pkce(op):
    code, verifier = get_code(op, op.public_id)
    response = redeem(op, code, verifier, client_id=op.public_id, auth="none")
    assert response.status_code == 200, response.text
    assert id_token_claims(op, response.json()["id_token"])["aud"] == op.public_id


def test_a_refresh_token_from_before_a_sign_out_everywhere_is_refused(op):
    """Self-service password recovery and support's actions set the customer's
    tokens_not_before; a refresh token issued earlier must stop working, not only the
    access tokens."""
    first = redeem(op, *get_code(op)).json()
    with op.app.app_context():
        grant = db.session.scalars(db.select(IssuedToken).order_by(IssuedToken.id.desc())).first()
        grant.customer.tokens_not_before = utcnow()
        db.session.commit()
        rows = token_rows(op)
    assert_token_error(refresh(op, first["refresh_token"]), "invalid_grant")
    assert token_rows(op) == rows  # refused before anything was minted


def test_refresh_rotates_and_keeps_the_subject(op):
    first = redeem(op, *get_code(op)).json()
    second = refresh(op, first["refresh_token"])
    assert second.status_code == 200 and second.headers["Cache-Control"] == "no-store"
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert userinfo(op, second.json()["access_token"]).status_code == 200


# ---- malformed requests -------------------------------------------------------------------

MALFORMED = [
    # (id, data, expected error)
    ("no-grant-type", {"code": "{code}"}, "invalid_request"),
    ("password", {"grant_type": "password", "username": "ada@example.com",
                  "password": "x"}, "unsupported_grant_type"),
    ("implicit", {"grant_type": "implicit"}, "unsupported_grant_type"),
    ("unknown-grant", {"grant_type": "urn:example:magic"}, "unsupported_grant_type"),
    ("grant-with-control-chars", {"grant_type": 'pass"word\n\x01\\'},
     "unsupported_grant_type"),
    ("no-code", {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI},
     "invalid_request"),
    ("unknown-code", {"grant_type": "authorization_code", "code": "not-a-code",
                      "redirect_uri": REDIRECT_URI}, "invalid_grant"),
    ("huge-code", {"grant_type": "authorization_code", "code": "x" * 5000,
                   "redirect_uri": REDIRECT_URI}, "invalid_grant"),
    ("wrong-redirect", {"grant_type": "authorization_code", "code": "{code}",
                        "redirect_uri": "https://rp.example/other"}, "invalid_grant"),
    ("no-redirect", {"grant_type": "authorization_code", "code": "{code}"}, "invalid_grant"),
    ("wrong-verifier", {"grant_type": "authorization_code", "code": "{code}",
                        "redirect_uri": REDIRECT_URI, "code_verifier": "x" * 50},
     "invalid_grant"),
    ("no-refresh-token", {"grant_type": "refresh_token"}, "invalid_request"),
    ("unknown-refresh-token", {"grant_type": "refresh_token", "refresh_token": "nope"},
     "invalid_grant"),
    ("client-credentials-not-registered", {"grant_type": "client_credentials"},
     "unauthorized_client"),
]


@pytest.mark.parametrize("data, error", [(d, e) for _, d, e in MALFORMED],
                         ids=[i for i, _, _ in MALFORMED])
def test_malformed_token_requests(op, data, error):
    code, verifier = get_code(op)
    before = token_rows(op)
    data = {k: (code if v == "{code}" else v) for k, v in data.items()}
    assert_token_error(token_request(op, data, auth=(op.client_id, op.secret)), error)
    assert token_rows(op) == before
    # ...and nothing changed: the code is still good.
    assert redeem(op, code, verifier).status_code == 200


def test_repeated_parameter_is_invalid_request(op):
    code, verifier = get_code(op)
    body = ("grant_type=authorization_code&code=" + code + "&code=" + code
            + "&redirect_uri=" + requests.utils.quote(REDIRECT_URI, safe=""))
    response = token_request(op, body, auth=(op.client_id, op.secret),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_token_error(response, "invalid_request")


def test_get_is_not_allowed(op):
    response = requests.get(f"{op.base}/token?grant_type=client_credentials", timeout=10,
                            auth=(op.client_id, op.secret))
    assert response.status_code in (400, 405)
    assert "access_token" not in response.text


def test_refresh_cannot_widen_the_scope(op):
    first = redeem(op, *get_code(op)).json()
    response = token_request(op, {"grant_type": "refresh_token", "scope": "openid email",
                                  "refresh_token": first["refresh_token"]},
                             auth=(op.client_id, op.secret))
    assert_token_error(response, "invalid_scope")
    assert refresh(op, first["refresh_token"]).status_code == 200  # not burnt


# ---- client authentication ----------------------------------------------------------------

def test_wrong_client_secret_is_invalid_client(op):
    code, verifier = get_code(op)
    for auth in ("basic", "post"):
        response = redeem(op, code, verifier, secret="wrong-" + op.secret, auth=auth)
        assert_token_error(response, "invalid_client", 401)
        if auth == "basic":
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert redeem(op, code, verifier).status_code == 200


@pytest.mark.parametrize("case", ["unknown-client", "no-credentials", "public-sends-secret",
                                  "empty-secret", "secret-of-another-client"])
def test_client_authentication_failures(op, case):
    code, verifier = get_code(op)
    other_id, other_secret = make_client(op.app, first_party=True)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}
    auth = None
    if case == "unknown-client":
        auth = ("no-such-client", op.secret)
    elif case == "no-credentials":
        data["client_id"] = op.client_id
    elif case == "public-sends-secret":
        data |= {"client_id": op.public_id, "client_secret": "anything"}
    elif case == "empty-secret":
        auth = (op.client_id, "")
    else:
        auth = (op.client_id, other_secret)
    assert_token_error(token_request(op, data, auth=auth), "invalid_client", 401)
    assert redeem(op, code, verifier).status_code == 200


@pytest.mark.parametrize("case", ["basic-and-body-secret", "basic-and-other-body-client-id",
                                  "basic-and-assertion"])
def test_one_client_authentication_method_per_request(op, case):
    """RFC 6749 2.3 (issue 12, items 11 and 12): two methods at once, or a body client_id
    that is not the Basic one, is invalid_request at every authenticating endpoint, even
    when each credential is right, and spends nothing."""
    code, verifier = get_code(op)
    other_id, other_secret = make_client(op.app, first_party=True)
    extra = {"basic-and-body-secret": {"client_id": op.client_id, "client_secret": op.secret},
             "basic-and-other-body-client-id": {"client_id": other_id},
             "basic-and-assertion": {"client_assertion_type":
                                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                     "client_assertion": "a.b.c"}}[case]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier} | extra
    assert_token_error(token_request(op, data, auth=(op.client_id, op.secret)),
                       "invalid_request")
    cc = token_request(op, {"grant_type": "client_credentials"} | extra,
                       auth=(op.client_id, op.secret))
    assert cc.status_code == 400 and "access_token" not in cc.json()
    for endpoint in ("introspect", "revoke"):
        response = requests.post(f"{op.base}/{endpoint}", data={"token": "x"} | extra,
                                 auth=(op.client_id, op.secret), timeout=10)
        assert response.status_code == 400, (endpoint, response.text)
        assert response.json()["error"] == "invalid_request"
    assert redeem(op, code, verifier).status_code == 200
