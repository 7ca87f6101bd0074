"""Which app (issue 14, item 5), through the Flask test client: the login, sign-up and
consent pages reached from an app's authorization request name the app, show its logo
(its origin allowed by that response's CSP only) and its privacy policy and terms when
registered, all escaped; the consent page says who is signed in, with a "Not you?" that
logs out and returns to the same request; and a wrong sign-in link gets plain words, with
the developer's detail in the log only. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import html
import logging
import re
from urllib.parse import urlencode

import pytest
from markupsafe import escape

from app.extensions import db
from app.models import LoginSession
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import csrf_token
from tests.oidc.helpers import REDIRECT_URI, make_client

LOGO = "https://cdn.shop.example/logo.png"
POLICY = "https://shop.example/privacy"
TERMS = "https://shop.example/terms"
NAME = 'Shop <b>"&"</b>'


def authorize_path(client_id: str, **extra) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid", "state": "st-1", **extra}
    return f"/authorize?{urlencode(params)}"


def text(response) -> str:
    """The page's text as people read it: tags dropped, entities decoded, spaces folded."""
    body = response.get_data(as_text=True).split("<body>", 1)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def img_src(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(part for part in policy.split("; ") if part.startswith("img-src"))


@pytest.fixture
def shop(app) -> str:
    """A third-party public client with every display URI but the home page."""
    client_id, _ = make_client(app, name=NAME, public=True, logo_uri=LOGO,
                               policy_uri=POLICY, tos_uri=TERMS)
    return client_id


@pytest.fixture
def bare(app) -> str:
    """A client that registered no display URIs."""
    client_id, _ = make_client(app, name="Bare app", public=True)
    return client_id


@pytest.mark.parametrize(("page", "heading"), [
    ("/login", "Log in to"), ("/signup", "Create your account for")])
def test_pages_from_an_app_name_it_and_show_its_logo_and_links(app, client, shop, page,
                                                               heading):
    response = client.get(f"{page}?{urlencode({'next': authorize_path(shop)})}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<b>" not in body  # the name is escaped everywhere
    assert f"{heading} {NAME}" in text(response)
    # The header wears the app's logo and name (web/base.html); the logo is decorative,
    # the name beside it says what it is.
    assert f'<img class="brand-logo" src="{LOGO}" alt="">' in body
    assert f'<span class="brand-name">{escape(NAME)}</span>' in body
    assert f'href="{POLICY}"' in body and f'href="{TERMS}"' in body
    assert img_src(response) == "img-src 'self' data: https://cdn.shop.example"


@pytest.mark.parametrize("page", ["/login", "/signup"])
def test_without_registered_metadata_or_an_app_nothing_is_shown(app, client, bare, page):
    plain = client.get(page)
    from_bare = client.get(f"{page}?{urlencode({'next': authorize_path(bare)})}")
    from_nobody = client.get(f"{page}?{urlencode({'next': authorize_path('no-such')})}")
    assert "Bare app" in text(from_bare)
    for response in (plain, from_bare, from_nobody):
        body = response.get_data(as_text=True)
        assert "<img" not in body and "Privacy policy" not in body
        assert img_src(response) == "img-src 'self' data:"
    assert "Bare app" not in text(plain) and "no-such" not in text(from_nobody)


def test_the_app_is_named_on_the_code_page_after_sign_up(app, client, shop):
    page = client.get(f"/signup?{urlencode({'next': authorize_path(shop)})}")
    action = html.unescape(page.get_data(as_text=True).split('<form method="post" action="')[1]
                           .split('"')[0])
    started = client.post(action, data={"csrf_token": csrf_token(page.text),
                                        "identifier": "new@example.com",
                                        "password": STRONG_PASSWORD})
    assert started.status_code == 303, started.text
    code_page = client.get("/signup/verify")
    assert f"back to {NAME}" in text(code_page)
    assert img_src(code_page).endswith("https://cdn.shop.example")


# ---- consent: who is signed in ------------------------------------------------------------

def logged_in_client(app, **customer):
    with app.app_context():
        make_customer(**customer)
    browser = app.test_client()
    page = browser.get("/login")
    identifier = customer.get("email") or customer.get("phone")
    response = browser.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "identifier": identifier,
                                            "password": STRONG_PASSWORD})
    assert response.status_code == 303, response.text
    return browser


@pytest.mark.parametrize(("customer", "shown"), [
    ({"email": "ada@example.com"}, "Ada Lovelace"),
    ({"email": "ada@example.com", "given_name": None, "family_name": None}, "a•••@example.com"),
    ({"email": None, "phone": "+14155552671", "given_name": None, "family_name": None},
     "+14•••••••71"),
])
def test_consent_says_who_is_signed_in(app, shop, customer, shown):
    browser = logged_in_client(app, **customer)
    page = browser.get(authorize_path(shop, code_challenge="x" * 43,
                                      code_challenge_method="S256"))
    assert page.status_code == 200, page.text
    assert f"Signed in as {shown} — Not you?" in text(page)
    assert f"Allow {NAME}?" in text(page) and f'href="{TERMS}"' in page.text
    assert img_src(page).endswith("https://cdn.shop.example")
    assert "ada@example.com" not in text(page)


def test_not_you_logs_out_and_returns_to_the_same_request(app, shop):
    browser = logged_in_client(app, email="ada@example.com")
    request_path = authorize_path(shop, code_challenge="x" * 43, code_challenge_method="S256")
    page = browser.get(request_path)
    action = html.unescape(page.text.split('class="signed-in-as" method="post" action="')[1]
                           .split('"')[0])
    response = browser.post(action, data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert response.location == request_path
    with app.app_context():
        assert db.session.scalar(db.select(LoginSession.ended_at)) is not None
    onward = browser.get(response.location)
    assert onward.status_code == 303 and onward.location.startswith("/login?next=")
    assert f"Log in to {NAME}" in text(browser.get(onward.location))


# ---- the authorize error page --------------------------------------------------------------

@pytest.mark.parametrize(("params", "detail", "names_app"), [
    ({"redirect_uri": "https://evil.example/cb"}, "not registered", True),
    ({"client_id": "no-such-client"}, "does not exist", False),
    ({"redirect_uri": None}, "no redirect_uri", True),
    ({"response_type": "token", "client_id": "no-such-client"}, "no client", False),
])
def test_a_wrong_sign_in_link_reads_in_plain_words(app, client, shop, caplog, params, detail,
                                                   names_app):
    query = {"response_type": "code", "client_id": shop, "redirect_uri": REDIRECT_URI,
             "scope": "openid", **params}
    with caplog.at_level(logging.WARNING):
        response = client.get("/authorize?" + urlencode({k: v for k, v in query.items()
                                                         if v is not None}))
    assert response.status_code == 400 and "Location" not in response.headers
    page = text(response)
    assert "This sign-in link is not working" in page
    assert "Go back to the app and try to log in again" in page
    assert "contact the app's support" in page
    for developer_words in ("redirect", "registered", "client", "response_type", "invalid"):
        assert developer_words not in page.lower()
    assert (f"The link came from {NAME}" in page) is names_app
    assert detail in caplog.text.lower()


def test_the_error_page_links_back_to_the_app_home_page(app, client):
    client_id, _ = make_client(app, name="Shop", public=True, client_uri="https://shop.example/")
    response = client.get(authorize_path(client_id, redirect_uri="https://evil.example/"))
    assert response.status_code == 400
    assert '<a href="https://shop.example/" rel="noopener noreferrer">Go back to Shop</a>' in \
        response.get_data(as_text=True)


def test_not_you_without_a_csrf_token_changes_nothing(app, shop):
    browser = logged_in_client(app, email="ada@example.com")
    page = browser.get(authorize_path(shop, code_challenge="x" * 43,
                                      code_challenge_method="S256"))
    action = html.unescape(page.text.split('class="signed-in-as" method="post" action="')[1]
                           .split('"')[0])
    refused = browser.post(action, data={"csrf_token": "forged"})
    assert refused.status_code == 400 and "Location" not in refused.headers
    with app.app_context():
        assert db.session.scalar(db.select(LoginSession.ended_at)) is None
