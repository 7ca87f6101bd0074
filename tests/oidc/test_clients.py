"""The OAuth client registry: secrets stored only as keyed hashes, redirect URIs, grant
types, scopes and names validated before anything is added, the demo client made once."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, OAuthClient
from app.oidc.clients import (
    DEFAULT_SCOPE,
    DEMO_CLIENT_NAME,
    DEMO_REDIRECT_URI,
    MAX_REDIRECT_URI_LENGTH,
    MAX_REDIRECT_URIS,
    ClientError,
    client_settings,
    create_client,
    display_origin,
    ensure_demo_client,
    get_client,
    list_clients,
    verify_client_secret,
)
from tests.factories import TEST_ORIGIN

SHOP_URI = "https://shop.example/callback"


def make_client(name: str = "Shop", redirect_uris=(SHOP_URI,), **options):
    """Register a client through the service and commit it; return (client, secret)."""
    client, secret = create_client(name, list(redirect_uris), origin=TEST_ORIGIN, **options)
    db.session.commit()
    return client, secret


def count_rows(model) -> int:
    """Rows of `model` in the database (pending ones flushed first)."""
    return db.session.scalar(select(func.count()).select_from(model))


def test_confidential_client_gets_a_secret_stored_only_as_a_hash(app_context):
    client, secret = make_client()

    assert len(secret) >= 43  # token_urlsafe(32): 256 bits
    stored = db.session.get(OAuthClient, client.id)
    assert stored.client_secret_hash and stored.client_secret_hash != secret
    assert secret not in stored.client_secret_hash
    assert verify_client_secret(stored, secret)
    assert not verify_client_secret(stored, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not verify_client_secret(stored, "")
    assert not verify_client_secret(stored, None)


def test_each_client_has_its_own_id_and_secret(app_context):
    first, first_secret = make_client("One")
    second, second_secret = make_client("Two")

    assert first.client_id != second.client_id
    assert not first.client_id.startswith("-")
    assert not verify_client_secret(second, first_secret)
    assert verify_client_secret(second, second_secret)


def test_defaults(app_context):
    client, _ = make_client()

    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.scope == DEFAULT_SCOPE
    assert client.redirect_uris == [SHOP_URI]
    assert not client.is_public and not client.is_first_party


def test_public_client_has_no_secret(app_context):
    client, secret = make_client("App", ["com.example.app:/callback"], public=True,
                                 first_party=True)

    assert secret is None
    assert client.client_secret_hash is None
    assert client.is_public and client.is_first_party
    assert not verify_client_secret(client, "anything")


def test_creation_is_audited(app_context):
    client, _ = make_client("Shop")

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "client.created")).one()
    assert event.customer_id is None
    assert event.actor == TEST_ORIGIN.actor
    assert event.details == {"client_id": client.client_id, "name": "Shop", "admin": False}


def test_get_and_list(app_context):
    first, _ = make_client("One")
    second, _ = make_client("Two")

    assert get_client(first.client_id) is first
    assert get_client("no-such-client") is None
    assert [c.client_id for c in list_clients()] == [first.client_id, second.client_id]


@pytest.mark.parametrize(("uri", "public"), [
    ("https://shop.example/callback", False),
    ("https://shop.example:8443/cb?tenant=1", False),
    ("http://127.0.0.1:8080/callback", False),
    ("http://[::1]:8080/callback", True),
    ("http://localhost/callback", True),
    ("com.example.app:/callback", True),
])
def test_good_redirect_uris(app_context, uri, public):
    client, _ = make_client(redirect_uris=[uri], public=public)
    assert client.redirect_uris == [uri]


@pytest.mark.parametrize(("uri", "public", "message"), [
    ("/callback", False, "absolute"),
    ("callback", False, "absolute"),
    ("//shop.example/callback", False, "absolute"),
    ("https://shop.example/callback#done", False, "fragment"),
    ("https://shop.example/callback#", False, "fragment"),
    ("http://shop.example/callback", False, "only on loopback"),
    ("http://127.0.0.2/callback", False, "only on loopback"),
    ("https://user:pw@shop.example/callback", False, "user name or password"),
    ("https://shop.example@evil.example/callback", False, "user name or password"),
    ("https:///callback", False, "needs a host"),
    ("https://shop.example:99999/callback", False, "not a valid URI"),
    ("https://shop.example/call back", False, "ASCII without spaces"),
    ("https://shop.example/caf\u00e9", False, "ASCII without spaces"),
    ("https://evil.example\\.shop.example/callback", False, "backslashes"),
    ("javascript:alert(1)", True, "not allowed"),
    ("com.example.app:/callback", False, "native public clients only"),
    ("com.example.app:", True, "needs a path"),
    ("", False, "cannot be empty"),
    ("https://shop.example/" + "a" * MAX_REDIRECT_URI_LENGTH, False, "at most"),
])
def test_bad_redirect_uris_add_nothing(app_context, uri, public, message):
    with pytest.raises(ClientError, match=message):
        create_client("Shop", [uri], public=public, origin=TEST_ORIGIN)
    assert count_rows(OAuthClient) == 0
    assert count_rows(AuditEvent) == 0


def test_too_many_redirect_uris(app_context):
    uris = [f"https://shop.example/cb/{n}" for n in range(MAX_REDIRECT_URIS + 1)]
    with pytest.raises(ClientError, match=f"at most {MAX_REDIRECT_URIS}"):
        create_client("Shop", uris, origin=TEST_ORIGIN)
    client, _ = make_client(redirect_uris=uris[:MAX_REDIRECT_URIS] + uris[:1])
    assert client.redirect_uris == uris[:MAX_REDIRECT_URIS]  # the repeat is dropped


@pytest.mark.parametrize(("options", "redirect_uris", "message"), [
    ({"grant_types": ["password"]}, [SHOP_URI], "Unknown grant type 'password'"),
    ({"grant_types": ["implicit"]}, [SHOP_URI], "Unknown grant type"),
    ({"grant_types": []}, [SHOP_URI], "at least one grant type"),
    ({"grant_types": ["client_credentials"], "public": True}, [], "public client cannot"),
    ({}, [], "needs a redirect URI"),
    ({"scope": "openid profile\temail"}, [SHOP_URI], "letters, digits"),
    ({"scope": "openid pro*file"}, [SHOP_URI], "letters, digits"),
    ({"scope": "openid\n"}, [SHOP_URI], "letters, digits"),
    ({"scope": "   "}, [SHOP_URI], "at least one scope"),
    ({"scope": "a" * 1001}, [SHOP_URI], "at most"),
])
def test_bad_grant_types_and_scopes(app_context, options, redirect_uris, message):
    with pytest.raises(ClientError, match=message):
        create_client("Shop", redirect_uris, origin=TEST_ORIGIN, **options)
    assert count_rows(OAuthClient) == 0


@pytest.mark.parametrize(("name", "message"), [
    ("", "a name"),
    ("   ", "a name"),
    ("x" * 101, "at most 100"),
    ("Shop\x00", "control characters"),
    ("Shop\u200bfront", "control characters"),
])
def test_bad_names(app_context, name, message):
    with pytest.raises(ClientError, match=message):
        create_client(name, [SHOP_URI], origin=TEST_ORIGIN)
    assert count_rows(OAuthClient) == 0


def test_service_client_without_redirect_uri(app_context):
    client, secret = make_client("Billing", [], grant_types=[
        "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"], scope="api")

    assert client.redirect_uris == []
    assert client.grant_types == ["client_credentials",
                                  "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert verify_client_secret(client, secret)


def test_scope_is_tidied(app_context):
    client, _ = make_client(scope="  openid  email openid urn:shop:orders.read ")
    assert client.scope == "openid email urn:shop:orders.read"


def test_ensure_demo_client_creates_it_once(app_context):
    client, created = ensure_demo_client(TEST_ORIGIN)
    db.session.commit()
    again, created_again = ensure_demo_client(TEST_ORIGIN)
    db.session.commit()

    assert (created, created_again) == (True, False)
    assert again.client_id == client.client_id
    assert count_rows(OAuthClient) == 1
    assert client.name == DEMO_CLIENT_NAME
    assert client.redirect_uris == [DEMO_REDIRECT_URI]
    assert client.is_public and client.is_first_party and client.client_secret_hash is None


# ---- what customers see of the app (RFC 7591 display metadata) --------------------------

LOGO = "https://cdn.shop.example/logo.png"


@pytest.mark.parametrize(("name", "uri", "loopback_ok", "message"), [
    ("logo_uri", LOGO, False, None),
    ("client_uri", "https://shop.example", False, None),
    ("policy_uri", "https://shop.example:8443/privacy#data", False, None),
    ("tos_uri", "https://shop.example/terms?lang=en", False, None),
    ("logo_uri", "http://127.0.0.1:5001/logo.png", True, None),
    ("logo_uri", "http://localhost/logo.png", True, None),
    ("logo_uri", "http://[::1]:5001/logo.png", True, None),
    ("logo_uri", "http://127.0.0.1:5001/logo.png", False, "https://"),
    ("logo_uri", "http://shop.example/logo.png", True, "https://"),
    ("policy_uri", "javascript:alert(1)", True, "https://"),
    ("logo_uri", "data:image/png;base64,AAAA", True, "https://"),
    ("tos_uri", "ftp://shop.example/terms", False, "https://"),
    ("client_uri", "//shop.example/", False, "https://"),
    ("client_uri", "https://user:pw@shop.example/", False, "user name or password"),
    ("client_uri", "https://shop.example@evil.example/", False, "user name or password"),
    ("logo_uri", "https://shop.example/" + "a" * 2000, False, "at most 2000"),
    ("logo_uri", "https://shop.example/a b", False, "without spaces"),
    ("logo_uri", 'https://shop.example/"onerror=x', False, "quotes"),
    ("logo_uri", "https://shöp.example/", False, "ASCII"),
    ("logo_uri", "https://evil;img-src;x/x.png", False, "host name"),
    ("logo_uri", "https://evil.example,x/x.png", False, "host name"),
    ("logo_uri", "https:///logo.png", False, "host name"),
    ("logo_uri", "https://shop.example:99999/", False, "not a valid URI"),
    ("logo", LOGO, False, "Unknown client metadata"),
])
def test_display_metadata_is_validated(app_context, name, uri, loopback_ok, message):
    options = {"display_uris": {name: uri}, "allow_loopback_http": loopback_ok}
    if message is None:
        client, _ = make_client(**options)
        assert getattr(client, name) == uri
        return
    with pytest.raises(ClientError, match=re.escape(message)):
        make_client(**options)
    assert count_rows(OAuthClient) == 0


def test_display_metadata_is_stored_and_shown_in_the_settings(app_context):
    client, _ = make_client(display_uris={"logo_uri": LOGO, "policy_uri": "",
                                          "tos_uri": "https://shop.example/terms"})
    settings = client_settings(client)
    assert settings["logo_uri"] == LOGO and settings["tos_uri"] == "https://shop.example/terms"
    assert settings["policy_uri"] is None and settings["client_uri"] is None
    assert display_origin(client.logo_uri) == "https://cdn.shop.example"
