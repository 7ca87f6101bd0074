"""The admin API's first endpoints: who may call them (admin clients with the right
scope only, RFC 6750 challenges, RFC 9457 problems), finding a customer from anything a
customer can read out, and the customer view (never a secret), each call audited."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import AuditEvent, utcnow
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.admin.helpers import admin_token, assert_problem, make_ada
from tests.oidc.helpers import make_client

PHONE = "+14155552671"


def get(app, path: str, token: str | None, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return app.test_client().get(path, headers=headers)


@pytest.fixture
def ada(app):
    return make_ada(app)


# ---- who may call -------------------------------------------------------------------------

def test_no_token_is_401_with_a_bearer_challenge(app, ada):
    response = get(app, f"/admin/api/customers/{ada}", None)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_or_expired_token_is_401_invalid_token(app, ada):
    response = get(app, f"/admin/api/customers/{ada}", "not.a.token")
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    token = admin_token(app)
    later = utcnow() + timedelta(seconds=int(app.config["ACCESS_TOKEN_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        assert_problem(get(app, f"/admin/api/customers/{ada}", token), 401)


def test_a_token_without_the_scope_is_403(app, ada):
    client_id, secret = make_client(app, grant_types=["client_credentials"], scope="openid")
    token = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                   auth=(client_id, secret)).json["access_token"]
    response = get(app, f"/admin/api/customers/{ada}", token)
    assert_problem(response, 403)
    assert 'scope="admin:read"' in response.headers["WWW-Authenticate"]


def test_a_customers_token_never_qualifies(app, ada):
    with app.app_context():
        client_id, _ = make_client(app, scope="openid")
        # A row no service would write (admin scopes on a code-flow client): even then
        # a customer's token does not qualify.
        get_client(client_id).scope, get_client(client_id).is_admin = "openid admin:read", True
        from app.directory.customers import get_by_customer_id
        body = tokens.issue(get_client(client_id), "authorization_code", "openid admin:read",
                            customer=get_by_customer_id(ada), include_refresh_token=False)
        db.session.commit()
    assert_problem(get(app, f"/admin/api/customers/{ada}", body["access_token"]), 403)


# ---- finding ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["ADA_ID", "GROUPED_ID", "ada@EXAMPLE.com",
                                   "(415) 555-2671", "ada_l", "billing:B-1001"])
def test_find_by_anything_a_customer_can_read_out(app, ada, query):
    query = {"ADA_ID": ada.lower(), "GROUPED_ID": format_for_people(ada)}.get(query, query)
    token = admin_token(app)
    response = app.test_client().get("/admin/api/customers", query_string={"q": query},
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    [item] = response.json["items"]
    assert item["customer_id"] == ada


def test_find_nothing_and_malformed_ids(app, ada):
    token = admin_token(app)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/admin/api/customers", query_string={"q": "nobody@example.com"},
                      headers=headers).json["items"] == []
    typo = ada[:-1] + ("0" if ada[-1] != "0" else "1")
    body = assert_problem(client.get("/admin/api/customers", query_string={"q": typo},
                                     headers=headers), 400)
    assert "check" in body["detail"].lower()
    assert_problem(client.get(f"/admin/api/customers/{typo}", headers=headers), 400)
    assert_problem(client.get("/admin/api/customers", query_string={"q": ""},
                              headers=headers), 400)


# ---- the customer view --------------------------------------------------------------------

def test_the_customer_view_shows_everything_but_secrets_and_is_audited(app, ada):
    token = admin_token(app)
    response = get(app, f"/admin/api/customers/{format_for_people(ada)}", token,
                   **{"X-Operator": "agent.smith", "X-Reason": "ticket 4711"})
    assert response.status_code == 200
    view = response.json
    assert view["customer_id"] == ada and view["status"] == "active"
    assert {(i["kind"], i["value"], i["verified"]) for i in view["identifiers"]} == {
        ("email", "ada@example.com", True), ("phone", PHONE, True), ("username", "ada_l", True)}
    assert view["factors"] == {"password": True, "totp": False, "recovery_codes_remaining": 0,
                               "passkeys": []}
    [binding] = view["phone_bindings"]
    assert binding["e164"] == PHONE and binding["status"] == "active"
    assert view["linked_accounts"] == [{"system": "billing", "account_number": "B-1001"}]
    text = response.text
    assert "argon2" not in text and "password_hash" not in text and "secret" not in text
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "admin.customer_viewed")).all()
        assert event.customer_id == ada
        assert event.details["operator"] == "agent.smith"
        assert event.details["reason"] == "ticket 4711"
        assert event.actor.startswith("admin:")


def test_an_unknown_customer_is_404(app):
    from app.identity import customer_ids
    token = admin_token(app)
    assert_problem(get(app, f"/admin/api/customers/{customer_ids.generate()}", token), 404)
