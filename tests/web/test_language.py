"""Which language a page speaks (issue 16, item 6): the switcher's choice, then the app's
`ui_locales`, then the customer's saved locale, then Accept-Language, then the default;
the switcher saves the choice to the logged-in customer's profile (audited), and refuses
a language that is not offered. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from app.extensions import db
from app.models import AuditEvent, Customer
from tests.helpers import csrf_token
from tests.oidc.helpers import REDIRECT_URI, make_client
from tests.web.helpers import signup


def lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:300]
    return match.group(1)


def switch(client, locale: str, next_path: str = "/login"):
    page = client.get(next_path)
    return client.post("/language", data={"csrf_token": csrf_token(page.text),
                                          "locale": locale, "next": next_path})


def authorize(client, client_id: str, **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid", "state": "st", **extra}
    return client.get(f"/authorize?{urlencode(params)}")


def test_the_browser_language_then_the_default(client):
    assert lang(client.get("/login", headers={"Accept-Language": "de-CH, fr;q=0.5"})) == "de"
    assert lang(client.get("/login", headers={"Accept-Language": "it, es;q=0.8"})) == "es"
    assert lang(client.get("/login", headers={"Accept-Language": "it"})) == "en"
    assert lang(client.get("/login")) == "en"


def test_ui_locales_of_the_authorization_request_carries_through_the_login(app, client):
    client_id, _ = make_client(app, name="Shop")
    german_browser = {"Accept-Language": "de"}
    started = authorize(client, client_id, ui_locales="pt-BR fr-CA de")
    assert started.status_code in (302, 303)
    # The login page it leads to, and the pages after it, speak French (the first
    # offered match), whatever the browser says.
    assert lang(client.get(started.location, headers=german_browser)) == "fr"
    assert lang(client.get("/signup", headers=german_browser)) == "fr"
    # A later authorization request without ui_locales forgets it.
    authorize(client, client_id)
    assert lang(client.get("/login", headers=german_browser)) == "de"


def test_the_saved_locale_beats_the_browser_and_the_switcher_beats_both(app, client):
    signup(client, app, "ada@example.com")
    with app.app_context():
        customer = db.session.scalar(db.select(Customer))
        customer.locale = "fr-CA"
        db.session.commit()
        customer_id = customer.customer_id
    german_browser = {"Accept-Language": "de"}
    assert lang(client.get("/account", headers=german_browser)) == "fr"

    answer = switch(client, "es", "/account/security")
    assert answer.status_code == 303 and answer.location == "/account/security"
    assert lang(client.get("/account", headers=german_browser)) == "es"
    with app.app_context():
        assert db.session.scalar(db.select(Customer.locale)) == "es"
        events = db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.event == "profile.updated",
            AuditEvent.customer_id == customer_id)).all()
        assert events, "the saved language is audited like any profile change"


def test_the_switcher_refuses_what_is_not_offered_and_changes_nothing(app, make_app):
    client = make_app(LOCALES="en,de").test_client()
    assert switch(client, "fr").status_code == 303
    assert lang(client.get("/login")) == "en"
    # Only the offered languages are on the switcher.
    body = client.get("/login").get_data(as_text=True)
    assert '<option value="de">Deutsch</option>' in body and "Français" not in body
    # It never leaves the site.
    page = client.get("/login")
    away = client.post("/language", data={"csrf_token": csrf_token(page.text),
                                          "locale": "de", "next": "//evil.example/"})
    assert away.status_code == 303 and not away.location.startswith("//")


def test_one_language_offered_shows_no_switcher(make_app):
    client = make_app(LOCALES="de", DEFAULT_LOCALE="de").test_client()
    page = client.get("/login", headers={"Accept-Language": "en"})
    assert lang(page) == "de"
    assert 'action="/language"' not in page.get_data(as_text=True)


def test_discovery_lists_the_offered_languages(make_app):
    everything = make_app().test_client().get("/.well-known/openid-configuration").json
    assert everything["ui_locales_supported"] == ["en", "de", "fr", "es"]
    two = make_app(LOCALES="de,en", DEFAULT_LOCALE="de").test_client()
    assert two.get("/.well-known/openid-configuration").json["ui_locales_supported"] == \
        ["de", "en"]


def test_the_chosen_language_is_the_id_tokens_locale_claim(app, client):
    from app.oidc.claims import id_token_claims, userinfo_claims
    from app.models import OAuthClient
    client_id, _ = make_client(app, name="Shop")
    signup(client, app, "ada@example.com")
    switch(client, "de", "/account")
    with app.app_context():
        customer = db.session.scalar(db.select(Customer))
        shop = db.session.scalar(db.select(OAuthClient).filter_by(client_id=client_id))
        assert id_token_claims(shop, customer, "openid profile")["locale"] == "de"
        assert userinfo_claims(shop, customer, "openid profile")["locale"] == "de"
        assert "locale" not in id_token_claims(shop, customer, "openid email")
