"""Issuing tokens: RFC 9068 JWT access tokens, opaque refresh tokens, ID token claims.

Every issue writes one IssuedToken row (the access token's jti, the refresh token's keyed
hash, the family), which is what introspection, revocation and reuse detection consult.
Nothing here runs a slow hash: signing is the only cost on the token path.

Subjects: `sub` is the customer ID for public-subject clients, and for pairwise clients a
keyed hash of (sector, customer ID), the sector being the client's sector_identifier or
the host of its redirect URIs, so two clients of one sector can correlate and others
cannot.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import AuthorizationCode, Customer, IssuedToken, LoginSession, OAuthClient, utcnow
from app.oidc import audiences, keys, scopes
from app.oidc.issuer import issuer
from app.platform.keyed_hash import keyed_hash

REFRESH_HASH_PURPOSE = "refresh-token"
# The token path's statements, built once (issue 15's profile: building them per request
# cost more than running them).
_INSERT_GRANT = insert(IssuedToken.__table__)
_GRANT_BY_REFRESH_HASH = (select(IssuedToken).options(joinedload(IssuedToken.customer))
                          .where(IssuedToken.refresh_token_hash == bindparam("hash")))
# The claim of a refresh token for one rotation. The row in the session is not updated:
# nothing reads rotated_at after a successful claim, and a failed one refreshes the row.
_CLAIM_REFRESH = (update(IssuedToken)
                  .where(IssuedToken.id == bindparam("grant_id"),
                         IssuedToken.rotated_at.is_(None))
                  .values(rotated_at=bindparam("now"))
                  .execution_options(synchronize_session=False))
CUSTOMER_ID_SCOPE = "customer_id"


def subject_for(client: OAuthClient, customer: Customer) -> str:
    """The `sub` this client sees for this customer."""
    if client.subject_type != "pairwise":
        return customer.customer_id
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{sector_of(client)}|{customer.customer_id}".encode()
    digest = hmac.new(secret, b"pairwise-sub:" + message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sector_of(client: OAuthClient) -> str:
    """The pairwise sector: the registered sector identifier, else the redirect URIs' host."""
    if client.sector_identifier:
        return client.sector_identifier
    hosts = {urlsplit(uri).hostname or uri for uri in client.redirect_uris}
    return sorted(hosts)[0] if hosts else client.client_id


def epoch(moment: datetime | None) -> int | None:
    """Seconds since the epoch, as JWT claims want them."""
    return None if moment is None else int(moment.timestamp())


def issue(client: OAuthClient, grant_type: str, scope: str, *, customer: Customer | None,
          include_refresh_token: bool, login_session: LoginSession | None = None,
          authorization_code: AuthorizationCode | None = None,
          parent: IssuedToken | None = None, audience: list[str] | None = None,
          actor: dict | None = None, exchanged_from_jti: str | None = None) -> dict:
    """Mint an access token (and a refresh token) and record them (the caller commits).

    `parent` is the token being refreshed: its family, session and authentication facts
    carry over. Returns the token response body.
    """
    config = current_app.config
    now = utcnow()
    access_seconds = int(config["ACCESS_TOKEN_SECONDS"])
    source = authorization_code or parent
    auth_time = source.auth_time if source else None
    amr = list(source.amr) if source else []
    acr = source.acr if source else None
    session_id = (authorization_code.login_session_id if authorization_code
                  else parent.login_session_id if parent else
                  login_session.id if login_session else None)
    jti = secrets.token_urlsafe(24)
    # The last line of defence: whatever a grant computed, never more than the client
    # may have (app/oidc/scopes.py); each grant refuses or narrows before this.
    scope = scopes.narrow(client, scope)
    if audience is None:  # the grant named no resource: the defaults of audiences.py
        audience = audiences.for_token(
            client, [], scope=scope, for_customer=customer is not None,
            within=audiences.resources_of(parent.audience) if parent else None)

    claims = {
        "iss": issuer(), "aud": audience if len(audience) > 1 else audience[0],
        "iat": epoch(now), "exp": epoch(now) + access_seconds, "jti": jti,
        "client_id": client.client_id, "scope": scope,
        "sub": subject_for(client, customer) if customer else client.client_id,
    }
    if customer is not None:
        claims.update(auth_time=epoch(auth_time), amr=amr, acr=acr)
        if CUSTOMER_ID_SCOPE in scope.split():
            claims["customer_id"] = customer.customer_id
        if session_id is not None:
            claims["sid"] = session_sid(session_id)
    if actor:
        claims["act"] = actor
    access_token = keys.sign({k: v for k, v in claims.items() if v is not None},
                             keys.ACCESS_TOKEN_ALG, typ="at+jwt")

    refresh_token = secrets.token_urlsafe(32) if include_refresh_token else None
    family_expires_at = (parent.family_expires_at if parent and parent.family_expires_at
                         else now + timedelta(seconds=int(config["REFRESH_TOKEN_FAMILY_SECONDS"])))
    # One INSERT of the grant row, no unit-of-work flush: nothing in this request reads
    # the row back as an object, and this is the token path's only write.
    db.session.execute(_INSERT_GRANT, dict(
        family_id=parent.family_id if parent else secrets.token_hex(16),
        client_id=client.client_id, customer_pk=customer.id if customer else None,
        login_session_id=session_id,
        authorization_code_id=authorization_code.id if authorization_code else None,
        grant_type=grant_type, scope=scope, audience=audience, access_token_jti=jti,
        refresh_token_hash=keyed_hash(REFRESH_HASH_PURPOSE, refresh_token) if refresh_token else None,
        exchanged_from_jti=exchanged_from_jti, actor=actor, auth_time=auth_time, amr=amr,
        acr=acr, issued_at=now, access_expires_at=now + timedelta(seconds=access_seconds),
        # Rotation renews the refresh token's life, never past the family's end.
        refresh_expires_at=(min(now + timedelta(seconds=int(config["REFRESH_TOKEN_SECONDS"])),
                                family_expires_at) if refresh_token else None),
        family_expires_at=family_expires_at if refresh_token else None,
    ))
    response = {"access_token": access_token, "token_type": "Bearer",
                "expires_in": access_seconds, "scope": scope}
    if refresh_token:
        response["refresh_token"] = refresh_token
    return response


def session_sid(login_session_id: int) -> str:
    """The `sid` claim for a login session: stable, opaque, not the database id."""
    return keyed_hash("sid", str(login_session_id))[:32]


def find_refresh_token(refresh_token: str) -> IssuedToken | None:
    """The grant row a refresh token belongs to, with its customer (one query)."""
    return db.session.execute(
        _GRANT_BY_REFRESH_HASH, {"hash": keyed_hash(REFRESH_HASH_PURPOSE, refresh_token)}
    ).scalar_one_or_none()


def revoke_family(family_id: str) -> int:
    """Revoke every token of a refresh family (the caller commits)."""
    return db.session.execute(
        db.update(IssuedToken).where(IssuedToken.family_id == family_id,
                                     IssuedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount


def revoke_from_code(authorization_code_id: int) -> int:
    """Revoke every token descended from one authorization code (code replay)."""
    families = db.session.scalars(db.select(IssuedToken.family_id).where(
        IssuedToken.authorization_code_id == authorization_code_id)).all()
    return sum(revoke_family(family) for family in set(families))


def redeem_refresh_token(grant: IssuedToken) -> bool:
    """Claim a refresh token for one refresh. False means refuse it.

    Rotation: each refresh token works once; the claim is one conditional UPDATE, so of
    two concurrent uses exactly one wins.

    Reuse detection: a rotated or revoked refresh token presented again means a copy exists
    somewhere, so the whole family is revoked, the newest token too.

    A lost response (a phone that went through a tunnel): the client never saw the
    successor and retries with the token it has. Within REFRESH_TOKEN_REUSE_GRACE_SECONDS
    of the rotation, and only if the successor was never used, the successor is revoked
    and the retry is served as a fresh rotation. The old token is not revived (it stays
    rotated, and the window is short), and if the retry came from a thief instead, the real
    client's next refresh presents the revoked successor, which revokes the family.
    """
    now = utcnow()
    if grant.revoked_at is not None:
        revoke_family(grant.family_id)
        return False
    claimed = db.session.execute(_CLAIM_REFRESH, {"grant_id": grant.id, "now": now}).rowcount
    if claimed == 1:
        return True
    grace = timedelta(seconds=int(current_app.config["REFRESH_TOKEN_REUSE_GRACE_SECONDS"]))
    db.session.refresh(grant)
    later = db.session.scalars(db.select(IssuedToken).where(
        IssuedToken.family_id == grant.family_id, IssuedToken.id > grant.id)
        .order_by(IssuedToken.id)).all()
    # Only while no successor was ever used: a used one has rotated_at set.
    unused = bool(later) and all(row.rotated_at is None for row in later)
    newest = later[-1] if later else None
    if grant.rotated_at is not None and now - grant.rotated_at <= grace and unused:
        superseded = db.session.execute(
            db.update(IssuedToken).where(IssuedToken.id == newest.id,
                                         IssuedToken.rotated_at.is_(None),
                                         IssuedToken.revoked_at.is_(None))
            .values(revoked_at=now)).rowcount
        if superseded == 1:
            return True
    revoke_family(grant.family_id)
    return False


#: Token exchange (app/oidc/token_exchange.py): how many exchanges may lie between an
#: original token and the newest one derived from it.
MAX_EXCHANGE_DEPTH = 5


def exchange_depth(grant: IssuedToken) -> int | None:
    """How many exchanges lie behind this grant (0 for a token not made by exchange), or
    None if any ancestor is missing or revoked, or the chain is longer than allowed."""
    depth = 0
    seen = {grant.access_token_jti}
    parent_jti = grant.exchanged_from_jti
    while parent_jti is not None:
        depth += 1
        if depth > MAX_EXCHANGE_DEPTH or parent_jti in seen:
            return None
        seen.add(parent_jti)
        parent = db.session.execute(db.select(IssuedToken).where(
            IssuedToken.access_token_jti == parent_jti)).scalar_one_or_none()
        if parent is None or parent.revoked_at is not None:
            return None
        parent_jti = parent.exchanged_from_jti
    return depth


def is_exchange_chain_live(grant: IssuedToken) -> bool:
    """True unless a token this one was (directly or transitively) exchanged from has been
    revoked or is gone. The grant's own revocation is the caller's check (bearer.py)."""
    return exchange_depth(grant) is not None
