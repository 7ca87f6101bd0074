"""The admin API's OpenAPI 3.1 document, served at /admin/api/openapi.json.

It is assembled from one module per area (the same split as the views): each defines
PATHS, built with `operation()` so every endpoint lists its scope and every error it can
answer with. tests/admin/test_openapi_schemathesis.py runs schemathesis over it against
the live app, and tests/admin/test_auth.py calls every operation in it
without and with the wrong tokens: an endpoint missing here is an endpoint untested."""
from __future__ import annotations

from app.admin.openapi.common import COMPONENTS, SCOPE_DESCRIPTIONS


def document(issuer: str) -> dict:
    """The whole document; `issuer` gives the token URL."""
    from app.admin.openapi import (clients, consents, data_rights, directory, passkeys,
                                   recovery, search)
    paths: dict = {}
    for area in (search, directory, recovery, passkeys, data_rights, consents, clients):
        for path, operations in area.PATHS.items():
            paths.setdefault(path, {}).update(operations)
    components = dict(COMPONENTS)
    components["securitySchemes"] = {"adminToken": {
        "type": "oauth2",
        "description": "An access token from the client-credentials grant of an admin "
                       "client, sent as `Authorization: Bearer ...`. Customers' tokens "
                       "never qualify, whatever their scope.",
        "flows": {"clientCredentials": {"tokenUrl": issuer.rstrip("/") + "/token",
                                        "scopes": SCOPE_DESCRIPTIONS}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tessera admin API", "version": "1.0.0",
                 "description": "Support and account recovery, account merging, and "
                                "customers' data rights. Every call is audited with the "
                                "client, the operator (X-Operator) and the reason "
                                "(X-Reason). Errors are RFC 9457 problem JSON. Writes to a "
                                "customer take If-Match with the ETag of the customer "
                                "read (412 if it changed since)."},
        "servers": [{"url": "/admin/api"}],
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": components,
    }
