"""Helpers for OpenID Connect tests against a live server: a browser session that is
logged in, and a relying-party client built on Authlib's requests OAuth2Session."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from app.extensions import db
from app.oidc.clients import create_client
from app.platform.audit import Origin
from tests.conftest import csrf_token
from tests.factories import STRONG_PASSWORD, make_customer

REDIRECT_URI = "https://rp.example/callback"


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
