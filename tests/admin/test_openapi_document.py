"""The OpenAPI document: served at /admin/api/openapi.json without a token, and it
describes exactly the routes the admin blueprint has (a route missing from the document
would escape the schemathesis run and the authorisation tests)."""
from __future__ import annotations

import re

from app.admin.openapi import document


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin/api/") or rule.rule == "/admin/api/openapi.json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/admin/api"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    return routes


def test_the_document_is_served_without_a_token(app):
    response = app.test_client().get("/admin/api/openapi.json")
    assert response.status_code == 200
    assert response.json == document(app.config["ISSUER"])
    assert response.json["openapi"] == "3.1.0"
    token_url = response.json["components"]["securitySchemes"]["adminToken"]["flows"][
        "clientCredentials"]["tokenUrl"]
    assert token_url == app.config["ISSUER"].rstrip("/") + "/token"


def test_every_route_is_documented_and_every_documented_operation_exists(app):
    documented = {(method, path) for path, item in document("http://x")["paths"].items()
                  for method in item}
    assert documented == _routes(app)


def test_every_operation_documents_problem_json_for_its_errors():
    for path, item in document("http://x")["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], \
                        (method, path, status)
                    assert response["content"]["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"}
