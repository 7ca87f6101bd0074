"""Introspection (RFC 7662) and revocation (RFC 7009). Being built."""
from flask import Blueprint

bp = Blueprint("oidc_tokens", __name__)


def register(server) -> None:
    """Register endpoints with the authorization server."""
