"""Which scopes a client may be given, for every grant.

The rule, stated once and applied by every grant (authorization code, refresh, client
credentials, token exchange) and again by tokens.issue as the last line of defence:

- a client is given only scopes it is registered for (OAuthClient.scope);
- the admin API's scopes (`admin:*`) are given only to admin clients (OAuthClient.is_admin),
  which are confidential, use client_credentials alone, and are made with
  `flask clients create --admin`; clients.py refuses to register admin scopes elsewhere,
  and this module ignores them on any other client even if a row says otherwise;
- a refresh or an exchange never widens what the original grant had.

Authlib's ClientCredentialsGrant issued whatever scope was asked for (issue 12, item 19):
a client registered for `openid` alone got itself the admin scopes.
"""
from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidScopeError

ADMIN_SCOPE_PREFIX = "admin:"
ADMIN_SCOPES = ("admin:read", "admin:write", "admin:recovery", "admin:gdpr")


def is_admin_scope(scope: str) -> bool:
    """True for a scope of the admin API (any `admin:` scope, known or not)."""
    return scope.startswith(ADMIN_SCOPE_PREFIX)


def grantable(client) -> set[str]:
    """The scopes this client may ever be given (an OAuthClient row)."""
    registered = set((client.scope or "").split())
    if client.is_admin:
        return registered
    return {scope for scope in registered if not is_admin_scope(scope)}


def narrow(client, scope: str | None, within: str | None = None) -> str:
    """The requested scopes this client may have (and, with `within`, that the original
    grant had), in the order asked, others dropped: the silent narrowing RFC 6749 3.3
    allows, used where the request was already checked or comes from a stored grant."""
    allowed = grantable(client)
    if within is not None:
        allowed &= set(within.split())
    return " ".join(s for s in dict.fromkeys((scope or "").split()) if s in allowed)


def require(client, scope: str | None, within: str | None = None) -> str:
    """The requested scope, or InvalidScopeError naming what the client may not have.

    Used where the client asks for scopes directly (client credentials, refresh, token
    exchange): an explicit refusal tells an honest client what it got wrong."""
    granted = narrow(client, scope, within)
    refused = [s for s in dict.fromkeys((scope or "").split()) if s not in granted.split()]
    if refused:
        raise InvalidScopeError(f"Not allowed for this client: {' '.join(refused)}.")
    return granted
