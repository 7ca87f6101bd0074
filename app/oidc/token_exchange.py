"""Token exchange (RFC 8693), which Authlib does not provide.

A relying service that was called with one of our access tokens (the *subject token*)
presents it at the token endpoint and gets a new access token for another audience, with
the same or fewer scopes, to call the next service on the caller's behalf. Optionally it
also presents an *actor token* (an access token of the party doing the acting).

Policy, stated plainly:
- only confidential clients that registered the grant type may exchange, and only for the
  audiences listed in their `token_exchange_audiences` (else `invalid_target`);
- subject and actor tokens must be access tokens issued here and live by
  app/oidc/bearer.py; a bad one is `invalid_request`, as RFC 8693 2.2.2 requires;
- an actor token must have been issued to the exchanging client itself: the `act` claim
  tells resource servers who is acting, so a client must not name as actor a party whose
  token it merely holds (one it was called with, say). Any other actor token is
  `invalid_request` and the refusal is audited (`token.exchange_actor_refused`);
- a subject token with no customer (client_credentials) may be exchanged only by the
  client it was issued to (narrowing its own audience): tokens.issue makes a customerless
  token's `sub` the exchanging client, which for anyone else would misname the subject;
- the new token has exactly one audience, the scopes asked for (within both the subject
  token's scope and the client's registered scope, else `invalid_scope`; by default all
  the scopes they share), no refresh token, and an `act` claim naming the acting party,
  with any earlier `act` of the subject token nested inside (RFC 8693 4.1), so a
  resource server can see the whole delegation chain;
- the subject token stays valid (the service keeps serving its own caller); but a token
  minted by exchange is only as alive as its ancestors: once any token up its
  `exchanged_from_jti` chain is revoked, `tokens.is_exchange_chain_live` says no. Chains are
  at most MAX_EXCHANGE_DEPTH exchanges long.

Limits: the exchanged token lives the normal access-token lifetime, which can outlast the
subject token's expiry (revocation, not expiry, propagates down the chain); and it does
not yet carry the subject's auth_time/amr/acr (tokens.issue takes those only from a code or
a refreshed parent, and making the subject the parent would join its refresh family).
"""
from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (InvalidRequestError, InvalidScopeError,
                                           UnauthorizedClientError)
from flask import current_app, request as http_request

from app.extensions import db
from app.oidc import bearer, scopes, tokens
from app.oidc.audiences import InvalidTargetError
from app.oidc.clients import GRANT_TOKEN_EXCHANGE
from app.oidc.tokens import MAX_EXCHANGE_DEPTH, exchange_depth
from app.platform.audit import Origin, record_event


ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def actor_claim(client_id: str, subject_claims: dict, actor_claims: dict | None) -> dict:
    """The `act` claim of an exchanged token (RFC 8693 4.1).

    The current actor is the actor token's subject if one was given, else the exchanging
    client; an `act` already in the subject token (an earlier delegation) nests inside.
    """
    if actor_claims is not None:
        act = {"sub": actor_claims["sub"], "client_id": actor_claims.get("client_id")}
    else:
        act = {"sub": client_id}
    if isinstance(subject_claims.get("act"), dict):
        act["act"] = subject_claims["act"]
    return act


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """grant_type=urn:ietf:params:oauth:grant-type:token-exchange (confidential clients)."""

    GRANT_TYPE = GRANT_TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post",
                                   "private_key_jwt"]

    def validate_token_request(self):
        """Authenticate the client, then check every parameter against its policy; the
        results are kept on the grant for create_token_response."""
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                f"The client is not authorized to use grant_type={self.GRANT_TYPE}.")
        self.request.client = client
        data = self.request.payload.data

        requested_type = data.get("requested_token_type")
        if requested_type and requested_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"requested_token_type must be {ACCESS_TOKEN_TYPE}.")
        subject = _presented_token(data, "subject_token", required=True)
        actor = _presented_token(data, "actor_token", required=False)
        if actor is not None and actor.grant.client_id != client.client_id:
            _refuse_foreign_actor(client.client_id, actor)
        if subject.grant.customer is None and subject.grant.client_id != client.client_id:
            # tokens.issue would make the exchanging client the `sub`, misnaming the subject.
            raise InvalidRequestError("A client may exchange another client's token only "
                                      "if it is a customer's token.")
        audience = self._validate_audience(client.model)
        scope = _validate_scope(self.request.payload.scope, subject.grant.scope,
                                " ".join(scopes.grantable(client.model)))
        self.validate_requested_scope()

        self.subject, self.actor, self.audience, self.scope = subject, actor, audience, scope

    def _validate_audience(self, client_model) -> str:
        """The one target asked for (`audience` or `resource`), if this client may have it."""
        datalist = self.request.payload.datalist
        targets = list(dict.fromkeys(
            value for name in ("audience", "resource") for value in datalist.get(name, [])
            if value))
        if not targets:
            raise InvalidRequestError("Name the target service in audience (or resource).")
        if len(targets) > 1:
            raise InvalidTargetError("Ask for one audience per token exchange.")
        if targets[0] not in (client_model.token_exchange_audiences or []):
            raise InvalidTargetError("This client may not exchange tokens for that audience.")
        return targets[0]

    def create_token_response(self):
        """Mint the exchanged token and audit it; the token endpoint commits the answer
        (Cache-Control: no-store comes with Authlib's TOKEN_RESPONSE_HEADER)."""
        client = self.request.client.model
        subject, actor = self.subject, self.actor
        act = actor_claim(client.client_id, subject.claims,
                          actor.claims if actor is not None else None)
        customer = subject.grant.customer
        token = tokens.issue(
            client, self.GRANT_TYPE, self.scope, customer=customer,
            include_refresh_token=False, audience=[self.audience], actor=act,
            exchanged_from_jti=subject.grant.access_token_jti)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        record_event(
            "token.exchanged",
            Origin(actor=f"client:{client.client_id}", ip=http_request.remote_addr,
                   user_agent=http_request.user_agent.string),
            customer.customer_id if customer is not None else None,
            client_id=client.client_id, audience=self.audience,
            scope=self.scope, subject_jti=subject.grant.access_token_jti,
            subject_client_id=subject.grant.client_id, act=act)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _presented_token(data, name: str, *, required: bool) -> bearer.ValidToken | None:
    """Validate `subject_token` or `actor_token` and its `*_token_type`.

    RFC 8693 2.2.2: a token that is invalid for any reason, or unacceptable by policy, is
    `invalid_request`. Why it failed goes to the log, never to the client.
    """
    value = data.get(name)
    token_type = data.get(f"{name}_type")
    if not value:
        if required:
            raise InvalidRequestError(f"{name} is required.")
        if token_type:
            raise InvalidRequestError(f"{name}_type was sent without {name}.")
        return None
    if token_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"{name}_type must be {ACCESS_TOKEN_TYPE}.")
    try:
        valid = bearer.validate_access_token(value)
    except bearer.InvalidToken as error:
        current_app.logger.info("token exchange: %s refused: %s", name, error)
        raise InvalidRequestError(f"The {name} is not valid.") from None
    depth = exchange_depth(valid.grant)
    if depth is None or (name == "subject_token" and depth >= MAX_EXCHANGE_DEPTH):
        current_app.logger.info("token exchange: %s refused: exchange chain", name)
        raise InvalidRequestError(f"The {name} is not valid.")
    return valid


def _refuse_foreign_actor(client_id: str, actor: bearer.ValidToken) -> None:
    """Audit and refuse an actor token issued to a client other than the exchanging one.

    The audit event is committed before the error is raised, so the attempt stays on
    record whatever becomes of the rest of the request.
    """
    customer = actor.grant.customer
    record_event(
        "token.exchange_actor_refused",
        Origin(actor=f"client:{client_id}", ip=http_request.remote_addr,
               user_agent=http_request.user_agent.string),
        customer.customer_id if customer is not None else None,
        client_id=client_id, actor_client_id=actor.grant.client_id,
        actor_jti=actor.grant.access_token_jti)
    db.session.commit()
    raise InvalidRequestError("The actor_token must be one issued to this client.")


def _validate_scope(requested: str | None, subject_scope: str, client_scope: str) -> str:
    """The scope of the new token: what was asked for, if both the subject token and the
    exchanging client's registration have all of it; by default everything they share."""
    allowed = set(client_scope.split())
    if not requested:
        return " ".join(s for s in subject_scope.split() if s in allowed)
    wanted = list(dict.fromkeys(requested.split()))
    if not set(wanted) <= set(subject_scope.split()) & allowed:
        raise InvalidScopeError("The scope must be within both the subject token's scope "
                                "and the scopes registered for this client.")
    return " ".join(wanted)


def register(server) -> None:
    """Register the token-exchange grant with the authorization server."""
    server.register_grant(TokenExchangeGrant)
