"""A real relying-party library (Authlib's OAuth2Session) against a live Tessera."""
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.jwk import KeySet

from app.identity.customer_ids import is_valid
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, logged_in_browser, make_client


def discover(base_url: str) -> dict:
    return requests.get(f"{base_url}/.well-known/openid-configuration", timeout=10).json()


@pytest.mark.parametrize("public", [True, False], ids=["public+pkce", "confidential"])
def test_code_flow_with_a_real_client(app, live_server, public):
    app.config["ISSUER"] = live_server
    client_id, secret = make_client(app, public=public, first_party=True,
                                    scope="openid profile email customer_id")
    metadata = discover(live_server)
    assert metadata["issuer"] == live_server
    browser = logged_in_browser(app, live_server)

    rp = OAuth2Session(client_id, secret, scope="openid profile email customer_id",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                       token_endpoint_auth_method="none" if public else "client_secret_basic")
    verifier = generate_token(48)
    nonce = generate_token(16)
    url, state = rp.create_authorization_url(metadata["authorization_endpoint"],
                                             code_verifier=verifier, nonce=nonce)
    answer = follow_to_client(browser, url)
    assert answer["state"] == state
    assert answer["iss"] == live_server

    token = rp.fetch_token(metadata["token_endpoint"], code=answer["code"],
                           code_verifier=verifier)
    key_set = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], key_set, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256"
    assert id_token.claims["iss"] == live_server
    assert id_token.claims["aud"] == client_id
    assert id_token.claims["nonce"] == nonce
    assert id_token.claims["amr"] == ["pwd"]
    assert is_valid(id_token.claims["sub"])
    assert id_token.claims["customer_id"] == id_token.claims["sub"]
    assert "at_hash" in id_token.claims and "sid" in id_token.claims

    access = jwt.decode(token["access_token"], key_set, algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["sub"] == id_token.claims["sub"]
    assert access.claims["client_id"] == client_id

    userinfo = rp.get(metadata["userinfo_endpoint"], timeout=10).json()
    assert userinfo["sub"] == id_token.claims["sub"]
    assert userinfo["email"] == "ada@example.com" and userinfo["email_verified"] is True

    refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
