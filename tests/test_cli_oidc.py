"""flask commands: `clients update/delete/rotate-secret`, checked against the database and
the endpoints that use what they change."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Consent, IssuedToken, OAuthClient
from app.oidc import tokens
from app.oidc.clients import get_client, verify_client_secret
from tests.factories import make_customer
from tests.oidc.helpers import make_client

SHOP_URI = "https://shop.example/callback"
#: What customers would see of an app, refused (clients update and clients create).
BAD_DISPLAY_URIS = [
    (["--logo-uri", "http://shop.example/logo.png"], "https://"),
    (["--policy-uri", "javascript:alert(1)"], "https://"),
    (["--tos-uri", "https://user:pw@shop.example/terms"], "user name or password"),
    (["--client-uri", "https://shop.example/" + "x" * 2000], "at most 2000"),
]


def invoke_json(runner, *args: str):
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def snapshot(app, client_id: str) -> dict:
    """Everything a failed command must leave as it was."""
    with app.app_context():
        client = get_client(client_id)
        columns = {c.key: getattr(client, c.key) for c in OAuthClient.__mapper__.column_attrs}
        return columns | {"events": db.session.scalar(
            select(func.count()).select_from(AuditEvent))}


@pytest.fixture
def shop(app):
    """A confidential client: (client_id, secret)."""
    return make_client(app, name="Shop", redirect_uris=[SHOP_URI])


# ---- update ------------------------------------------------------------------------------


def test_update_client(runner, app, shop):
    client_id, _ = shop
    updated = invoke_json(
        runner, "clients", "update", client_id, "--name", "  Shop 2 ",
        "--redirect-uri", "https://shop.example/a", "--redirect-uri", "https://shop.example/b",
        "--scope", "openid email openid", "--first-party", "--require-pkce",
        "--subject-type", "pairwise", "--id-token-alg", "ES256",
        "--token-exchange-audience", "https://api.example", "--token-exchange-audience",
        "billing", "--post-logout-redirect-uri", "https://shop.example/bye",
        "--backchannel-logout-uri", "https://shop.example/backchannel",
        "--auth-method", "client_secret_post")
    assert updated["name"] == "Shop 2"
    assert updated["redirect_uris"] == ["https://shop.example/a", "https://shop.example/b"]
    assert updated["scope"] == "openid email"
    assert updated["first_party"] is True and updated["require_pkce"] is True
    assert updated["subject_type"] == "pairwise"
    assert updated["id_token_signed_response_alg"] == "ES256"
    assert updated["token_exchange_audiences"] == ["https://api.example", "billing"]
    assert updated["post_logout_redirect_uris"] == ["https://shop.example/bye"]
    assert updated["backchannel_logout_uri"] == "https://shop.example/backchannel"
    assert updated["token_endpoint_auth_method"] == "client_secret_post"
    assert invoke_json(runner, "clients", "show", client_id) == updated
    [event] = events(app, "client.updated")
    assert event.actor == "cli" and event.details["client_id"] == client_id
    assert "name" in event.details["changed"]

    # Options not given stay; --third-party switches back.
    again = invoke_json(runner, "clients", "update", client_id, "--third-party")
    assert again["first_party"] is False
    assert again["redirect_uris"] == updated["redirect_uris"]


def test_update_for_people(runner, app, shop):
    result = runner.invoke(args=["clients", "update", shop[0], "--scope", "openid"])
    assert result.exit_code == 0, result.output
    assert "Updated scope." in result.stdout and shop[1] not in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--name", ""], "name"),
    (["--redirect-uri", "http://shop.example/cb"], "loopback"),
    (["--redirect-uri", "https://shop.example/cb#x"], "fragment"),
    (["--redirect-uri", "com.example.app:/cb"], "native public"),
    (["--scope", "open\tid"], "Scope"),
    (["--scope", " "], "at least one scope"),
    (["--subject-type", "secret"], "subject-type"),
    (["--id-token-alg", "none"], "id-token-alg"),
    (["--id-token-alg", "HS256"], "id-token-alg"),
    (["--auth-method", "none"], "auth-method"),
    (["--auth-method", "private_key_jwt"], "jwks"),
    (["--token-exchange-audience", "has space"], "Audience"),
    (["--token-exchange-audience", ""], "Audience"),
    (["--post-logout-redirect-uri", "javascript:alert(1)"], "not allowed"),
    (["--backchannel-logout-uri", "http://rp.example/logout"], "loopback"),
    (["--name", "Fine", "--redirect-uri", "ftp://x"], "not allowed"),
    ([], "Nothing to change"),
    *BAD_DISPLAY_URIS,
])
def test_update_refuses_bad_input_and_changes_nothing(runner, app, shop, args, message):
    before = snapshot(app, shop[0])
    result = runner.invoke(args=["clients", "update", shop[0], *args, "--json"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert snapshot(app, shop[0]) == before


def test_register_keys_and_switch_to_private_key_jwt(runner, app, shop, tmp_path):
    """The keys given with --jwks are the ones the token endpoint then accepts."""
    import secrets
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey
    key = RSAKey.generate_key(2048, parameters={"kid": "shop-1"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    updated = invoke_json(runner, "clients", "update", shop[0], "--jwks", str(path),
                          "--auth-method", "private_key_jwt")
    assert updated["token_endpoint_auth_method"] == "private_key_jwt"
    assert updated["jwks_kids"] == ["shop-1"]
    app.config["ISSUER"] = "http://localhost"
    with app.app_context():
        get_client(shop[0]).grant_types = ["client_credentials"]
        db.session.commit()
    now = int(time.time())
    assertion = jwt.encode({"alg": "RS256", "kid": "shop-1"}, {
        "iss": shop[0], "sub": shop[0], "aud": "http://localhost", "iat": now,
        "exp": now + 60, "jti": secrets.token_urlsafe(16)}, key, algorithms=["RS256"])
    response = app.test_client().post("/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code == 200, response.json
    # The secret no longer works for this client.
    response = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                      auth=shop)
    assert response.status_code in (400, 401)


def _jwks_cases():
    from joserfc.jwk import OctKey, RSAKey
    key = RSAKey.generate_key(2048)
    public = key.as_dict(private=False)
    return {
        "not-json": ("{keys", "not JSON"),
        "no-keys": (json.dumps({"keys": []}), "at least one key"),
        "private": (json.dumps({"keys": [key.as_dict(private=True)]}), "private part"),
        "symmetric": (json.dumps({"keys": [OctKey.generate_key(256).as_dict()]}),
                      "not an RSA or EC key"),
        "broken": (json.dumps({"keys": [{"kty": "RSA", "n": "AQAB"}]}), "not a valid"),
        "same-kid": (json.dumps({"keys": [public | {"kid": "a"}, public | {"kid": "a"}]}),
                     "own kid"),
    }


@pytest.mark.parametrize("case", list(_jwks_cases()))
def test_bad_jwks_is_refused_and_changes_nothing(runner, app, shop, tmp_path, case):
    text, message = _jwks_cases()[case]
    path = tmp_path / "jwks.json"
    path.write_text(text)
    before = snapshot(app, shop[0])
    result = runner.invoke(args=["clients", "update", shop[0], "--jwks", str(path),
                                 "--auth-method", "private_key_jwt"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert snapshot(app, shop[0]) == before


def test_update_public_client_limits(runner, app):
    public_id, _ = make_client(app, public=True, name="Mobile",
                               redirect_uris=["com.example.app:/cb"])
    before = snapshot(app, public_id)
    for args in (["--auth-method", "client_secret_basic"], ["--no-require-pkce"]):
        result = runner.invoke(args=["clients", "update", public_id, *args])
        assert result.exit_code == 2, result.output
    assert snapshot(app, public_id) == before
    # A native app may use its private-use scheme.
    updated = invoke_json(runner, "clients", "update", public_id, "--redirect-uri",
                          "com.example.app:/callback")
    assert updated["redirect_uris"] == ["com.example.app:/callback"]


@pytest.mark.parametrize("command", ["update", "delete", "rotate-secret", "show"])
def test_unknown_client_exits_1(runner, app, command):
    extra = ["--name", "X"] if command == "update" else []
    result = runner.invoke(args=["clients", command, "no-such-client", *extra])
    assert result.exit_code == 1
    assert "No client" in result.stderr


# ---- rotate-secret -----------------------------------------------------------------------


def test_rotate_secret(runner, app, client, shop):
    client_id, old_secret = shop
    rotated = invoke_json(runner, "clients", "rotate-secret", client_id)
    new_secret = rotated["client_secret"]
    assert rotated["client_id"] == client_id and new_secret != old_secret
    with app.app_context():
        model = get_client(client_id)
        assert verify_client_secret(model, new_secret)
        assert not verify_client_secret(model, old_secret)
        assert new_secret not in model.client_secret_hash
    # The old secret stops working at the endpoints at once; the new one works.
    assert client.post("/revoke", data={"token": "x"},
                       auth=(client_id, old_secret)).status_code == 401
    assert client.post("/revoke", data={"token": "x"},
                       auth=(client_id, new_secret)).status_code == 200
    [event] = events(app, "client.secret_rotated")
    assert event.details == {"client_id": client_id}
    # Shown once: never in show or list.
    for args in (["clients", "show", client_id], ["clients", "list", "--json"]):
        assert new_secret not in runner.invoke(args=args).stdout


def test_rotate_secret_refuses_a_public_client(runner, app):
    public_id, _ = make_client(app, public=True, name="Mobile")
    before = snapshot(app, public_id)
    result = runner.invoke(args=["clients", "rotate-secret", public_id, "--json"])
    assert result.exit_code == 2 and "public" in result.stderr
    assert snapshot(app, public_id) == before


# ---- delete ------------------------------------------------------------------------------


def test_delete_client_revokes_its_tokens(runner, app, client, shop):
    client_id, secret = shop
    other_id, _ = make_client(app, name="Other", resources=["https://api.example"])
    with app.app_context():
        get_client(client_id).resources = ["https://api.example"]
        customer = make_customer(password=None)
        held = tokens.issue(get_client(client_id), "authorization_code", "openid",
                            customer=customer, include_refresh_token=True)
        kept = tokens.issue(get_client(other_id), "authorization_code", "openid",
                            customer=customer, include_refresh_token=True)
        db.session.add(Consent(customer_pk=customer.id, client_id=client_id,
                               scopes=["openid"]))
        db.session.commit()
    resource_id, resource_secret = make_client(app, name="API", redirect_uris=[],
                                               grant_types=["client_credentials"],
                                               resource_server_audience="https://api.example")
    auth = (resource_id, resource_secret)
    assert client.post("/introspect", data={"token": held["access_token"]},
                       auth=auth).get_json()["active"] is True

    deleted = invoke_json(runner, "clients", "delete", client_id)
    assert deleted == {"client_id": client_id, "deleted": True, "grants_revoked": 1}
    with app.app_context():
        assert get_client(client_id) is None
        assert db.session.scalars(select(IssuedToken).where(
            IssuedToken.client_id == client_id)).one().revoked_at is not None
        assert db.session.scalars(select(Consent)).one().revoked_at is not None
    for token in (held["access_token"],):
        assert client.post("/introspect", data={"token": token},
                           auth=auth).get_json() == {"active": False}
    assert client.post("/introspect", data={"token": kept["access_token"]},
                       auth=auth).get_json()["active"] is True
    # The deleted client can no longer authenticate.
    assert client.post("/revoke", data={"token": "x"},
                       auth=(client_id, secret)).status_code == 401
    [event] = events(app, "client.deleted")
    assert event.details["client_id"] == client_id and event.details["grants_revoked"] == 1
    assert runner.invoke(args=["clients", "show", client_id]).exit_code == 1


def test_delete_for_people(runner, app, shop):
    result = runner.invoke(args=["clients", "delete", shop[0]])
    assert result.exit_code == 0
    assert f"Deleted client {shop[0]}" in result.stdout


# ---- what customers see of the app -------------------------------------------------------

DISPLAY = {"logo_uri": "https://cdn.shop.example/logo.png", "client_uri": "https://shop.example/",
           "policy_uri": "https://shop.example/privacy", "tos_uri": "https://shop.example/terms"}


def display_args(uris: dict) -> list[str]:
    """--logo-uri URL ... for each of `uris`."""
    return [arg for name, uri in uris.items()
            for arg in (f"--{name.removesuffix('_uri')}-uri", uri)]


def test_create_and_update_set_and_clear_the_display_metadata(runner, app):
    created = invoke_json(runner, "clients", "create", "--name", "Shop", "--redirect-uri",
                          SHOP_URI, *display_args(DISPLAY))
    assert {name: created[name] for name in DISPLAY} == DISPLAY
    updated = invoke_json(runner, "clients", "update", created["client_id"], "--logo-uri",
                          "https://shop.example/new-logo.svg", "--tos-uri", "")
    assert updated["logo_uri"] == "https://shop.example/new-logo.svg"
    assert updated["tos_uri"] is None and updated["policy_uri"] == DISPLAY["policy_uri"]
    assert events(app, "client.updated")[-1].details["changed"] == ["logo_uri", "tos_uri"]
    people = runner.invoke(args=["clients", "show", created["client_id"]])
    assert "logo_uri:      https://shop.example/new-logo.svg" in people.output


@pytest.mark.parametrize(("args", "message"), BAD_DISPLAY_URIS)
def test_create_refuses_bad_display_metadata_and_adds_nothing(runner, app, args, message):
    created = runner.invoke(args=["clients", "create", "--name", "Other", "--redirect-uri",
                                  SHOP_URI, *args])
    assert created.exit_code == 2 and message in created.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OAuthClient)) == 0


def test_loopback_http_display_uris_only_outside_production(runner, app, shop):
    loopback = ["--logo-uri", "http://127.0.0.1:5001/logo.png"]
    assert invoke_json(runner, "clients", "update", shop[0], *loopback)["logo_uri"] == \
        "http://127.0.0.1:5001/logo.png"
    app.config["ENV"] = "production"
    refused = runner.invoke(args=["clients", "update", shop[0], "--logo-uri",
                                  "http://localhost/logo.png"])
    assert refused.exit_code == 2 and "outside production" in refused.output
