"""OAuth clients, authorization codes, issued tokens, signing keys and consents."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.customer import Customer


class OAuthClient(Base):
    """A registered client. Confidential clients hold a secret, stored as a keyed hash.

    Secrets are checked on every token request, so they get a fast keyed hash (HMAC-SHA256
    over a 256-bit random secret), not argon2: the secret's entropy is what protects it.
    """

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(48), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(default=False)
    is_first_party: Mapped[bool] = mapped_column(default=False)
    # client_secret_basic, client_secret_post, private_key_jwt, or none (public clients).
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32),
                                                            default="client_secret_basic")
    # private_key_jwt: the client's public keys (a JWK set).
    jwks: Mapped[dict | None] = mapped_column(JSON)
    # PKCE is always required of public clients; this requires it of a confidential one.
    require_pkce: Mapped[bool] = mapped_column(default=False)
    # "public": sub is the customer ID; "pairwise": a different sub per sector.
    subject_type: Mapped[str] = mapped_column(String(16), default="public")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    # Audiences this client may ask for in token exchange (RFC 8693).
    token_exchange_audiences: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    # An admin client may hold the admin API's scopes (app/oidc/scopes.py); no other may.
    is_admin: Mapped[bool] = mapped_column(default=False)
    # RFC 8707 resource indicators this client may ask tokens for; the first is the
    # audience of its tokens when it names none.
    resources: Mapped[list] = mapped_column(JSON, default=list)
    # Set when this client is a resource server: the audience it serves. It may then
    # introspect tokens whose `aud` includes it (app/oidc/revocation.py).
    resource_server_audience: Mapped[str | None] = mapped_column(String(2000), unique=True)
    # What customers see of the app on the login, sign-up and consent pages (RFC 7591
    # names): its logo, home page, privacy policy and terms. https only (app/oidc/clients.py).
    logo_uri: Mapped[str | None] = mapped_column(String(2000))
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    policy_uri: Mapped[str | None] = mapped_column(String(2000))
    tos_uri: Mapped[str | None] = mapped_column(String(2000))
    # The app's own colours on the pages reached through its authorization request
    # (role -> "#rrggbb", roles of app/platform/brand.py COLOUR_ROLES); None: the brand's.
    brand_colors: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthorizationCode(Base):
    """A code issued at the authorization endpoint: stored hashed, lives 60 s, used once.

    `used_at` is set by the one request that redeems it; a second redemption finds it set
    and revokes every token issued from the first (RFC 9700 section 4.5).
    """

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(48), index=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             index=True)
    login_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="SET NULL"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    # RFC 8707 resources asked for at /authorize: the audiences its tokens may carry.
    resources: Mapped[list] = mapped_column(JSON, default=list)
    auth_time: Mapped[datetime]
    amr: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()


class IssuedToken(Base):
    """One grant of tokens to a client: the access token's `jti` and, if one was issued,
    the refresh token's keyed hash.

    Refresh tokens rotate: each use marks this row `rotated_at` and issues a new row in the
    same `family_id`. Presenting a rotated refresh token again (outside the short grace for
    a lost response) revokes the whole family. Access tokens are self-contained JWTs; this
    row is what introspection and revocation consult.
    """

    __tablename__ = "oauth_issued_tokens"
    __table_args__ = (Index("ix_oauth_issued_tokens_family_id", "family_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(48), index=True)
    customer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="SET NULL"), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_authorization_codes.id", ondelete="SET NULL"), index=True)
    grant_type: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[list] = mapped_column(JSON, default=list)
    access_token_jti: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Token exchange: the token this one was exchanged from, and the acting party.
    exchanged_from_jti: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[dict | None] = mapped_column(JSON)
    auth_time: Mapped[datetime | None]
    amr: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    # The refresh family's absolute end: rotation never carries a family past it.
    family_expires_at: Mapped[datetime | None]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    customer: Mapped[Customer | None] = relationship()


class SigningKey(Base):
    """A key that signs tokens. The private part is encrypted at rest.

    Life: `next` (published in the JWKS, not yet signing) -> `active` (the one key of its
    algorithm that signs) -> `retired` (published until `publish_until`, when every token it
    signed has expired) -> removed from the JWKS.
    """

    __tablename__ = "oauth_signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    # Stays in the JWKS until then: the longest token lifetime after retirement.
    publish_until: Mapped[datetime | None]


class RegistryVersion(Base):
    """The one row whose random version changes with every change to a client or a signing
    key (app/oidc/registry_version.py): what each worker's caches of them check."""

    __tablename__ = "oauth_registry_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(32))


class Consent(Base):
    """A customer's decision to let a client have some scopes. Revoking it also revokes
    every token the client holds for the customer."""

    __tablename__ = "oauth_consents"
    __table_args__ = (UniqueConstraint("customer_pk", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(48))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
