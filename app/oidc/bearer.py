"""Validating access tokens presented to us (userinfo, introspection, the admin API).

An access token is accepted only if its signature verifies with one of our published
ES256 keys, it is typed `at+jwt`, its issuer is ours, it has not expired, its grant row
exists and is not revoked, and its customer (if any) is active and has no
`tokens_not_before` after the token was issued. Self-contained tokens are thus still
stoppable: logout everywhere, lock, erasure and revocation take effect at once here.
"""
from __future__ import annotations

from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import bindparam, select

from app.extensions import db
from app.models import IssuedToken, utcnow
from app.oidc import keys, tokens
from app.oidc.issuer import issuer


#: Built once: every introspection and userinfo call runs it (issue 15's profile).
_GRANT_BY_JTI = select(IssuedToken).where(IssuedToken.access_token_jti == bindparam("jti"))


class InvalidToken(Exception):
    """The token is not (or no longer) valid; the message says why, for logs only."""


@dataclass(frozen=True)
class ValidToken:
    """A live access token: its claims and its grant row."""

    claims: dict
    grant: IssuedToken


def verify_signature(token: str, algorithms: tuple[str, ...]) -> dict:
    """Verify a JWT we signed, with only the given algorithms (never none or HS*)."""
    if not token or len(token) > 8192 or token.count(".") != 2:
        raise InvalidToken("malformed token")
    key_set = keys.key_set()
    try:
        decoded = jwt.decode(token, key_set, algorithms=list(algorithms))
    except (JoseError, ValueError) as error:
        raise InvalidToken(f"signature: {error}") from None
    return {"header": dict(decoded.header), "claims": dict(decoded.claims)}


def validate_access_token(token: str, audience: str | None = None) -> ValidToken:
    """Return the live token, or raise InvalidToken. A resource of our own (userinfo, the
    admin API) passes its `audience`: a token whose `aud` does not name it is refused, so
    a token minted for another service (by token exchange, say) opens nothing here."""
    decoded = verify_signature(token, (keys.ACCESS_TOKEN_ALG,))
    header, claims = decoded["header"], decoded["claims"]
    if header.get("typ") != "at+jwt":
        raise InvalidToken("not an access token")
    if claims.get("iss") != issuer():
        raise InvalidToken("issuer")
    aud = claims.get("aud")
    if audience is not None and audience not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidToken("audience")
    now = utcnow()
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now.timestamp():
        raise InvalidToken("expired")
    grant = db.session.execute(_GRANT_BY_JTI, {"jti": str(claims.get("jti"))}
                               ).scalar_one_or_none()
    if grant is None or grant.revoked_at is not None:
        raise InvalidToken("revoked")
    if not tokens.is_exchange_chain_live(grant):
        raise InvalidToken("exchanged from a token since revoked")
    customer = grant.customer
    if customer is not None:
        if customer.status != "active":
            raise InvalidToken("customer not active")
        if customer.tokens_not_before and grant.issued_at < customer.tokens_not_before:
            raise InvalidToken("issued before the customer's not-before time")
    return ValidToken(claims, grant)
