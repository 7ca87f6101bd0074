"""Helpers for OpenID Connect tests against a live server: a browser session that is
logged in, registered clients, and the steps of the code flow as a relying party takes them
(authorization request, what the client receives, the token endpoint), with the assertions
the OAuth error answers share. The `op` fixture that builds a `Provider` is in conftest.py."""
from __future__ import annotations

import hashlib
import secrets
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from app.extensions import db
from app.oidc.clients import create_client
from app.platform.audit import Origin
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import csrf_token

REDIRECT_URI = "https://rp.example/callback"
EMAIL = "ada@example.com"
STATE = "st-4a7e"


def make_client(app, **options):
    """Register a client and return (client_id, secret-or-None)."""
    with app.app_context():
        extra = {k: options.pop(k) for k in list(options) if k not in
                 ("public", "first_party", "grant_types", "scope", "admin")}
        client, secret = create_client(options.pop("name", "Relying party"),
                                       extra.pop("redirect_uris", [REDIRECT_URI]),
                                       origin=Origin(actor="test"), **options)
        for key, value in extra.items():
            setattr(client, key, value)
        db.session.commit()
        return client.client_id, secret


def logged_in_browser(app, base_url: str, email: str = "ada@example.com") -> requests.Session:
    """A requests session that logged in through the hosted login page."""
    with app.app_context():
        make_customer(email=email)
    browser = requests.Session()
    token = csrf_token(browser.get(f"{base_url}/login", timeout=10).text)
    response = browser.post(f"{base_url}/login", timeout=10, allow_redirects=False,
                            data={"csrf_token": token, "identifier": email,
                                  "password": STRONG_PASSWORD})
    assert response.status_code == 303
    return browser


def follow_to_client(browser: requests.Session, url: str) -> dict:
    """GET an authorization URL in the browser and return the query the client receives."""
    response = browser.get(url, timeout=10, allow_redirects=False)
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# ---- the code flow against a live provider ------------------------------------------------

@dataclass
class Provider:
    """A live Tessera with a logged-in browser and two registered clients."""

    app: object
    base: str
    browser: requests.Session
    client_id: str  # confidential, first party, client_secret_basic
    secret: str
    public_id: str  # public, first party (PKCE required)


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
    """Send the authorization request by GET or POST from the logged-in browser (or
    `browser`); the response is not followed."""
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
    """The response redirects `error` to the client, with a clean description, our
    issuer, no code, and the request's state (none if `state` is None)."""
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
    """The claims of an ID token, verified with the provider's published keys."""
    key_set = KeySet.import_key_set(requests.get(f"{op.base}/jwks.json", timeout=10).json())
    return dict(jwt.decode(id_token, key_set, algorithms=["RS256"]).claims)


def token_request(op: Provider, data: dict, auth=None, **kwargs) -> requests.Response:
    """POST `data` to the token endpoint."""
    return requests.post(f"{op.base}/token", data=data, auth=auth, timeout=10, **kwargs)


def assert_token_error(response: requests.Response, error: str, status: int = 400) -> dict:
    """An RFC 6749 5.2 error answer: this error and status, no-store, JSON, a clean
    description, no token; returns the body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    if "error_description" in body:
        assert_clean_description(body["error_description"])
    assert "access_token" not in body
    return body


def userinfo(op: Provider, access_token: str) -> requests.Response:
    """GET the userinfo endpoint with the access token."""
    return requests.get(f"{op.base}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})


def refresh(op: Provider, refresh_token: str, client_id: str | None = None,
            secret: str | None = None) -> requests.Response:
    """Use the refresh token, as the confidential client unless told otherwise."""
    return token_request(op, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(client_id or op.client_id, secret or op.secret))
