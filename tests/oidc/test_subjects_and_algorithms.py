"""Pairwise subjects, per-client ID token algorithms, and native-app redirect URIs
(RFC 8252), against a live Tessera with Authlib's OAuth2Session as the relying party."""
from __future__ import annotations

import base64
import hashlib
import warnings
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.extensions import db
from app.models import Customer
from tests.oidc.helpers import logged_in_browser, make_client


@pytest.fixture
def issuer(app, live_server):
    app.config["ISSUER"] = live_server
    return live_server


def authorize(browser, issuer, client_id, redirect_uri, scope="openid"):
    """Start a code flow; return (session, verifier, the redirect's Location)."""
    rp = OAuth2Session(client_id, None, scope=scope, redirect_uri=redirect_uri,
                       code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{issuer}/authorize", code_verifier=verifier,
                                         nonce=generate_token(16))
    response = browser.get(url, timeout=10, allow_redirects=False)
    return rp, verifier, response


def code_flow(browser, issuer, client_id, secret, redirect_uri, scope="openid"):
    """A whole code flow; returns the token response and the userinfo response."""
    _, verifier, response = authorize(browser, issuer, client_id, redirect_uri, scope)
    assert response.status_code in (302, 303), response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    code = parse_qs(urlsplit(location).query)["code"][0]
    rp = OAuth2Session(client_id, secret, scope=scope, redirect_uri=redirect_uri,
                       token_endpoint_auth_method="none" if secret is None
                       else "client_secret_basic")
    token = rp.fetch_token(f"{issuer}/token", code=code, code_verifier=verifier)
    userinfo = rp.get(f"{issuer}/userinfo", timeout=10).json()
    return token, userinfo


def decode(issuer, token, alg):
    keys = KeySet.import_key_set(requests.get(f"{issuer}/jwks.json", timeout=10).json())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jwt.decode(token, keys, algorithms=[alg])


def customer_id(app) -> str:
    with app.app_context():
        return db.session.scalars(db.select(Customer.customer_id)).one()


# ---- pairwise subjects ------------------------------------------------------------------

def test_pairwise_subjects_differ_by_sector_and_agree_within_one(app, issuer):
    browser = logged_in_browser(app, issuer)
    real_id = customer_id(app)
    clients = {}
    for name, uri, sector in (("a", "https://a.example/cb", None),
                              ("b", "https://b.example/cb", None),
                              ("c1", "https://c1.example/cb", "https://sector.example"),
                              ("c2", "https://c2.example/cb", "https://sector.example")):
        options = {"sector_identifier": sector} if sector else {}
        client_id, secret = make_client(app, first_party=True, redirect_uris=[uri],
                                        subject_type="pairwise", **options)
        clients[name] = code_flow(browser, issuer, client_id, secret, uri)
    subs = {}
    for name, (token, userinfo) in clients.items():
        id_token = decode(issuer, token["id_token"], "RS256").claims
        access = decode(issuer, token["access_token"], "ES256").claims
        assert userinfo["sub"] == id_token["sub"] == access["sub"]
        assert real_id not in id_token["sub"] and id_token["sub"] != real_id
        assert "customer_id" not in id_token and "customer_id" not in userinfo
        subs[name] = id_token["sub"]
    assert subs["a"] != subs["b"]
    assert subs["c1"] == subs["c2"]
    assert subs["c1"] not in (subs["a"], subs["b"])


def test_pairwise_sub_is_stable_for_one_client(app, issuer):
    browser = logged_in_browser(app, issuer)
    uri = "https://a.example/cb"
    client_id, secret = make_client(app, first_party=True, redirect_uris=[uri],
                                    subject_type="pairwise")
    first, _ = code_flow(browser, issuer, client_id, secret, uri)
    second, _ = code_flow(browser, issuer, client_id, secret, uri)
    assert decode(issuer, first["id_token"], "RS256").claims["sub"] == \
        decode(issuer, second["id_token"], "RS256").claims["sub"]


@pytest.mark.parametrize("subject_type", ["public", "pairwise"])
def test_customer_id_claim_only_with_its_scope(app, issuer, subject_type):
    browser = logged_in_browser(app, issuer)
    real_id = customer_id(app)
    uri = "https://a.example/cb"
    client_id, secret = make_client(app, first_party=True, redirect_uris=[uri],
                                    scope="openid profile customer_id",
                                    subject_type=subject_type)
    without, userinfo = code_flow(browser, issuer, client_id, secret, uri, "openid profile")
    claims = decode(issuer, without["id_token"], "RS256").claims
    assert "customer_id" not in claims and "customer_id" not in userinfo
    assert (claims["sub"] == real_id) is (subject_type == "public")
    assert "customer_id" not in decode(issuer, without["access_token"], "ES256").claims

    with_scope, userinfo = code_flow(browser, issuer, client_id, secret, uri,
                                     "openid customer_id")
    claims = decode(issuer, with_scope["id_token"], "RS256").claims
    assert claims["customer_id"] == userinfo["customer_id"] == real_id
    assert userinfo["sub"] == claims["sub"]


# ---- ID token signing algorithm per client ------------------------------------------------

def left_half_hash(value: str, hash_name: str) -> str:
    digest = hashlib.new(hash_name, value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.mark.parametrize("alg, hash_name", [("RS256", "sha256"), ("ES256", "sha256"),
                                            ("EdDSA", "sha512"), ("Ed25519", "sha512")])
def test_id_token_algorithm_per_client(app, issuer, alg, hash_name):
    browser = logged_in_browser(app, issuer)
    uri = "https://a.example/cb"
    client_id, secret = make_client(app, first_party=True, redirect_uris=[uri],
                                    id_token_signed_response_alg=alg)
    token, _ = code_flow(browser, issuer, client_id, secret, uri)
    id_token = decode(issuer, token["id_token"], alg)
    assert id_token.header["alg"] == alg
    published = requests.get(f"{issuer}/jwks.json", timeout=10).json()["keys"]
    assert {"kid": id_token.header["kid"], "alg": alg} in [
        {"kid": key["kid"], "alg": key.get("alg")} for key in published]
    assert id_token.claims["at_hash"] == left_half_hash(token["access_token"], hash_name)
    # It verifies with its own algorithm only.
    other = "ES256" if alg != "ES256" else "RS256"
    with pytest.raises(JoseError):
        decode(issuer, token["id_token"], other)


def test_rs256_is_the_default_id_token_algorithm(app, issuer):
    browser = logged_in_browser(app, issuer)
    uri = "https://a.example/cb"
    client_id, secret = make_client(app, first_party=True, redirect_uris=[uri])
    token, _ = code_flow(browser, issuer, client_id, secret, uri)
    id_token = decode(issuer, token["id_token"], "RS256")
    assert id_token.claims["at_hash"] == left_half_hash(token["access_token"], "sha256")


# ---- native apps (RFC 8252) ----------------------------------------------------------------
# Decision (server.py _loopback_match): a public client registered with a loopback IP
# literal (127.0.0.1 or [::1]) may use any port, with the same scheme, path and query.
# "localhost" is matched exactly only, never with a varying port: RFC 8252 section 8.3
# recommends the IP literal, and a name can resolve elsewhere. Confidential clients get
# exact matching only.

def redirected_to(response, uri: str) -> bool:
    return response.status_code in (302, 303) and \
        response.headers["Location"].startswith(uri + "?")


def test_loopback_redirect_may_use_any_port(app, issuer):
    browser = logged_in_browser(app, issuer)
    client_id, _ = make_client(app, public=True, first_party=True,
                               redirect_uris=["http://127.0.0.1/callback"])
    token, userinfo = code_flow(browser, issuer, client_id, None,
                                "http://127.0.0.1:53123/callback")
    assert userinfo["sub"] == decode(issuer, token["id_token"], "RS256").claims["sub"]
    for uri in ("http://127.0.0.1:8080/callback", "http://127.0.0.1/callback"):
        assert redirected_to(authorize(browser, issuer, client_id, uri)[2], uri)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:53123/other",
    "http://127.0.0.1:53123/callback/",
    "http://localhost:53123/callback",
    "https://127.0.0.1:53123/callback",
    "http://[::1]:53123/callback",
    "http://user@127.0.0.1:53123/callback",
    "http://127.0.0.1:53123/callback?x=1",
])
def test_loopback_redirect_must_otherwise_match(app, issuer, uri):
    browser = logged_in_browser(app, issuer)
    client_id, _ = make_client(app, public=True, first_party=True,
                               redirect_uris=["http://127.0.0.1/callback"])
    response = authorize(browser, issuer, client_id, uri)[2]
    assert response.status_code == 400 and "Location" not in response.headers


def test_ipv6_loopback_and_localhost(app, issuer):
    browser = logged_in_browser(app, issuer)
    client_id, _ = make_client(app, public=True, first_party=True,
                               redirect_uris=["http://[::1]/callback",
                                              "http://localhost/callback"])
    assert redirected_to(authorize(browser, issuer, client_id,
                                   "http://[::1]:53123/callback")[2],
                         "http://[::1]:53123/callback")
    assert redirected_to(authorize(browser, issuer, client_id, "http://localhost/callback")[2],
                         "http://localhost/callback")
    response = authorize(browser, issuer, client_id, "http://localhost:53123/callback")[2]
    assert response.status_code == 400


def test_confidential_clients_get_no_port_leeway(app, issuer):
    browser = logged_in_browser(app, issuer)
    client_id, _ = make_client(app, first_party=True,
                               redirect_uris=["http://127.0.0.1/callback"])
    response = authorize(browser, issuer, client_id, "http://127.0.0.1:53123/callback")[2]
    assert response.status_code == 400


def test_private_use_scheme_matches_exactly(app, issuer):
    browser = logged_in_browser(app, issuer)
    uri = "com.example.app:/oauth2redirect"
    client_id, _ = make_client(app, public=True, first_party=True, redirect_uris=[uri])
    token, userinfo = code_flow(browser, issuer, client_id, None, uri)
    assert userinfo["sub"] == decode(issuer, token["id_token"], "RS256").claims["sub"]
    for wrong in ("com.example.app:/other", "com.example.app:/oauth2redirect/x",
                  "com.example.evil:/oauth2redirect", "com.example.app://oauth2redirect"):
        response = authorize(browser, issuer, client_id, wrong)[2]
        assert response.status_code == 400 and "Location" not in response.headers
