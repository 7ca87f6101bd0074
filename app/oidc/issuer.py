"""The issuer identifier: the exact URL every token, response and metadata document names.

The floor of the OIDC package: it imports nothing from the app, so tokens, audiences and
the endpoints can all name the issuer without importing one another.
"""
from __future__ import annotations

from flask import current_app


def issuer() -> str:
    """The exact issuer URL (the ISSUER setting, no trailing slash added or removed)."""
    return str(current_app.config["ISSUER"])
