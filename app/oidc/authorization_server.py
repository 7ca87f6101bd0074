"""The Authlib authorization server, with client authentication held to RFC 6749 2.3.

Authlib tries each allowed method in turn and takes the first that works, so a request
that carries HTTP Basic *and* `client_secret` in the body, or a body `client_id` naming
another client than Basic does, got tokens (issue 12, items 11 and 12). RFC 6749 2.3
says a client MUST NOT use more than one authentication method in a request; such a
request is `invalid_request` here, at every endpoint that authenticates clients (token,
introspection, revocation), before any method is tried.
"""
from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidRequestError


class TesseraAuthorizationServer(AuthorizationServer):
    """Authlib's server; app/oidc/server.py configures its grants and extensions."""

    def authenticate_client(self, request, methods, endpoint="token"):
        check_one_authentication_method(request.headers, request.form)
        return super().authenticate_client(request, methods, endpoint)


def check_one_authentication_method(headers, form) -> None:
    """InvalidRequestError if the request authenticates the client more than one way, or
    names two different clients."""
    basic_client_id = _basic_client_id(headers.get("Authorization") or "")
    used = [name for name, present in (
        ("HTTP Basic", basic_client_id is not None),
        ("client_secret", "client_secret" in form),
        ("client_assertion", "client_assertion" in form)) if present]
    if len(used) > 1:
        raise InvalidRequestError(f"Authenticate the client one way only, not with "
                                  f"{' and '.join(used)} (RFC 6749 2.3).")
    body_client_id = form.get("client_id")
    if basic_client_id is not None and body_client_id is not None \
            and body_client_id != basic_client_id:
        raise InvalidRequestError("The client_id in the body is not the authenticated client.")


def _basic_client_id(authorization: str) -> str | None:
    """The client_id of an HTTP Basic header, or None when there is no Basic header. A
    Basic header that cannot be decoded still counts as a method (with an empty id)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return unquote(decoded.partition(":")[0])
