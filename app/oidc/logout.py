"""Single sign-on logout: RP-initiated logout, back-channel logout, and connected apps.

The login session from the hosted pages is the SSO session of every client. Ending it
(`end_sso_session`) does three things, whoever asks (the hosted /logout page or a relying
party at /end-session):
1. ends the login session on the server (app/auth/sessions.py), so the cookie is dead;
2. revokes the token families issued in that session, except `offline_access` ones:
   OpenID Back-Channel Logout 1.0 section 2.7 says refresh tokens issued with offline
   access "normally SHOULD NOT be revoked" (that is what the customer granted them for:
   access while they are not logged in). Every other family is revoked whole, so its
   access tokens also stop working at once at userinfo and introspection;
3. POSTs a signed logout token to every client that registered a backchannel_logout_uri
   and was issued tokens in the session. That happens after the commit, with a 3 s
   timeout per client; a failure is logged and audited and never stops the logout.

RP-initiated logout (OpenID RP-Initiated Logout 1.0): `id_token_hint` must be an ID
token we signed (expired ones are fine: the RP may well hold an old one), the
post_logout_redirect_uri must match one registered by that client exactly, and a
request that cannot prove it comes from the logged-in customer's own app (no hint, or
a hint for someone else) gets a confirmation page instead of a forced logout.

Connected apps (`connected_apps`, `revoke_app`) serve the account page: the clients a
customer consented to or holds live tokens for, and withdrawing one at once.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from authlib.common.urls import add_params_to_uri
from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)
from flask_wtf import FlaskForm
from sqlalchemy import or_, update
from wtforms import HiddenField, SubmitField
from wtforms.validators import Length

from app.audit import Origin, record_event
from app.auth.sessions import COOKIE_NAME, end_session
from app.extensions import csrf, db
from app.models import (AuthorizationCode, Consent, Customer, IssuedToken, LoginSession,
                        OAuthClient, utcnow)
from app.oidc import keys, tokens
from app.oidc.bearer import InvalidToken, verify_signature
from app.oidc.clients import get_client

bp = Blueprint("oidc_logout", __name__)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS = 120
BACKCHANNEL_TIMEOUT_SECONDS = 3
OFFLINE_ACCESS = "offline_access"
#: JWT types that are ours but not ID tokens: never accepted as id_token_hint.
_NOT_ID_TOKEN_TYPES = ("at+jwt", "logout+jwt")


class LogoutRequestError(ValueError):
    """An end-session request we must refuse; the message is fit to show the customer."""


@dataclass(frozen=True)
class LogoutRequest:
    """A validated end-session request."""

    client: OAuthClient | None
    hinted_sub: str | None
    post_logout_redirect_uri: str | None
    state: str | None


class EndSessionForm(FlaskForm):
    """The confirmation page: the CSRF token proves the customer clicked it here.

    The hidden fields are validated again on submit, never trusted as they come back.
    """

    client_id = HiddenField(validators=[Length(max=48)])
    post_logout_redirect_uri = HiddenField(validators=[Length(max=2000)])
    state = HiddenField(validators=[Length(max=2000)])
    submit = SubmitField("Log out")


# ---- services ----------------------------------------------------------------------------

def parse_logout_request(id_token_hint: str | None, client_id: str | None,
                         post_logout_redirect_uri: str | None,
                         state: str | None) -> LogoutRequest:
    """Validate an end-session request, or raise LogoutRequestError.

    Only the signature (with one of our ID-token algorithms, never none or HS*) and the
    issuer of the hint are checked, not `exp`: joserfc's jwt.decode validates no claims.
    """
    client = None
    hinted_sub = None
    if id_token_hint:
        try:
            decoded = verify_signature(id_token_hint, tuple(keys.SIGNING_ALGORITHMS))
        except InvalidToken:
            raise LogoutRequestError("The id_token_hint is not an ID token issued here.") from None
        header, hinted = decoded["header"], decoded["claims"]
        if header.get("typ") in _NOT_ID_TOKEN_TYPES or hinted.get("iss") != tokens.issuer():
            raise LogoutRequestError("The id_token_hint is not an ID token issued here.")
        audience = hinted.get("aud")
        hinted_client_id = hinted.get("azp") or (
            audience[0] if isinstance(audience, list) and len(audience) == 1 else audience)
        client = get_client(hinted_client_id) if isinstance(hinted_client_id, str) else None
        if client is None:
            raise LogoutRequestError("The id_token_hint names no client registered here.")
        if client_id and client_id != client.client_id:
            raise LogoutRequestError("client_id does not match the id_token_hint.")
        hinted_sub = hinted.get("sub") if isinstance(hinted.get("sub"), str) else None
    elif client_id:
        client = get_client(client_id) if len(client_id) <= 48 else None
        if client is None:
            raise LogoutRequestError("client_id names no client registered here.")
    if post_logout_redirect_uri:
        if client is None:
            raise LogoutRequestError("A post_logout_redirect_uri needs an id_token_hint or a "
                                     "client_id naming the app it belongs to.")
        # Exact string match, as for redirect URIs: no prefix, no normalisation.
        if post_logout_redirect_uri not in (client.post_logout_redirect_uris or []):
            raise LogoutRequestError("The post_logout_redirect_uri is not registered for "
                                     "this app.")
    return LogoutRequest(client, hinted_sub, post_logout_redirect_uri or None, state or None)


def end_sso_session(login_session: LoginSession, origin: Origin) -> None:
    """End the SSO session: the session itself, the session's tokens (offline_access
    families excepted, see the module docstring), and a back-channel logout token to
    every client with tokens in it that asked for one. Commits."""
    rows = db.session.execute(db.select(IssuedToken.family_id, IssuedToken.client_id,
                                        IssuedToken.scope)
                              .where(IssuedToken.login_session_id == login_session.id)).all()
    offline = {row.family_id for row in rows if OFFLINE_ACCESS in row.scope.split()}
    families = {row.family_id for row in rows} - offline
    client_ids = sorted({row.client_id for row in rows})
    revoked = sum(tokens.revoke_family(family) for family in sorted(families))
    if revoked:
        record_event("logout.tokens_revoked", origin, login_session.customer.customer_id,
                     tokens=revoked, kept_offline_families=len(offline))
    end_session(login_session, origin)  # audits "logout" and commits with the revocation
    notify_backchannel(login_session, client_ids, origin)


def notify_backchannel(login_session: LoginSession, client_ids: list[str],
                       origin: Origin) -> None:
    """POST a logout token to each of these clients that registered a back-channel URI.

    Best effort by design: an unreachable or failing client is logged and audited, and the
    logout it was told about has happened regardless.
    """
    import requests  # the HTTP client is only needed here

    customer = login_session.customer
    for client_id in client_ids:
        client = get_client(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        logout_token = make_logout_token(client, customer, login_session.id)
        try:
            response = requests.post(client.backchannel_logout_uri,
                                     data={"logout_token": logout_token},
                                     timeout=BACKCHANNEL_TIMEOUT_SECONDS,
                                     allow_redirects=False)
            failure = None if 200 <= response.status_code < 300 else \
                f"HTTP {response.status_code}"
        except requests.RequestException as error:
            failure = type(error).__name__
        if failure is None:
            continue
        current_app.logger.warning("back-channel logout to %s failed: %s", client_id, failure)
        record_event("logout.backchannel_failed", origin, customer.customer_id,
                     client_id=client_id, reason=failure)
        db.session.commit()


def make_logout_token(client: OAuthClient, customer: Customer, login_session_id: int) -> str:
    """A Back-Channel Logout 1.0 logout token: typed logout+jwt, never with a nonce, signed
    like the client's ID tokens so it verifies the same way."""
    now = int(time.time())
    claims = {
        "iss": tokens.issuer(), "aud": client.client_id, "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS, "jti": secrets.token_urlsafe(24),
        "sub": tokens.subject_for(client, customer),
        "sid": tokens.session_sid(login_session_id),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    alg = client.id_token_signed_response_alg or keys.DEFAULT_ID_TOKEN_ALG
    return keys.sign(claims, alg, typ="logout+jwt")


@dataclass(frozen=True)
class ConnectedApp:
    """A client with access to a customer's account, as the account page shows it."""

    client_id: str
    name: str
    scopes: list[str]
    granted_at: datetime


def connected_apps(customer: Customer) -> list[ConnectedApp]:
    """Clients the customer has consented to or holds live tokens for, oldest first."""
    now = utcnow()
    found: dict[str, dict] = {}
    for consent in db.session.scalars(db.select(Consent).where(
            Consent.customer_pk == customer.id, Consent.revoked_at.is_(None))):
        found[consent.client_id] = {"scopes": set(consent.scopes),
                                    "granted_at": consent.granted_at}
    live = db.session.scalars(db.select(IssuedToken).where(
        IssuedToken.customer_pk == customer.id, IssuedToken.revoked_at.is_(None),
        or_(IssuedToken.access_expires_at > now,
            (IssuedToken.refresh_token_hash.is_not(None)) & IssuedToken.rotated_at.is_(None)
            & (IssuedToken.refresh_expires_at > now))))
    for grant in live:
        entry = found.setdefault(grant.client_id, {"scopes": set(),
                                                   "granted_at": grant.issued_at})
        entry["scopes"] |= set(grant.scope.split())
        entry["granted_at"] = min(entry["granted_at"], grant.issued_at)
    apps = []
    for client_id, entry in found.items():
        client = get_client(client_id)
        if client is not None:
            apps.append(ConnectedApp(client_id, client.name, sorted(entry["scopes"]),
                                     entry["granted_at"]))
    return sorted(apps, key=lambda app: (app.granted_at, app.name))


def revoke_app(customer: Customer, client_id: str, origin: Origin) -> bool:
    """Withdraw a client's access: its consent, every token it holds for the customer
    (access tokens fail bearer validation at once), and any code not yet redeemed (a
    later redemption counts as a replay and is refused). Commits; False if the client
    had nothing to withdraw."""
    now = utcnow()
    consent = db.session.execute(db.select(Consent).where(
        Consent.customer_pk == customer.id, Consent.client_id == client_id,
        Consent.revoked_at.is_(None))).scalar_one_or_none()
    if consent is not None:
        consent.revoked_at = now
    revoked = db.session.execute(update(IssuedToken).where(
        IssuedToken.customer_pk == customer.id, IssuedToken.client_id == client_id,
        IssuedToken.revoked_at.is_(None)).values(revoked_at=now)).rowcount
    db.session.execute(update(AuthorizationCode).where(
        AuthorizationCode.customer_pk == customer.id, AuthorizationCode.client_id == client_id,
        AuthorizationCode.used_at.is_(None)).values(used_at=now))
    if consent is None and not revoked:
        db.session.rollback()
        return False
    record_event("consent.revoked", origin, customer.customer_id, client_id=client_id,
                 tokens=revoked)
    db.session.commit()
    return True


# ---- views -------------------------------------------------------------------------------

def forget_login(response):
    """Drop the login cookie and the Flask session from the browser (after logout)."""
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Lax",
                           secure=current_app.config["SESSION_COOKIE_SECURE"])
    session.clear()
    return response


def _browser_origin() -> Origin:
    return Origin(actor="customer", ip=request.remote_addr,
                  user_agent=request.user_agent.string[:512] or None)


@bp.route("/end-session", methods=["GET", "POST"])
@csrf.exempt  # relying parties send the browser here by GET or a cross-site form POST;
# the confirmation form checks its own CSRF token (EndSessionForm)
def end_session_endpoint():
    """RP-initiated logout: log out at once if the hint proves it is the customer's own
    app asking, else ask first; then back to the app or a "logged out" page."""
    if request.method == "POST" and "csrf_token" in request.form:
        return _confirmed_logout()
    values = request.values
    try:
        logout = parse_logout_request(values.get("id_token_hint"), values.get("client_id"),
                                      values.get("post_logout_redirect_uri"),
                                      values.get("state"))
    except LogoutRequestError as error:
        return _error_page(str(error))
    login_session = g.login_session
    if login_session is None:
        return _finish(logout)
    if logout.hinted_sub is not None and \
            logout.hinted_sub == tokens.subject_for(logout.client, login_session.customer):
        end_sso_session(login_session, _browser_origin())
        return _finish(logout)
    form = EndSessionForm(formdata=None, client_id=logout.client.client_id if logout.client else "",
                          post_logout_redirect_uri=logout.post_logout_redirect_uri or "",
                          state=logout.state or "")
    return render_template("oidc/end_session.html", confirm=True, form=form,
                           client=logout.client)


def _confirmed_logout():
    form = EndSessionForm()
    if not form.validate_on_submit():
        return _error_page("This logout form has expired. Go back, reload the page and try "
                           "again.")
    try:
        logout = parse_logout_request(None, form.client_id.data or None,
                                      form.post_logout_redirect_uri.data or None,
                                      form.state.data or None)
    except LogoutRequestError as error:
        return _error_page(str(error))
    if g.login_session is not None:
        end_sso_session(g.login_session, _browser_origin())
    return _finish(logout)


def _finish(logout: LogoutRequest):
    """Back to the app's registered URI (with its state), or our own "logged out" page."""
    if logout.post_logout_redirect_uri:
        params = [("state", logout.state)] if logout.state else []
        response = redirect(add_params_to_uri(logout.post_logout_redirect_uri, params), 302)
    else:
        response = current_app.make_response(render_template(
            "oidc/end_session.html", confirm=False, client=logout.client))
    return forget_login(response)


def _error_page(message: str):
    return render_template("web/error.html", status=400, title="This logout link is not valid",
                           message=message), 400
