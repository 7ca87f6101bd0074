"""Introspection (RFC 7662) and revocation (RFC 7009).

Introspection is for confidential clients: they authenticate with their secret, and a
public client or an unauthenticated caller gets 401 invalid_client. A client learns about a
token only if it was issued to it, or (access tokens) if it is the resource server
registered for one of the token's audiences (`may_introspect`); to anyone else every token
reads as dead. Any token that is not live right now answers only `{"active": false}`: unknown, malformed, expired,
revoked, rotated (refresh), minted by token exchange from a token since revoked, or
belonging to a customer who is locked, erased or past their `tokens_not_before`. (A
subject token stays live after it is exchanged: see app/oidc/token_exchange.py.) Access tokens are checked by the same rules as at
userinfo (app/oidc/bearer.py), so the two never disagree.

Revocation lets a client revoke its own tokens; a public client identifies itself by
client_id alone (RFC 7009 section 2.1 lets it: it can only revoke its own tokens). Revoking
a refresh token revokes its whole family; revoking an access token revokes its grant row
(and so the refresh token of that row). A token of another client, or an unknown one, gets
200 and changes nothing, so the endpoint tells a caller nothing about other clients'
tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Blueprint, request

from app.extensions import authorization, csrf, db
from app.models import IssuedToken, utcnow
from app.oidc import audiences, keys, tokens
from app.oidc.bearer import InvalidToken, validate_access_token, verify_signature
from app.oidc.clients import client_record
from app.oidc.issuer import issuer
from app.platform.audit import Origin, record_event
from app.platform.read_only import reads_only

bp = Blueprint("oidc_tokens", __name__)

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"
#: Longer than anything we issue; bounds the work done on a pasted blob.
MAX_TOKEN_LENGTH = 8192
INACTIVE = {"active": False}


@dataclass(frozen=True)
class FoundToken:
    """A token presented to introspection or revocation, and the grant row it belongs to.

    `claims` are the access token's verified claims (None for a refresh token).
    """

    kind: str
    grant: IssuedToken
    claims: dict | None = None


def find_token(token: str, hint: str | None, *, live_access_only: bool) -> FoundToken | None:
    """The token and its grant row, or None. The hint only orders the search (RFC 7662
    section 2.1 and RFC 7009 section 2.1: a wrong hint must not hide a token).

    With `live_access_only`, an access token is returned only if it is live by every rule
    of bearer.py; otherwise any access token whose signature verifies is returned (an
    expired one can still be revoked: that is harmless and idempotent).
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    order = ((REFRESH_TOKEN, ACCESS_TOKEN) if hint == REFRESH_TOKEN
             else (ACCESS_TOKEN, REFRESH_TOKEN))
    for kind in order:
        found = (_find_access_token(token, live_access_only) if kind == ACCESS_TOKEN
                 else _find_refresh_token(token))
        if found is not None:
            return found
    return None


def _find_access_token(token: str, live_only: bool) -> FoundToken | None:
    if token.count(".") != 2:
        return None
    try:
        if live_only:
            valid = validate_access_token(token)
            return FoundToken(ACCESS_TOKEN, valid.grant, valid.claims)
        decoded = verify_signature(token, (keys.ACCESS_TOKEN_ALG,))
    except InvalidToken:
        return None
    claims = decoded["claims"]
    if decoded["header"].get("typ") != "at+jwt" or claims.get("iss") != issuer():
        return None
    grant = db.session.execute(db.select(IssuedToken).where(
        IssuedToken.access_token_jti == str(claims.get("jti")))).scalar_one_or_none()
    return None if grant is None else FoundToken(ACCESS_TOKEN, grant, claims)


def _find_refresh_token(token: str) -> FoundToken | None:
    if len(token) > 128:  # ours are 43 characters; don't hash arbitrary blobs
        return None
    grant = tokens.find_refresh_token(token)
    return None if grant is None else FoundToken(REFRESH_TOKEN, grant)


def customer_allows(grant: IssuedToken) -> bool:
    """Whether the grant's customer (if any) still lets its tokens work."""
    customer = grant.customer
    if customer is None:
        return grant.customer_pk is None
    if customer.status != "active":
        return False
    return not (customer.tokens_not_before and grant.issued_at < customer.tokens_not_before)


def may_introspect(client, found: FoundToken) -> bool:
    """Whether this client may learn about this token (issue 12, item 13): the client it
    was issued to, or a resource server registered for one of its audiences (access tokens
    only: a refresh token is its client's business alone). Anyone else is told
    `{"active": false}`, exactly as for a dead token, so nothing leaks about other
    clients' tokens."""
    if found.grant.client_id == client.client_id:
        return True
    return (found.kind == ACCESS_TOKEN and client.resource_server_audience is not None
            and audiences.includes(found.claims, client.resource_server_audience))


def introspection_payload(found: FoundToken | None) -> dict:
    """The RFC 7662 response for a token: its facts if live, else only active=false."""
    if found is None:
        return dict(INACTIVE)
    grant = found.grant
    if found.kind == ACCESS_TOKEN:
        # validate_access_token already checked signature, type, issuer, expiry,
        # revocation, the exchange chain and the customer.
        claims = found.claims
        payload = {"active": True, "token_type": "Bearer"}
        for name in ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti",
                     "customer_id", "act"):
            if name in claims:
                payload[name] = claims[name]
        return payload
    now = utcnow()
    if (grant.revoked_at is not None or grant.rotated_at is not None
            or grant.refresh_expires_at is None or grant.refresh_expires_at <= now
            or not customer_allows(grant)):
        return dict(INACTIVE)
    client = client_record(grant.client_id)
    if client is None:
        return dict(INACTIVE)
    customer = grant.customer
    return {
        "active": True, "token_type": "refresh_token", "scope": grant.scope,
        "client_id": grant.client_id,
        "sub": tokens.subject_for(client, customer) if customer else grant.client_id,
        "exp": tokens.epoch(grant.refresh_expires_at),
        "iat": tokens.epoch(grant.issued_at), "iss": issuer(),
    }


def revoke(found: FoundToken | None, client_id: str, origin: Origin) -> int:
    """Revoke a client's own token (the caller commits); return how many grant rows were
    revoked. Another client's token, or none, revokes nothing."""
    if found is None or found.grant.client_id != client_id:
        return 0
    grant = found.grant
    if found.kind == REFRESH_TOKEN:
        count = tokens.revoke_family(grant.family_id)
    else:
        count = db.session.execute(
            db.update(IssuedToken).where(IssuedToken.id == grant.id,
                                         IssuedToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())).rowcount
    if count:
        customer = grant.customer
        record_event("token.revoked", origin, customer.customer_id if customer else None,
                     client_id=client_id, token_type=found.kind, family_id=grant.family_id,
                     grants_revoked=count)
    return count


class _ClientAuthenticating:
    """Shared by both endpoints: a failed client authentication is always 401 (RFC 6749
    section 5.2 allows it; Authlib answers 400 for some methods), and the `token`
    parameter is required while an unknown hint is ignored, not refused."""

    def authenticate_endpoint_client(self, request):
        try:
            return super().authenticate_endpoint_client(request)
        except InvalidClientError as error:
            error.status_code = 401
            raise

    def check_params(self, request, client):
        if not request.form.get("token"):
            raise InvalidRequestError("The token parameter is required.")


class TesseraIntrospectionEndpoint(_ClientAuthenticating, IntrospectionEndpoint):
    """RFC 7662 for confidential clients (resource servers) only."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def authenticate_endpoint_client(self, request):
        client = super().authenticate_endpoint_client(request)
        if client.model.is_public:  # never reached today: public clients hold no secret
            raise InvalidClientError(status_code=401,
                                     description="Public clients may not introspect tokens.")
        return client

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        found = find_token(request.form["token"], request.form.get("token_type_hint"),
                           live_access_only=True)
        return found if found is not None and may_introspect(client.model, found) else None

    def create_introspection_payload(self, token):
        return introspection_payload(token)


class TesseraRevocationEndpoint(_ClientAuthenticating, RevocationEndpoint):
    """RFC 7009: a client revokes its own tokens."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt",
                           "none"]

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        return find_token(request.form["token"], request.form.get("token_type_hint"),
                          live_access_only=False)

    def create_endpoint_response(self, request):
        client = self.authenticate_endpoint_client(request)
        found = self.authenticate_token(request, client)
        origin = Origin(actor=f"client:{client.get_client_id()}", ip=request_ip(),
                        user_agent=request_user_agent())
        revoke(found, client.get_client_id(), origin)  # revoke_token() commits
        return 200, {}, default_json_headers


def request_ip() -> str | None:
    """The caller's address, for the audit trail."""
    return request.remote_addr


def request_user_agent() -> str | None:
    """The caller's User-Agent, for the audit trail."""
    return request.headers.get("User-Agent")


def register(server) -> None:
    """Register endpoints with the authorization server."""
    server.register_endpoint(TesseraIntrospectionEndpoint)
    server.register_endpoint(TesseraRevocationEndpoint)


@bp.post("/introspect")
@csrf.exempt  # resource servers POST here with client credentials, not a browser form
@reads_only
def introspect():
    """RFC 7662 token introspection."""
    return authorization.create_endpoint_response(TesseraIntrospectionEndpoint.ENDPOINT_NAME)


@bp.post("/revoke")
@csrf.exempt  # clients POST here with client credentials, not a browser form
def revoke_token():
    """RFC 7009 token revocation."""
    response = authorization.create_endpoint_response(TesseraRevocationEndpoint.ENDPOINT_NAME)
    if response.status_code == 200:
        db.session.commit()  # the revocation and its audit event (nothing if none matched)
    return response
