"""Who may call each admin endpoint, for every operation in the OpenAPI document (so an
endpoint added to the document is covered the day it is added): no token, a malformed
token, an expired token, a token without the operation's scope and a customer's token
are all refused (401/403, problem JSON, a Bearer challenge) and change nothing; a token
with exactly the documented scope gets past the check."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.admin.auth import SCOPES
from app.admin.openapi import document
from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.models import AuditEvent, Customer, utcnow
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.admin.helpers import admin_token, assert_problem, make_ada
from tests.oidc.helpers import make_client

OPERATIONS = [(method.upper(), path, spec)
              for path, item in document("http://issuer.test")["paths"].items()
              for method, spec in item.items()]


def _operation_id(operation) -> str:
    return f"{operation[0]} {operation[1]}"


def _parameter(name: str, customer_id: str) -> str:
    return {"customer_id": customer_id, "system": "billing",
            "account_number": "B-1001"}.get(name, "1")


def _call(app, operation, customer_id: str, token: str | None):
    method, path, spec = operation
    for name in ("customer_id", "identifier_id", "binding_id", "passkey_id", "system",
                 "account_number"):
        path = path.replace("{" + name + "}", _parameter(name, customer_id))
    assert "{" not in path, f"a path parameter this test does not know: {path}"
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    kwargs = {"json": {}} if "requestBody" in spec else {}
    return app.test_client().open("/admin/api" + path, method=method, headers=headers,
                                  **kwargs)


def _state(app, customer_id: str) -> tuple[int, int]:
    """What a refused call must not change: the customer's version and the audit log."""
    with app.app_context():
        version = db.session.scalar(select(Customer.version).where(
            Customer.customer_id == customer_id))
        events = db.session.scalar(select(func.count()).select_from(AuditEvent))
        return version, events


def _customer_token(app, customer_id: str) -> str:
    """A customer's access token from a client allowed every admin scope, carrying them."""
    scope = " ".join(SCOPES)
    with app.app_context():
        client_id, _ = make_client(app, scope="openid")
        # A row no service would write (admin scopes on a code-flow client): even then
        # a customer's token does not qualify.
        get_client(client_id).scope, get_client(client_id).is_admin = scope, True
        body = tokens.issue(get_client(client_id), "authorization_code", scope,
                            customer=get_by_customer_id(customer_id),
                            include_refresh_token=False)
        db.session.commit()
    return body["access_token"]


@pytest.fixture
def ada(app):
    return make_ada(app)


def test_the_document_lists_operations_with_known_scopes():
    assert len(OPERATIONS) >= 2
    for method, path, spec in OPERATIONS:
        assert spec["x-required-scope"] in SCOPES, (method, path)
        assert {"401", "403"} <= set(spec["responses"]), (method, path)


@pytest.mark.parametrize("operation", OPERATIONS, ids=_operation_id)
def test_every_operation_refuses_callers_without_the_right_token(app, ada, operation):
    scope = operation[2]["x-required-scope"]
    right = admin_token(app, scope)
    others = " ".join(s for s in SCOPES if s != scope)
    wrong_scope = admin_token(app, others)
    customer = _customer_token(app, ada)
    before = _state(app, ada)

    response = _call(app, operation, ada, None)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    for garbage in ("not-a-token", right[:-4] + "AAAA"):
        response = _call(app, operation, ada, garbage)
        assert_problem(response, 401)
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    later = utcnow() + timedelta(seconds=int(app.config["ACCESS_TOKEN_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        assert_problem(_call(app, operation, ada, right), 401)

    response = _call(app, operation, ada, wrong_scope)
    assert_problem(response, 403)
    assert f'scope="{scope}"' in response.headers["WWW-Authenticate"]

    assert_problem(_call(app, operation, ada, customer), 403)
    assert _state(app, ada) == before

    # The documented scope is the one the endpoint checks: with it, the call gets past
    # authorisation (whatever it then says about the empty body or the made-up ids).
    assert _call(app, operation, ada, right).status_code not in (401, 403)
