"""private_key_jwt client authentication (RFC 7523, OpenID Connect Core 9) against a live
Tessera: a real client library's assertions are accepted; forged, replayed, expired, long
lived, unsigned and HMAC-signed ones, and the wrong method for the client, are not."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.oidc import client_auth
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, logged_in_browser, make_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT, but with a 60 s assertion (Authlib's default is an hour,
    which Tessera refuses: at most five minutes)."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id,
                                    token_endpoint=token_endpoint, alg=self.alg,
                                    header={"kid": auth.client_secret.kid}, expires_in=60)


def rsa_key(kid: str = "rp-rsa-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})


def ec_key(kid: str = "rp-ec-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig"})


def register_jwt_client(app, *keys, grant_types=("client_credentials",), **options):
    """A confidential client that authenticates with private_key_jwt and these keys."""
    jwks = {"keys": [key.as_dict(private=False) for key in keys]}
    return make_client(app, grant_types=list(grant_types), scope="openid profile",
                       token_endpoint_auth_method="private_key_jwt", jwks=jwks, **options)


def assertion(key, client_id: str, aud: str, *, alg: str = "RS256", lifetime: int = 60,
              **claims) -> str:
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
               "exp": now + lifetime, "jti": secrets.token_urlsafe(16)}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": key.kid}, payload, key, algorithms=[alg])


def unsigned(client_id: str, aud: str) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return (part({"alg": "none", "typ": "JWT"}) + "." + part(
        {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
         "jti": secrets.token_urlsafe(16)}) + ".")


def hs256(secret: bytes, kid: str, client_id: str, aud: str) -> str:
    """An HS256 assertion, made by hand (joserfc rightly refuses a PEM as an HMAC key)."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    now = int(time.time())
    signing_input = part({"alg": "HS256", "kid": kid, "typ": "JWT"}) + "." + part(
        {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
         "jti": secrets.token_urlsafe(16)})
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_request(base_url: str, client_assertion: str, **extra) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion} | extra
    return requests.post(f"{base_url}/token", data=data, timeout=10)


def assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


@pytest.fixture
def issuer(app, live_server):
    app.config["ISSUER"] = live_server
    return live_server


def test_code_flow_and_refresh_with_authlibs_private_key_jwt(app, issuer):
    key = rsa_key()
    client_id, _ = register_jwt_client(
        app, key, grant_types=("authorization_code", "refresh_token"), first_party=True)
    browser = logged_in_browser(app, issuer)
    token_endpoint = f"{issuer}/token"
    rp = OAuth2Session(client_id, key, scope="openid profile", redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256",
                       token_endpoint_auth_method="private_key_jwt")
    rp.register_client_auth_method(ShortLivedPrivateKeyJWT(token_endpoint))
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{issuer}/authorize", code_verifier=verifier,
                                         nonce=generate_token(16))
    answer = follow_to_client(browser, url)
    token = rp.fetch_token(token_endpoint, code=answer["code"], code_verifier=verifier)
    assert token["id_token"] and token["access_token"]
    keys = KeySet.import_key_set(requests.get(f"{issuer}/jwks.json", timeout=10).json())
    access = jwt.decode(token["access_token"], keys, algorithms=["ES256"])
    assert access.claims["client_id"] == client_id
    # Each request signs a fresh assertion (new jti), so refreshing works too.
    refreshed = rp.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_client_credentials_with_rs256_and_es256_assertions(app, issuer, alg):
    key = rsa_key() if alg == "RS256" else ec_key()
    client_id, _ = register_jwt_client(app, key)
    response = token_request(issuer, assertion(key, client_id, f"{issuer}/token", alg=alg))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_the_issuer_is_an_accepted_audience(app, issuer):
    key = rsa_key()
    client_id, _ = register_jwt_client(app, key)
    assert token_request(issuer, assertion(key, client_id, issuer)).status_code == 200
    assert token_request(issuer, assertion(key, client_id, [issuer])).status_code == 200


def test_the_right_key_is_chosen_by_kid_among_several(app, issuer):
    first, second = rsa_key("one"), ec_key("two")
    client_id, _ = register_jwt_client(app, first, second)
    response = token_request(issuer, assertion(second, client_id, f"{issuer}/token",
                                               alg="ES256"))
    assert response.status_code == 200, response.text


def test_an_assertion_signed_with_another_key_is_refused(app, issuer):
    registered, other = rsa_key("rp-rsa-1"), rsa_key("rp-rsa-1")
    client_id, _ = register_jwt_client(app, registered)
    assert_invalid_client(token_request(issuer, assertion(other, client_id,
                                                          f"{issuer}/token")))


def test_a_replayed_assertion_is_refused(app, issuer):
    key = rsa_key()
    client_id, _ = register_jwt_client(app, key)
    once = assertion(key, client_id, f"{issuer}/token")
    assert token_request(issuer, once).status_code == 200
    assert_invalid_client(token_request(issuer, once))
    # The same jti in a freshly signed assertion is a replay too.
    jti = json.loads(base64.urlsafe_b64decode(once.split(".")[1] + "==="))["jti"]
    assert_invalid_client(token_request(issuer, assertion(key, client_id, f"{issuer}/token",
                                                          jti=jti)))


def test_expired_and_long_lived_assertions_are_refused(app, issuer):
    key = rsa_key()
    client_id, _ = register_jwt_client(app, key)
    audience = f"{issuer}/token"
    now = int(time.time())
    assert_invalid_client(token_request(issuer, assertion(
        key, client_id, audience, iat=now - 600, exp=now - 300)))
    # Authlib's own default is an hour; we take at most five minutes.
    assert_invalid_client(token_request(issuer, assertion(key, client_id, audience,
                                                          lifetime=3600)))
    assert_invalid_client(token_request(issuer, assertion(key, client_id, audience,
                                                          exp=None)))
    # A refused assertion does not use up its jti: the same jti, now valid, is accepted.
    jti = "not-burned-" + secrets.token_urlsafe(8)
    assert_invalid_client(token_request(issuer, assertion(key, client_id, audience,
                                                          lifetime=3600, jti=jti)))
    assert token_request(issuer, assertion(key, client_id, audience, jti=jti)).status_code == 200


def test_unsigned_and_hmac_assertions_are_refused(app, issuer):
    key = rsa_key()
    client_id, secret = register_jwt_client(app, key)
    audience = f"{issuer}/token"
    assert_invalid_client(token_request(issuer, unsigned(client_id, audience)))
    # HS256 keyed with the public key (algorithm confusion) or with the client's secret.
    for hmac_secret in (key.as_pem(private=False), secret.encode()):
        assert_invalid_client(token_request(issuer, hs256(hmac_secret, key.kid, client_id,
                                                          audience)))


@pytest.mark.parametrize("claims", [
    {"iss": "someone-else"},
    {"aud": "https://other-server.example/token"},
    {"aud": ["{token}", "https://other-server.example/token"]},
    {"jti": None},
], ids=["iss-not-client", "wrong-aud", "multi-aud", "no-jti"])
def test_assertions_with_wrong_claims_are_refused(app, issuer, claims):
    key = rsa_key()
    client_id, _ = register_jwt_client(app, key)
    claims = {k: ([a.replace("{token}", f"{issuer}/token") for a in v]
                  if isinstance(v, list) else v) for k, v in claims.items()}
    audience = claims.pop("aud", f"{issuer}/token")
    assert_invalid_client(token_request(issuer, assertion(key, client_id, audience, **claims)))


def test_a_private_key_jwt_client_cannot_use_its_secret(app, issuer):
    key = rsa_key()
    client_id, secret = register_jwt_client(app, key)
    response = requests.post(f"{issuer}/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=10)
    assert_invalid_client(response)
    response = requests.post(f"{issuer}/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert_invalid_client(response)


def test_a_secret_client_cannot_use_an_assertion(app, issuer):
    key = rsa_key()
    jwks = {"keys": [key.as_dict(private=False)]}
    client_id, _ = make_client(app, grant_types=["client_credentials"], jwks=jwks)
    assert_invalid_client(token_request(issuer, assertion(key, client_id, f"{issuer}/token")))


def test_an_assertion_for_an_unknown_client_is_refused(app, issuer):
    key = rsa_key()
    assert_invalid_client(token_request(issuer, assertion(key, "no-such-client",
                                                          f"{issuer}/token")))


def test_used_jtis_are_remembered_per_client(app):
    with app.app_context():
        until = int(time.time()) + 60
        assert client_auth.use_jti("client-a", "jti-1", until)
        assert not client_auth.use_jti("client-a", "jti-1", until)
        assert client_auth.use_jti("client-b", "jti-1", until)


def test_used_jtis_are_shared_through_redis(make_app, redis_url):
    """Two instances on one Redis: a jti used at one is refused at the other."""
    first = make_app(RATELIMIT_STORAGE_URI=redis_url)
    second = make_app(RATELIMIT_STORAGE_URI=redis_url)
    jti = secrets.token_urlsafe(16)
    until = int(time.time()) + 60
    with first.app_context():
        assert client_auth.use_jti("client-a", jti, until)
    with second.app_context():
        assert not client_auth.use_jti("client-a", jti, until)
        assert client_auth.use_jti("client-b", jti, until)


def test_a_private_key_jwt_client_introspects_and_revokes_with_assertions(app, issuer):
    key = rsa_key()
    client_id, _ = register_jwt_client(app, key)
    access = token_request(issuer, assertion(key, client_id, f"{issuer}/token")).json()[
        "access_token"]

    def call(endpoint, client_assertion):
        return requests.post(f"{issuer}/{endpoint}", timeout=10, data={
            "token": access, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion})

    answer = call("introspect", assertion(key, client_id, issuer))
    assert answer.status_code == 200 and answer.json()["active"] is True
    assert answer.json()["client_id"] == client_id
    # A forged assertion is refused at introspection as at the token endpoint.
    assert_invalid_client(call("introspect", assertion(rsa_key("other"), client_id, issuer)))
    assert call("revoke", assertion(key, client_id, issuer)).status_code == 200
    answer = call("introspect", assertion(key, client_id, issuer))
    assert answer.json() == {"active": False}
