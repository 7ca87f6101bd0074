"""Who an access token is for: its `aud`.

Every access token names the resources it may be presented to, so a resource server can
tell a token meant for it from one meant for another (issue 12, item 20):

- a resource the client asked for with RFC 8707 `resource` (at /authorize or /token),
  among the resource indicators registered for the client (OAuthClient.resources); with
  none asked for, the first registered one (the client's default audience);
- Tessera's own userinfo endpoint, named by the issuer, when the token is a customer's
  token with the `openid` scope;
- the admin API (`{issuer}/admin/api`), and nothing else, for an admin client's token;
- the issuer alone when nothing else applies (the token then opens only what the issuer
  itself serves to that token, which for a customerless token is nothing).

A refresh keeps the original grant's resources or narrows them; it never adds one.
/userinfo and the admin API accept only tokens whose `aud` includes them (bearer.py's
callers), and introspection answers a resource server only about tokens for its audience.
"""
from __future__ import annotations

from authlib.oauth2 import OAuth2Error

from app.oidc.issuer import issuer

ADMIN_API_PATH = "/admin/api"
MAX_RESOURCES = 10


class InvalidTargetError(OAuth2Error):
    """RFC 8707 2 / RFC 8693 2.2.2: the client may not have a token for that resource."""

    error = "invalid_target"


def admin_api_audience() -> str:
    """The audience of admin API tokens."""
    return issuer() + ADMIN_API_PATH


def userinfo_audience() -> str:
    """The audience of tokens that may call /userinfo: the issuer itself."""
    return issuer()


def check_resources(client, requested: list[str], within: list[str] | None = None) -> list[str]:
    """The requested resources, or InvalidTargetError if any is not registered for this
    client (or, with `within`, was not in the original grant)."""
    requested = list(dict.fromkeys(value for value in requested if value))
    if len(requested) > MAX_RESOURCES:
        raise InvalidTargetError(f"Ask for at most {MAX_RESOURCES} resources.")
    allowed = [r for r in (client.resources or []) if within is None or r in within]
    refused = [r for r in requested if r not in allowed]
    if refused:
        raise InvalidTargetError("This client may not have a token for that resource.")
    return requested


def for_token(client, requested: list[str], *, scope: str, for_customer: bool,
              within: list[str] | None = None) -> list[str]:
    """The `aud` of a new access token (see the module docstring)."""
    if client.is_admin:
        return [admin_api_audience()]
    chosen = check_resources(client, requested, within)
    if not chosen:
        chosen = list(within) if within is not None else list(client.resources or [])[:1]
    if for_customer and "openid" in scope.split():
        chosen.append(userinfo_audience())
    return list(dict.fromkeys(chosen)) or [issuer()]


def resources_of(audience: list[str]) -> list[str]:
    """The resource indicators among a stored grant's audiences (its own endpoints left
    out), which a refresh of that grant may keep or narrow."""
    own = {userinfo_audience(), admin_api_audience()}
    return [value for value in audience or [] if value not in own]


def includes(claims_or_audience, audience: str) -> bool:
    """True if a token's `aud` (a string, a list, or claims holding it) names `audience`."""
    aud = claims_or_audience.get("aud") if isinstance(claims_or_audience, dict) \
        else claims_or_audience
    return audience in (aud if isinstance(aud, list) else [aud])
