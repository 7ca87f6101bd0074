"""Which app a customer is logging in to: the pages reached from an app's authorization
request (login, sign-up and its code) name the app and show its logo and its privacy
policy and terms (templates/web/_app_header.html).

The app is read from `next`, the authorization request the customer returns to: a local
path to /authorize naming one registered client_id. Anyone can write such a link, but it
can only name a registered client, and the name, logo and links shown are the ones its
operator registered (app/oidc/clients.py validates them). The logo's origin joins the
page's img-src for that response only (app/oidc/endpoints.py allow_client_logo).
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import url_for

from app.models import OAuthClient
from app.oidc.clients import get_client
from app.oidc.endpoints import allow_client_logo

#: Longer than any client_id (app/models/oauth.py); a longer one is no client's.
_CLIENT_ID_MAX = 48


def requesting_app(next_path: str | None) -> OAuthClient | None:
    """The registered client whose authorization request `next_path` is, else None; when
    there is one, this response may show its logo."""
    if not next_path:
        return None
    parts = urlsplit(next_path)
    if parts.path != url_for("oidc.authorize"):
        return None
    client_ids = parse_qs(parts.query).get("client_id", [])
    if len(client_ids) != 1 or len(client_ids[0]) > _CLIENT_ID_MAX:
        return None
    client = get_client(client_ids[0])
    allow_client_logo(client)
    return client
