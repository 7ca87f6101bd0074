"""Introspection (RFC 7662) and revocation (RFC 7009) at /introspect and /revoke."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Customer, IssuedToken, utcnow
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.factories import make_customer
from tests.oidc.helpers import make_client

SCOPE = "openid profile customer_id"
#: The API the relying party's tokens are for, served by the resource server.
API = "https://api.example"
#: Shaped like one of our refresh tokens, but never issued. Fixed, not random, so every
#: test process collects the same test ids (pytest-xdist requires it).
UNKNOWN_OPAQUE_TOKEN = "9eFk1HEn0JdVuXXyNC4oUTAukGi4laL_crJjdQgVBnI"


def issue(app, client_id: str, *, customer_id: str | None = None, scope: str = SCOPE,
          parent_refresh: str | None = None) -> dict:
    """Issue tokens to a client directly through the token service; return the response."""
    with app.app_context():
        customer = None
        if customer_id is not None:
            customer = db.session.execute(select(Customer).where(
                Customer.customer_id == customer_id)).scalar_one()
        parent = tokens.find_refresh_token(parent_refresh) if parent_refresh else None
        if parent is not None:
            parent.rotated_at = utcnow()
        response = tokens.issue(get_client(client_id), "authorization_code", scope,
                                customer=customer, include_refresh_token=True, parent=parent)
        db.session.commit()
        return response


def seed_customer(app, email: str = "ada@example.com") -> str:
    with app.app_context():
        return make_customer(email=email, password=None).customer_id


@pytest.fixture
def resource_server(app):
    """A confidential client that introspects tokens for API: (client_id, secret)."""
    return make_client(app, name="Resource server", grant_types=["client_credentials"],
                       redirect_uris=[], resource_server_audience=API)


@pytest.fixture
def rp(app):
    """A confidential relying party that holds tokens for API: (client_id, secret)."""
    return make_client(app, scope=SCOPE, resources=[API])


def introspect(client, credentials, token: str, **extra):
    response = client.post("/introspect", data={"token": token, **extra}, auth=credentials)
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_introspect_active_access_token(app, client, resource_server, rp):
    customer_id = seed_customer(app)
    issued = issue(app, rp[0], customer_id=customer_id)
    response = introspect(client, resource_server, issued["access_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == rp[0]
    assert body["sub"] == customer_id == body["customer_id"]
    assert body["scope"] == SCOPE
    assert body["iss"] == app.config["ISSUER"]
    assert body["aud"] == [API, app.config["ISSUER"]]  # the API, and userinfo (openid)
    assert body["exp"] - body["iat"] == int(app.config["ACCESS_TOKEN_SECONDS"])
    assert body["jti"]


def test_introspect_without_customer_id_scope_has_no_customer_id(app, client,
                                                                 resource_server, rp):
    issued = issue(app, rp[0], customer_id=seed_customer(app), scope="openid")
    body = introspect(client, resource_server, issued["access_token"]).get_json()
    assert body["active"] is True and "customer_id" not in body


def test_introspect_refresh_token(app, client, resource_server, rp):
    customer_id = seed_customer(app)
    issued = issue(app, rp[0], customer_id=customer_id)
    body = introspect(client, rp, issued["refresh_token"],
                      token_type_hint="refresh_token").get_json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert (body["client_id"], body["sub"], body["scope"]) == (rp[0], customer_id, SCOPE)
    assert body["exp"] > body["iat"]
    # A wrong hint does not hide the token (RFC 7662 section 2.1).
    wrong_hint = introspect(client, rp, issued["refresh_token"],
                            token_type_hint="access_token").get_json()
    assert wrong_hint["active"] is True


def test_rotated_refresh_token_is_inactive(app, client, resource_server, rp):
    first = issue(app, rp[0], customer_id=seed_customer(app))
    second = issue(app, rp[0], customer_id=None, parent_refresh=first["refresh_token"])
    assert introspect(client, rp, first["refresh_token"]).get_json() == {"active": False}
    assert introspect(client, rp, second["refresh_token"]).get_json()["active"]


def test_client_credentials_token_has_the_client_as_subject(app, client, resource_server):
    with app.app_context():
        issued = tokens.issue(get_client(resource_server[0]), "client_credentials", "",
                              customer=None, include_refresh_token=False)
        db.session.commit()
    body = introspect(client, resource_server, issued["access_token"]).get_json()
    assert body["active"] is True and body["sub"] == resource_server[0]


@pytest.mark.parametrize("token", ["", "x" * 9000, "not-a-token", "a.b.c",
                                   UNKNOWN_OPAQUE_TOKEN])
def test_unknown_tokens_are_inactive(app, client, resource_server, token):
    response = client.post("/introspect", data={"token": token}, auth=resource_server)
    if token:
        assert response.get_json() == {"active": False}
    else:
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_expired_tokens_are_inactive(app, client, resource_server, rp, kind):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    seconds = int(app.config["ACCESS_TOKEN_SECONDS" if kind == "access_token"
                             else "REFRESH_TOKEN_SECONDS"])
    caller = resource_server if kind == "access_token" else rp
    assert introspect(client, caller, issued[kind]).get_json()["active"] is True
    with time_machine.travel(utcnow() + timedelta(seconds=seconds + 1), tick=False):
        assert introspect(client, caller, issued[kind]).get_json() == {"active": False}


@pytest.mark.parametrize("change", ["locked", "erased", "not_before"])
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_customer_changes_make_tokens_inactive(app, client, resource_server, rp, change,
                                               kind):
    customer_id = seed_customer(app)
    issued = issue(app, rp[0], customer_id=customer_id)
    caller = resource_server if kind == "access_token" else rp
    assert introspect(client, caller, issued[kind]).get_json()["active"] is True
    with app.app_context():
        customer = db.session.execute(select(Customer).where(
            Customer.customer_id == customer_id)).scalar_one()
        if change == "not_before":
            customer.tokens_not_before = utcnow()
        else:
            customer.status = change
        db.session.commit()
    assert introspect(client, caller, issued[kind]).get_json() == {"active": False}


def test_tokens_issued_after_not_before_stay_active(app, client, resource_server, rp):
    customer_id = seed_customer(app)
    with app.app_context():
        customer = db.session.execute(select(Customer).where(
            Customer.customer_id == customer_id)).scalar_one()
        customer.tokens_not_before = utcnow() - timedelta(seconds=5)
        db.session.commit()
    issued = issue(app, rp[0], customer_id=customer_id)
    assert introspect(client, resource_server, issued["access_token"]).get_json()["active"]


def test_exchanged_token_dies_with_its_subject_token(app, client, resource_server, rp):
    subject = issue(app, rp[0], customer_id=seed_customer(app))
    with app.app_context():
        grant = db.session.execute(select(IssuedToken)).scalars().one()
        exchanged = tokens.issue(
            get_client(rp[0]), "urn:ietf:params:oauth:grant-type:token-exchange", "openid",
            customer=grant.customer, include_refresh_token=False,
            audience=["https://api.example"], actor={"sub": rp[0]},
            exchanged_from_jti=grant.access_token_jti)
        db.session.commit()
    body = introspect(client, resource_server, exchanged["access_token"]).get_json()
    assert body["active"] is True
    assert body["aud"] == "https://api.example" and body["act"] == {"sub": rp[0]}
    # The subject token stays live after the exchange (token_exchange.py's policy) ...
    assert introspect(client, resource_server, subject["access_token"]).get_json()["active"]
    # ... and once it is revoked, everything exchanged from it is inactive too.
    revoke(client, rp, subject["access_token"])
    assert introspect(client, resource_server, exchanged["access_token"]).get_json() == \
        {"active": False}


def test_only_the_owner_or_the_audiences_resource_server_learns_about_a_token(
        app, client, resource_server, rp):
    """Issue 12, item 13: another client (even a resource server of another API) is told
    only {"active": false}, as for a dead token; refresh tokens are the owner's alone."""
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    stranger = make_client(app, name="Another app", scope=SCOPE)
    other_api = make_client(app, name="Billing API", grant_types=["client_credentials"],
                            redirect_uris=[], resource_server_audience="https://billing.example")
    for caller in (stranger, other_api, resource_server):
        assert introspect(client, caller, issued["refresh_token"]).get_json() == \
            {"active": False}
    for caller in (stranger, other_api):
        assert introspect(client, caller, issued["access_token"]).get_json() == \
            {"active": False}
    for caller in (rp, resource_server):
        body = introspect(client, caller, issued["access_token"]).get_json()
        assert body["active"] is True and API in body["aud"]
    assert introspect(client, rp, issued["refresh_token"]).get_json()["active"] is True


def test_introspection_requires_client_authentication(app, client, rp):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    public_id, _ = make_client(app, public=True, name="Mobile")
    attempts = [
        {"data": {"token": issued["access_token"]}},
        {"data": {"token": issued["access_token"]}, "auth": (rp[0], "wrong-secret")},
        {"data": {"token": issued["access_token"], "client_id": rp[0],
                  "client_secret": "wrong-secret"}},
        {"data": {"token": issued["access_token"], "client_id": "no-such-client",
                  "client_secret": "x"}},
        {"data": {"token": issued["access_token"]}, "auth": ("no-such-client", "x")},
        # Public clients may not introspect, with or without something like a secret.
        {"data": {"token": issued["access_token"], "client_id": public_id}},
        {"data": {"token": issued["access_token"]}, "auth": (public_id, "anything")},
    ]
    for attempt in attempts:
        response = client.post("/introspect", **attempt)
        assert response.status_code == 401, attempt
        assert response.get_json()["error"] == "invalid_client"
        assert response.headers["Cache-Control"] == "no-store"
        assert "active" not in response.get_json()


def test_introspection_with_client_secret_post(app, client, resource_server, rp):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    response = client.post("/introspect", data={
        "token": issued["access_token"], "client_id": resource_server[0],
        "client_secret": resource_server[1]})
    assert response.get_json()["active"] is True


# ---- revocation --------------------------------------------------------------------------


def revoke(client, credentials, token: str, **extra):
    response = client.post("/revoke", data={"token": token, **extra}, auth=credentials)
    assert response.headers["Cache-Control"] == "no-store"
    return response


def revoked_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(IssuedToken).where(
            IssuedToken.revoked_at.is_not(None))).all())


def revocation_events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "token.revoked")))


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_owner_revokes_its_token(app, client, resource_server, rp, kind):
    customer_id = seed_customer(app)
    issued = issue(app, rp[0], customer_id=customer_id)
    assert revoke(client, rp, issued[kind]).status_code == 200
    for token in (issued["access_token"], issued["refresh_token"]):
        assert introspect(client, resource_server, token).get_json() == {"active": False}
    [event] = revocation_events(app)
    assert event.actor == f"client:{rp[0]}"
    assert event.customer_id == customer_id
    assert event.details["token_type"] == kind
    # Revoking again is harmless and writes nothing more.
    assert revoke(client, rp, issued[kind]).status_code == 200
    assert len(revocation_events(app)) == 1


def test_revoking_a_refresh_token_revokes_its_family(app, client, resource_server, rp):
    first = issue(app, rp[0], customer_id=seed_customer(app))
    second = issue(app, rp[0], parent_refresh=first["refresh_token"])
    third = issue(app, rp[0], parent_refresh=second["refresh_token"])
    unrelated = issue(app, rp[0], customer_id=None)
    assert revoke(client, rp, third["refresh_token"],
                  token_type_hint="refresh_token").status_code == 200
    for issued in (first, second, third):
        assert introspect(client, resource_server, issued["access_token"]).get_json() == \
            {"active": False}
    assert introspect(client, resource_server, third["refresh_token"]).get_json() == \
        {"active": False}
    assert introspect(client, resource_server, unrelated["access_token"]).get_json()["active"]
    assert revoked_count(app) == 3


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_another_clients_token_is_not_revoked(app, client, resource_server, rp, kind):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    other = make_client(app, name="Other")
    response = revoke(client, other, issued[kind])
    assert response.status_code == 200 and response.get_json() == {}
    assert introspect(client, rp, issued[kind]).get_json()["active"] is True
    assert revoked_count(app) == 0 and revocation_events(app) == []


@pytest.mark.parametrize("token", ["unknown", UNKNOWN_OPAQUE_TOKEN, "a.b.c"])
def test_unknown_token_revocation_answers_200(app, client, rp, token):
    assert revoke(client, rp, token).status_code == 200
    assert revocation_events(app) == []


def test_public_client_revokes_with_client_id_only(app, client, resource_server):
    public_id, _ = make_client(app, public=True, name="Mobile", scope=SCOPE)
    issued = issue(app, public_id, customer_id=seed_customer(app))
    response = client.post("/revoke", data={"token": issued["refresh_token"],
                                            "client_id": public_id})
    assert response.status_code == 200
    assert introspect(client, resource_server, issued["access_token"]).get_json() == \
        {"active": False}


def test_revocation_requires_client_authentication(app, client, rp):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    for attempt in ({"data": {"token": issued["access_token"]}},
                    {"data": {"token": issued["access_token"]}, "auth": (rp[0], "wrong")},
                    # A confidential client cannot fall back to client_id alone.
                    {"data": {"token": issued["access_token"], "client_id": rp[0]}}):
        response = client.post("/revoke", **attempt)
        assert response.status_code == 401, attempt
        assert response.get_json()["error"] == "invalid_client"
    assert revoked_count(app) == 0


def test_revoked_access_token_fails_at_userinfo(app, client, rp):
    issued = issue(app, rp[0], customer_id=seed_customer(app))
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    revoke(client, rp, issued["access_token"], token_type_hint="access_token")
    assert client.get("/userinfo", headers=bearer).status_code == 401
