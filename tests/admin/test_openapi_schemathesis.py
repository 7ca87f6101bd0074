"""Schemathesis over the admin API's OpenAPI document, against the app served over real
HTTP: every operation, with generated valid and invalid input, called with an admin token
that holds every scope and again with no token. No response may be a 5xx, and every
response must be one the document describes (status code, content type, headers, body
schema); invalid input must be refused with a 4xx; an operation must not answer without
its token. It runs on PostgreSQL. Each generated case is also sent against a real, seeded customer, so the code
behind the "unknown customer" 404 is exercised too."""
from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)
from werkzeug.serving import make_server

from app.admin.auth import SCOPES
from app.admin.openapi import document
from app.directory.customers import link_account
from app.extensions import db
from tests.admin.helpers import admin_token
from tests.factories import TEST_ORIGIN, make_customer
from tests.postgres import free_port

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]


@pytest.fixture
def admin_api(make_app):
    """The app (rate limit out of the way: thousands of calls) served on 127.0.0.1, a
    seeded customer, and an admin token with every scope."""
    app = make_app(ADMIN_RATE_LIMIT="1000000 per minute")
    with app.app_context():
        customer = make_customer(phone="+14155552671", username="ada_l")
        link_account(customer, "billing", "B-1001", TEST_ORIGIN)
        db.session.commit()
        customer_id = customer.customer_id
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    yield {"base_url": base_url, "customer_id": customer_id,
           "token": admin_token(app, " ".join(SCOPES))}
    server.shutdown()
    thread.join(timeout=10)


# The document served at /admin/api/openapi.json (test_openapi_document.py checks that it
# is this one); loaded eagerly because schemathesis's lazy fixture loader does not run on
# pytest 9.
schema = schemathesis.openapi.from_dict(document("http://127.0.0.1"))


# On PostgreSQL only: it is what production runs, and it is the stricter of the two (a
# value too long for its column is an error there, where SQLite would store it); once is
# enough for a run this long.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_admin_api_behaves_as_documented(case, admin_api):
    base_url = admin_api["base_url"] + "/admin/api"
    headers = {"Authorization": f"Bearer {admin_api['token']}"}
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
    if case.method.upper() == case.operation.method.upper():
        # (The coverage phase also sends undocumented methods: those are 405 for anyone.)
        response = case.call(base_url=base_url)
        assert response.status_code == 401, (case.method, case.path, response.text)
    if "customer_id" in (case.path_parameters or {}):
        case.path_parameters["customer_id"] = admin_api["customer_id"]
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
