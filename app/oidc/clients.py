"""The OAuth client registry: relying apps and services, their redirect URIs and secrets.

A confidential client's secret is 256 random bits, shown once when it is made and stored
only as a keyed hash (app/platform/keyed_hash.py): the secret's entropy protects it, so the fast
hash is enough and keeps the token endpoint cheap. Public clients (browser and native
apps) hold no secret and may not use client_credentials.

Redirect URIs follow RFC 8252 and the OAuth security BCP (RFC 9700): absolute, no
fragment, no userinfo; https, or http only on loopback (127.0.0.1, [::1], localhost);
native public clients may also use a private-use scheme in reverse-domain form
(com.example.app:/callback). They are stored exactly as given, because the authorization
endpoint compares them by exact string match.

What customers see of an app (RFC 7591 `logo_uri`, `client_uri`, `policy_uri`, `tos_uri`)
is shown on the login, sign-up and consent pages, so it is held to a stricter rule than a
redirect URI: https with a plain host name and no user name or password, at most 2,000
characters; http on loopback only outside production (a developer's demo app). That keeps
out javascript:, data: and every other scheme, and a logo's origin is safe to put in the
page's Content-Security-Policy.

Services take plain arguments, add to the caller's transaction (the caller commits) and
raise ClientError with a message fit to show an operator.
"""
from __future__ import annotations

import copy
import re
import secrets
from dataclasses import fields, make_dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import inspect

from app.directory.customers import CustomerError, normalize_name
from app.extensions import db
from app.models import OAuthClient
from app.oidc import registry_version
from app.oidc.scopes import ADMIN_SCOPES, is_admin_scope
from app.platform.audit import Origin, record_event
from app.platform.brand import (COLOUR_ROLES, contrast_warnings, current_brand, is_colour,
                                normalize_colour)
from app.platform.keyed_hash import keyed_hash, matches

GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_TYPES = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS,
               GRANT_TOKEN_EXCHANGE)
DEFAULT_GRANT_TYPES = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN)
DEFAULT_SCOPE = "openid profile email phone"
ADMIN_DEFAULT_SCOPE = "admin:read"

MAX_REDIRECT_URIS = 20
MAX_REDIRECT_URI_LENGTH = 2000
MAX_RESOURCES = 10
# Scope is free text at rest; this bounds what a mistaken paste can store.
MAX_SCOPE_LENGTH = 1000

DEMO_CLIENT_NAME = "Tessera demo"
DEMO_REDIRECT_URI = "http://127.0.0.1:5001/callback"

SECRET_HASH_PURPOSE = "client-secret"
_CLIENT_CACHE = "tessera_clients"
#: Clients kept per process; past this the cache starts again (every entry is a client
#: that exists, so only a deployment with more clients than this refills it often).
MAX_CACHED_CLIENTS = 2000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_SCOPE_TOKEN_RE = re.compile(r"[A-Za-z0-9:_.-]+")
# RFC 8252 section 7.1: a private-use scheme is a reverse domain name, so it has a dot;
# that also keeps out javascript:, data:, file: and every other dotless scheme.
_PRIVATE_USE_SCHEME_RE = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+")
#: The client metadata customers see, by RFC 7591 name, with what it is for people.
DISPLAY_URIS = {"logo_uri": "logo", "client_uri": "home page", "policy_uri": "privacy policy",
                "tos_uri": "terms of service"}
MAX_DISPLAY_URI_LENGTH = 2000
# A DNS name (letters, digits, dots, hyphens) or bracketed loopback: nothing that could
# end a Content-Security-Policy source (";", ",", space, quote) or hide another host.
_DISPLAY_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[::1\]")


class ClientError(ValueError):
    """A client registration that cannot be done; the message says why."""


def create_client(name: str, redirect_uris: list[str] | tuple[str, ...], *,
                  public: bool = False, first_party: bool = False,
                  grant_types: list[str] | tuple[str, ...] | None = None,
                  scope: str | None = None, admin: bool = False,
                  resources: list[str] | tuple[str, ...] = (),
                  resource_server_audience: str | None = None,
                  display_uris: dict[str, str | None] | None = None,
                  allow_loopback_http: bool = False,
                  brand_colors: dict[str, str] | None = None,
                  origin: Origin) -> tuple[OAuthClient, str | None]:
    """Register a client; return it and, for a confidential client, its plain secret.

    The secret is returned here only and never stored: show it once. Everything is
    validated before anything is added, so bad input raises ClientError and adds nothing.
    An admin client (the admin API's caller) is confidential and uses client_credentials
    alone; only it may be registered for admin scopes. `display_uris` maps DISPLAY_URIS
    names to URIs (see normalize_display_uris; `allow_loopback_http` outside production);
    `brand_colors` the app's own colours (see normalize_brand_colors).
    """
    name = normalize_client_name(name)
    if admin and grant_types is None:
        grant_types = [GRANT_CLIENT_CREDENTIALS]
    grant_types = normalize_grant_types(grant_types, public=public)
    redirect_uris = normalize_redirect_uris(redirect_uris, public=public)
    if GRANT_AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise ClientError("A client that uses authorization_code needs a redirect URI.")
    scope = normalize_scope((ADMIN_DEFAULT_SCOPE if admin else DEFAULT_SCOPE)
                            if scope is None else scope)
    check_admin_registration(admin, public=public, grant_types=grant_types, scope=scope)
    resources = normalize_resources(resources)
    if resource_server_audience is not None:
        resource_server_audience = normalize_resource_server_audience(
            resource_server_audience, public=public)
    shown = normalize_display_uris(display_uris or {}, allow_loopback_http=allow_loopback_http)
    colours = normalize_brand_colors(brand_colors or {})

    secret = None if public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=new_client_id(),
        client_secret_hash=None if secret is None else keyed_hash(SECRET_HASH_PURPOSE, secret),
        name=name, redirect_uris=redirect_uris, grant_types=grant_types, scope=scope,
        is_public=public, is_first_party=first_party, is_admin=admin, resources=resources,
        resource_server_audience=resource_server_audience,
        token_endpoint_auth_method="none" if public else "client_secret_basic", **shown,
        brand_colors=colours,
    )
    db.session.add(client)
    record_event("client.created", origin, None, client_id=client.client_id, name=name,
                 admin=admin)
    return client, secret


def new_client_id() -> str:
    """A random client_id: 192 bits, URL-safe, never starting with "-" (which a shell
    command line would read as an option)."""
    while True:
        client_id = secrets.token_urlsafe(24)
        if not client_id.startswith("-"):
            return client_id


def verify_client_secret(client: OAuthClient, secret: str | None) -> bool:
    """True if `secret` is this confidential client's secret (constant-time comparison).

    Public clients have no secret, so nothing verifies for them.
    """
    if client.is_public or not client.client_secret_hash or not isinstance(secret, str):
        return False
    return matches(client.client_secret_hash, SECRET_HASH_PURPOSE, secret)


def get_client(client_id: str) -> OAuthClient | None:
    """The client with this client_id, if any, as a row of this request's session (to show
    or to change). The token path reads `client_record` instead."""
    return db.session.execute(
        db.select(OAuthClient).where(OAuthClient.client_id == client_id)
    ).scalar_one_or_none()


#: A client's registration as the token path reads it: every column of its row, frozen
#: (lists become tuples), one object shared by this process's requests while the registry
#: version it was read under holds.
ClientRecord = make_dataclass(
    "ClientRecord", [column.key for column in inspect(OAuthClient).column_attrs], frozen=True)


def client_record(client_id: str) -> ClientRecord | None:
    """The client with this client_id, if any, from this process's cache.

    The cache holds while the registry version (app/oidc/registry_version.py, read once per
    request) is the one it was filled under, so a client changed, rotated or deleted
    anywhere is read afresh on the next request. Unknown client ids are not cached.
    """
    version = registry_version.current()
    if version is None:  # no version row, or this transaction changed the registry
        return _record_of(get_client(client_id))
    cache = current_app.extensions.get(_CLIENT_CACHE)
    if cache is None or cache[0] != version:
        cache = (version, {})
        current_app.extensions[_CLIENT_CACHE] = cache
    record = cache[1].get(client_id)
    if record is None:
        # The version was read before the row: a change committed in between leaves this
        # record under the old version, refilled on the next request.
        record = _record_of(get_client(client_id))
        if record is not None:
            if len(cache[1]) >= MAX_CACHED_CLIENTS:
                cache[1].clear()
            cache[1][client_id] = record
    return record


def _record_of(client: OAuthClient | None) -> ClientRecord | None:
    if client is None:
        return None
    values = {}
    for field in fields(ClientRecord):
        value = getattr(client, field.name)
        values[field.name] = tuple(value) if isinstance(value, list) else copy.deepcopy(value)
    return ClientRecord(**values)


def list_clients() -> list[OAuthClient]:
    """Every client, oldest first."""
    return list(db.session.scalars(
        db.select(OAuthClient).order_by(OAuthClient.created_at, OAuthClient.id)
    ))


def ensure_demo_client(origin: Origin) -> tuple[OAuthClient, bool]:
    """Return the "Tessera demo" client, creating it first if it does not exist.

    The demo app is a public first-party client on loopback, so `make run` can log in
    without a secret. Returns (client, created); the caller commits. Two processes racing
    here could each create one (names are not unique): run it from one place at start-up.
    """
    existing = db.session.scalars(
        db.select(OAuthClient).where(OAuthClient.name == DEMO_CLIENT_NAME)
        .order_by(OAuthClient.id).limit(1)
    ).first()
    if existing is not None:
        return existing, False
    client, _ = create_client(DEMO_CLIENT_NAME, [DEMO_REDIRECT_URI], public=True,
                              first_party=True, origin=origin)
    return client, True


def normalize_grant_types(grant_types: list[str] | tuple[str, ...] | None, *,
                          public: bool) -> list[str]:
    """The grant types to store (defaults when None, duplicates dropped), or ClientError."""
    chosen = list(dict.fromkeys(DEFAULT_GRANT_TYPES if grant_types is None else grant_types))
    if not chosen:
        raise ClientError("Give the client at least one grant type.")
    for grant_type in chosen:
        if grant_type not in GRANT_TYPES:
            raise ClientError(f"Unknown grant type {grant_type!r}; use one of: "
                              f"{', '.join(GRANT_TYPES)}.")
    if public and GRANT_CLIENT_CREDENTIALS in chosen:
        # client_credentials authenticates the client alone; a public client cannot.
        raise ClientError("A public client cannot use client_credentials: it has no secret.")
    return chosen


def normalize_redirect_uris(redirect_uris: list[str] | tuple[str, ...], *,
                            public: bool) -> list[str]:
    """The redirect URIs to store (duplicates dropped, order kept), or ClientError."""
    uris = list(dict.fromkeys(redirect_uris or ()))
    if len(uris) > MAX_REDIRECT_URIS:
        raise ClientError(f"A client has at most {MAX_REDIRECT_URIS} redirect URIs.")
    for uri in uris:
        check_redirect_uri(uri, public=public)
    return uris


def check_redirect_uri(uri: str, *, public: bool) -> None:
    """Raise ClientError unless `uri` is an acceptable redirect URI (see module docstring)."""
    if not isinstance(uri, str) or not uri:
        raise ClientError("A redirect URI cannot be empty.")
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise ClientError(f"A redirect URI has at most {MAX_REDIRECT_URI_LENGTH} characters.")
    # URIs are ASCII; anything else must be percent-encoded, so each URI has one spelling.
    # Browsers read a backslash as "/" in http(s) URLs, which can move the host: refused.
    if not uri.isascii() or any(ch.isspace() or not ch.isprintable() or ch == "\\"
                                for ch in uri):
        raise ClientError(f"Redirect URI {uri!r} must be ASCII without spaces or backslashes "
                          "(percent-encode other characters).")
    if "#" in uri:
        raise ClientError(f"Redirect URI {uri!r} cannot have a fragment (#...).")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number 0-65535)
    except ValueError:
        raise ClientError(f"Redirect URI {uri!r} is not a valid URI "
                          "(check the host and port).") from None
    if not parts.scheme:
        raise ClientError(f"Redirect URI {uri!r} must be absolute, "
                          "like https://app.example/callback.")
    # Userinfo lets "https://good.example@evil.example/" read as the wrong host.
    if "@" in parts.netloc:
        raise ClientError(f"Redirect URI {uri!r} cannot contain a user name or password (@).")
    if parts.scheme in ("https", "http"):
        if not parts.hostname:
            raise ClientError(f"Redirect URI {uri!r} needs a host.")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ClientError(f"Redirect URI {uri!r}: http is allowed only on loopback "
                              "(127.0.0.1, [::1], localhost); use https.")
        return
    if not _PRIVATE_USE_SCHEME_RE.fullmatch(parts.scheme):
        raise ClientError(f"Redirect URI {uri!r}: the scheme {parts.scheme!r} is not allowed; "
                          "use https, http on loopback, or a private-use scheme like "
                          "com.example.app:/callback.")
    if not public:
        raise ClientError(f"Redirect URI {uri!r}: private-use schemes are for native public "
                          "clients only (any app can claim a scheme, so it proves nothing).")
    if not parts.path:
        raise ClientError(f"Redirect URI {uri!r} needs a path, like com.example.app:/callback.")


def normalize_scope(scope: str) -> str:
    """The scope to store: space-separated tokens of [A-Za-z0-9:_.-], duplicates dropped."""
    if len(scope) > MAX_SCOPE_LENGTH:
        raise ClientError(f"A scope has at most {MAX_SCOPE_LENGTH} characters.")
    # RFC 6749 separates scope tokens by single spaces only; tabs and newlines are refused.
    tokens = [token for token in scope.split(" ") if token]
    if not tokens:
        raise ClientError("Give the client at least one scope, like \"openid\".")
    for token in tokens:
        if not _SCOPE_TOKEN_RE.fullmatch(token):
            raise ClientError(f"Scope {token!r} may use only letters, digits and : _ . -")
    return " ".join(dict.fromkeys(tokens))


def client_settings(client: OAuthClient) -> dict:
    """A client's registration as the CLI and the admin API show it: never its secret
    or the secret's hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "first_party": client.is_first_party,
        "admin": client.is_admin,
        "resources": list(client.resources or []),
        "resource_server_audience": client.resource_server_audience,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "require_pkce": client.require_pkce,
        "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "token_exchange_audiences": list(client.token_exchange_audiences or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "jwks_kids": [key.get("kid") for key in (client.jwks or {}).get("keys", [])],
        **{name: getattr(client, name) for name in DISPLAY_URIS},
        "brand_colors": dict(client.brand_colors or {}),
        "created_at": client.created_at.isoformat(),
    }


def check_admin_registration(admin: bool, *, public: bool, grant_types: list[str],
                             scope: str) -> None:
    """ClientError unless admin scopes go to an admin client, and an admin client is
    confidential and uses client_credentials alone (no customer ever logs in to it, and a
    leaked redirect or refresh token can never carry its scopes)."""
    admin_scopes = [s for s in scope.split() if is_admin_scope(s)]
    if admin_scopes and not admin:
        raise ClientError(f"{' '.join(admin_scopes)}: the admin API's scopes are for admin "
                          "clients only; register one with --admin.")
    if not admin:
        return
    if public or grant_types != [GRANT_CLIENT_CREDENTIALS]:
        raise ClientError("An admin client is confidential and uses the client_credentials "
                          "grant only.")
    unknown = [s for s in admin_scopes if s not in ADMIN_SCOPES]
    if unknown or len(admin_scopes) != len(scope.split()):
        raise ClientError(f"An admin client holds admin scopes only: "
                          f"{', '.join(ADMIN_SCOPES)}.")


def normalize_resources(resources: list[str] | tuple[str, ...]) -> list[str]:
    """RFC 8707 resource indicators a client may ask tokens for (the first is its default
    audience): absolute URIs without a fragment, duplicates dropped, or ClientError."""
    chosen = list(dict.fromkeys(resources))
    if len(chosen) > MAX_RESOURCES:
        raise ClientError(f"A client has at most {MAX_RESOURCES} resources.")
    for resource in chosen:
        check_resource_uri(resource)
    return chosen


def normalize_resource_server_audience(audience: str, *, public: bool) -> str:
    """The audience a resource server serves (it may introspect tokens for it): an
    absolute URI no other client serves, registered on a confidential client only."""
    if public:
        raise ClientError("A public client cannot be a resource server: it cannot "
                          "authenticate to introspect tokens.")
    check_resource_uri(audience)
    taken = db.session.scalar(db.select(OAuthClient.client_id).where(
        OAuthClient.resource_server_audience == audience))
    if taken is not None:
        raise ClientError(f"{audience} is already served by client {taken}.")
    return audience


def check_resource_uri(uri: str) -> None:
    """ClientError unless `uri` is an absolute URI without a fragment (RFC 8707 2)."""
    if (not isinstance(uri, str) or not uri or len(uri) > MAX_REDIRECT_URI_LENGTH
            or not uri.isascii() or any(ch.isspace() or not ch.isprintable() for ch in uri)):
        raise ClientError(f"Resource {uri!r} must be an ASCII URI without spaces.")
    parts = urlsplit(uri)
    if not parts.scheme or "#" in uri or (parts.scheme in ("http", "https")
                                          and not parts.netloc):
        raise ClientError(f"Resource {uri!r} must be an absolute URI without a fragment, "
                          "like https://api.example.com/.")


def normalize_client_name(name: str | None) -> str:
    """The same rules as a customer's name (NFKC, trimmed, 1-100, no control characters)."""
    try:
        normalized = normalize_name(name)
    except CustomerError as error:
        raise ClientError(str(error)) from None
    if normalized is None:
        raise ClientError("Give the client a name.")
    return normalized


def normalize_display_uris(uris: dict[str, str | None], *,
                           allow_loopback_http: bool = False) -> dict[str, str | None]:
    """The display metadata to store (DISPLAY_URIS name -> URI; an empty string or None
    clears one), or ClientError naming the first bad one."""
    unknown = sorted(set(uris) - set(DISPLAY_URIS))
    if unknown:
        raise ClientError(f"Unknown client metadata {', '.join(unknown)}; use one of: "
                          f"{', '.join(DISPLAY_URIS)}.")
    return {name: check_display_uri(name, uri, allow_loopback_http=allow_loopback_http)
            if uri else None for name, uri in uris.items()}


def check_display_uri(name: str, uri: str, *, allow_loopback_http: bool = False) -> str:
    """`uri` if customers may be shown it as this client's `name` (see the module
    docstring), else ClientError saying why."""
    what = f"The {DISPLAY_URIS[name]} ({name})"
    if len(uri) > MAX_DISPLAY_URI_LENGTH:
        raise ClientError(f"{what} has at most {MAX_DISPLAY_URI_LENGTH} characters.")
    if not uri.isascii() or any(ch.isspace() or not ch.isprintable() or ch in "\\\"'<>"
                                for ch in uri):
        raise ClientError(f"{what} must be ASCII without spaces, quotes or backslashes "
                          "(percent-encode other characters).")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise ClientError(f"{what} is not a valid URI (check the host and port).") from None
    if "@" in parts.netloc:
        raise ClientError(f"{what} cannot contain a user name or password (@).")
    host = (parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc)
    loopback = parts.hostname in LOOPBACK_HOSTS
    if parts.scheme == "http" and loopback and allow_loopback_http:
        pass
    elif parts.scheme != "https":
        raise ClientError(f"{what} must start with https:// "
                          + ("(or http:// on loopback)." if allow_loopback_http else
                             "(http is allowed only on loopback outside production)."))
    if not _DISPLAY_HOST_RE.fullmatch(host.lower()):
        raise ClientError(f"{what} needs a host name, like https://app.example/.")
    return uri


def normalize_brand_colors(colours: dict[str, str], current: dict[str, str] | None = None
                           ) -> dict[str, str] | None:
    """An app's own colours to store (role -> #rrggbb; None when it has none), given as
    changes to `current` (its stored colours: an empty value drops a role). ClientError for
    an unknown role, a value that is not a colour, or text colours that fall below WCAG
    AA against the background the page will have (the app's, else the brand's): an
    operator registering an app can fix them, so they are refused, not warned about."""
    unknown = sorted(set(colours) - set(COLOUR_ROLES))
    if unknown:
        raise ClientError(f"Unknown brand colour {', '.join(unknown)}; use "
                          f"{', '.join(COLOUR_ROLES)}.")
    merged = dict(current or {})
    for role, value in colours.items():
        if not value:
            merged.pop(role, None)
        elif not is_colour(value):
            raise ClientError(f"The {role} colour ({value!r}) must be written #rrggbb or #rgb.")
        else:
            merged[role] = normalize_colour(value)
    problems = contrast_warnings({**current_brand().colours, **merged})
    if problems:
        raise ClientError("The app's colours would be hard to read: " + "; ".join(problems)
                          + ".")
    return merged or None


def display_origin(uri: str | None) -> str | None:
    """The origin (scheme://host[:port]) of a stored display URI, for a page's
    Content-Security-Policy; None without one."""
    if not uri:
        return None
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.lower()}"
