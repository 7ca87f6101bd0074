"""OpenAPI: the registered OAuth clients (read only)."""
from __future__ import annotations

from app.admin.openapi.common import json_response, operation

_URIS = {"type": "array", "items": {"type": "string"}}

CLIENT = {
    "type": "object",
    "required": ["client_id", "name", "public", "admin", "resources",
                 "resource_server_audience", "grant_types", "scope"],
    "properties": {
        "client_id": {"type": "string"},
        "name": {"type": "string"},
        "public": {"type": "boolean"},
        "first_party": {"type": "boolean"},
        "admin": {"type": "boolean",
                  "description": "An admin client: the only kind that may hold admin scopes."},
        "resources": {**_URIS, "description": "RFC 8707 resources the client may ask tokens "
                                              "for; the first is its default audience."},
        "resource_server_audience": {
            "type": ["string", "null"],
            "description": "The audience this client serves as a resource server: it may "
                           "introspect tokens issued for it."},
        "redirect_uris": _URIS,
        "grant_types": _URIS,
        "scope": {"type": "string"},
        "token_endpoint_auth_method": {"type": "string"},
        "require_pkce": {"type": "boolean"},
        "subject_type": {"enum": ["public", "pairwise"]},
        "id_token_signed_response_alg": {"type": "string"},
        "token_exchange_audiences": _URIS,
        "post_logout_redirect_uris": _URIS,
        "backchannel_logout_uri": {"type": ["string", "null"]},
        "jwks_kids": {"type": "array", "items": {"type": ["string", "null"]}},
        "logo_uri": {"type": ["string", "null"], "format": "uri",
                     "description": "The app's logo, shown to customers on the login, "
                                    "sign-up and consent pages (RFC 7591)."},
        "client_uri": {"type": ["string", "null"], "format": "uri",
                       "description": "The app's home page (RFC 7591)."},
        "policy_uri": {"type": ["string", "null"], "format": "uri",
                       "description": "The app's privacy policy, linked for customers."},
        "tos_uri": {"type": ["string", "null"], "format": "uri",
                    "description": "The app's terms of service, linked for customers."},
        "brand_colors": {
            "type": "object",
            "additionalProperties": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "description": "The app's own colours (primary, background, text, error) on "
                           "the pages reached through its authorization request; the "
                           "brand's for any it does not set."},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

PATHS = {
    "/clients": {"get": operation(
        "listClients", "List the registered OAuth clients", "admin:read",
        description="Every client's registration (never its secret): scopes, grant types, "
                    "whether it is an admin client, its resources and the audience it "
                    "serves as a resource server. Clients are changed with `flask clients`.",
        responses={"200": json_response("The clients, oldest first.", {
            "type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": CLIENT}}})})},
}
