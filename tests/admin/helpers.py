"""Calling the admin API in tests: an admin client's token, requests with it, and the
problem-JSON assertion every refusal shares; and Ada, the customer many of them look at."""
from __future__ import annotations

from app.directory.customers import link_account
from app.extensions import db
from tests.factories import TEST_ORIGIN, make_customer
from tests.oidc.helpers import make_client

ALL_SCOPES = "admin:read admin:write admin:recovery admin:gdpr"


def admin_token(app, scope: str = "admin:read") -> str:
    """A client-credentials access token carrying `scope`, of a new admin client that is
    registered for every admin scope: the token holds only what was asked for."""
    client_id, secret = make_client(app, scope=ALL_SCOPES, admin=True)
    response = app.test_client().post("/token", data={"grant_type": "client_credentials",
                                                      "scope": scope},
                                      auth=(client_id, secret))
    assert response.status_code == 200, response.json
    assert response.json["scope"] == scope
    return response.json["access_token"]


def auth(token: str, **headers: str) -> dict:
    """Request headers with the bearer token (plus any others, e.g. If-Match)."""
    return {"Authorization": f"Bearer {token}", **headers}


def read_customer(app, token: str, customer_id: str):
    """GET the customer view; returns (body, etag)."""
    response = app.test_client().get(f"/admin/api/customers/{customer_id}",
                                     headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json, response.headers["ETag"]


def assert_problem(response, status: int, kind: str | None = None) -> dict:
    """The response is RFC 9457 problem JSON with this status (and type, if given)."""
    assert response.status_code == status, response.text
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"]
    if kind is not None:
        assert body["type"].endswith("/" + kind), body
    return body


def make_ada(app) -> str:
    """Ada: a verified email (make_customer's default), phone +14155552671, username
    "ada_l", and billing account B-1001, committed; her customer ID."""
    with app.app_context():
        customer = make_customer(phone="+14155552671", username="ada_l")
        link_account(customer, "billing", "B-1001", TEST_ORIGIN)
        db.session.commit()
        return customer.customer_id
