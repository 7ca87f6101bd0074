"""Single sign-on logout: RP-initiated logout and back-channel logout.

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

Point 3 holds for every way a customer's sessions end on purpose, not only this one:
support's sign-outs (sign out everywhere, lock, password and MFA resets, a recovery
link), the customer's own password recovery, a merge and an erasure all end sessions
through app/auth/sessions.py, which queues each ended session with the clients that had
it; `send_committed_logouts` sends the queue when the request (or CLI command) is over,
only for ends that committed.

RP-initiated logout (OpenID RP-Initiated Logout 1.0): `id_token_hint` must be an ID
token we signed (expired ones are fine: the RP may well hold an old one), the
post_logout_redirect_uri must match one registered by that client exactly, and a
request that cannot prove it comes from the logged-in customer's own app (no hint, or
a hint for someone else) gets a confirmation page instead of a forced logout.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from flask import (Blueprint, current_app, g, redirect, render_template, request, session)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import Length

from app.auth.sessions import (COOKIE_NAME, EndedSession, end_session, open_sessions,
                               take_committed_ends)
from app.extensions import csrf, db
from app.models import Customer, IssuedToken, LoginSession, OAuthClient
from app.oidc import keys, tokens
from app.oidc.bearer import InvalidToken, verify_signature
from app.oidc.clients import get_client
from app.oidc.issuer import issuer
from app.platform.audit import Origin, record_event

bp = Blueprint("oidc_logout", __name__)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS = 120
BACKCHANNEL_TIMEOUT_SECONDS = 3
OFFLINE_ACCESS = "offline_access"
#: The `typ` of our ID tokens (keys.sign's default). Access tokens (at+jwt) and logout
#: tokens (logout+jwt) are signed with the same keys, so only this tells them apart.
ID_TOKEN_TYPE = "JWT"


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
    submit = SubmitField(_l("Log out"))


# ---- services ----------------------------------------------------------------------------

def verify_id_token_hint(hint: str) -> dict:
    """The claims of an `id_token_hint` if it is an ID token this issuer signed, else
    InvalidToken. Shared by /authorize and /end-session.

    Checked: the signature (one of our ID-token algorithms, never none or HS*), `typ`
    (an access or logout token is signed by the same keys but is not an ID token) and
    `iss`. Not `exp`: OpenID Core 3.1.2.1 lets a relying party send an expired ID token as
    a hint, and joserfc's jwt.decode validates no claims. The audience is the caller's
    check, as each endpoint has its own rule.
    """
    decoded = verify_signature(hint, tuple(keys.SIGNING_ALGORITHMS))
    if decoded["header"].get("typ") != ID_TOKEN_TYPE:
        raise InvalidToken("not an ID token (typ)")
    if decoded["claims"].get("iss") != issuer():
        raise InvalidToken("not issued here (iss)")
    return decoded["claims"]


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
            hinted = verify_id_token_hint(id_token_hint)
        except InvalidToken:
            raise LogoutRequestError(
                _("The id_token_hint is not an ID token issued here.")) from None
        audience = hinted.get("aud")
        hinted_client_id = hinted.get("azp") or (
            audience[0] if isinstance(audience, list) and len(audience) == 1 else audience)
        client = get_client(hinted_client_id) if isinstance(hinted_client_id, str) else None
        if client is None:
            raise LogoutRequestError(_("The id_token_hint names no client registered here."))
        if client_id and client_id != client.client_id:
            raise LogoutRequestError(_("client_id does not match the id_token_hint."))
        hinted_sub = hinted.get("sub") if isinstance(hinted.get("sub"), str) else None
    elif client_id:
        client = get_client(client_id) if len(client_id) <= 48 else None
        if client is None:
            raise LogoutRequestError(_("client_id names no client registered here."))
    if post_logout_redirect_uri:
        if client is None:
            raise LogoutRequestError(_("A post_logout_redirect_uri needs an id_token_hint or "
                                       "a client_id naming the app it belongs to."))
        # Exact string match, as for redirect URIs: no prefix, no normalisation.
        if post_logout_redirect_uri not in (client.post_logout_redirect_uris or []):
            raise LogoutRequestError(_("The post_logout_redirect_uri is not registered for "
                                       "this app."))
    return LogoutRequest(client, hinted_sub, post_logout_redirect_uri or None, state or None)


def end_sso_session(login_session: LoginSession, origin: Origin) -> None:
    """End the SSO session: the session itself, the session's tokens (offline_access
    families excepted, see the module docstring), and a back-channel logout token to
    every client with tokens in it that asked for one, once the caller has committed."""
    rows = db.session.execute(db.select(IssuedToken.family_id, IssuedToken.scope)
                              .where(IssuedToken.login_session_id == login_session.id)).all()
    offline = {row.family_id for row in rows if OFFLINE_ACCESS in row.scope.split()}
    families = {row.family_id for row in rows} - offline
    revoked = sum(tokens.revoke_family(family) for family in sorted(families))
    if revoked:
        record_event("logout.tokens_revoked", origin, login_session.customer.customer_id,
                     tokens=revoked, kept_offline_families=len(offline))
    # Audits "logout" and queues the back-channel logout that send_committed_logouts
    # sends when the request is over, if the end committed.
    end_session(login_session, origin)


def end_other_sso_sessions(login_session: LoginSession, origin: Origin) -> int:
    """End every open session of the customer but `login_session` as logout does (its
    tokens revoked, its apps told by back-channel after the commit), audit it once; how
    many. The caller commits."""
    customer = login_session.customer
    others = [s for s in open_sessions(customer) if s.id != login_session.id]
    for other in others:
        end_sso_session(other, origin)
    if others:
        record_event("sessions.signed_out_others", origin, customer.customer_id,
                           sessions=len(others))
    return len(others)


def send_committed_logouts(_error: BaseException | None = None) -> None:
    """Tell the apps about every login session whose end has committed: a logout token to
    each client that had the session and registered a back-channel URI.

    Runs when each request and each app context (a CLI command) ends, so whoever ended
    the sessions (/end-session, support's sign-outs, a recovery, a merge, an erasure)
    needs no call of their own, and nothing is sent from inside a transaction or for one
    that rolled back (app/auth/sessions.py keeps the queue). A teardown must not raise:
    the sign-out has happened whatever the apps say, so an unexpected error is logged.
    It rolls back what the request left uncommitted (never to be committed with a
    failure's audit) and commits those audits itself: no view or command is left to.
    """
    ends = take_committed_ends()
    if not ends:
        return
    # Anything the request left uncommitted must not be committed with a failure's audit.
    db.session.rollback()
    unreachable: set[str] = set()
    for ended in ends:
        try:
            notify_backchannel(ended, unreachable)
        except Exception:  # a teardown must not raise (see the docstring)
            db.session.rollback()
            current_app.logger.exception("back-channel logout of session %d failed",
                                         ended.session_id)


def notify_backchannel(ended: EndedSession, unreachable: set[str]) -> None:
    """POST a logout token (with `sub` and `sid`) for this ended session to each of its
    clients that registered a back-channel URI.

    Best effort by design: an unreachable or failing client is logged and audited, and the
    logout it was told about has happened regardless. A client that failed once goes into
    `unreachable` and is skipped for the other sessions of the same sign-out, so signing
    out a customer with many sessions costs at most one timeout per client. Each failure's
    audit event is committed at once: this runs after the request (a teardown), when no
    caller is left to commit it.
    """
    customer = db.session.get(Customer, ended.customer_pk)
    for client_id in ended.client_ids:
        client = None if client_id in unreachable else get_client(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        failure = _post_logout_token(client.backchannel_logout_uri,
                                     make_logout_token(client, customer, ended.session_id))
        if failure is None:
            continue
        unreachable.add(client_id)
        current_app.logger.warning("back-channel logout to %s failed: %s", client_id, failure)
        record_event("logout.backchannel_failed", ended.origin, customer.customer_id,
                     client_id=client_id, reason=failure)
        db.session.commit()


def _post_logout_token(uri: str, logout_token: str) -> str | None:
    """POST one logout token; None if the client took it (2xx), else why not."""
    import requests  # the HTTP client is only needed here

    try:
        response = requests.post(uri, data={"logout_token": logout_token},
                                 timeout=BACKCHANNEL_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as error:
        return type(error).__name__
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def make_logout_token(client: OAuthClient, customer: Customer, login_session_id: int) -> str:
    """A Back-Channel Logout 1.0 logout token: typed logout+jwt, never with a nonce, signed
    like the client's ID tokens so it verifies the same way."""
    now = int(time.time())
    claims = {
        "iss": issuer(), "aud": client.client_id, "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS, "jti": secrets.token_urlsafe(24),
        "sub": tokens.subject_for(client, customer),
        "sid": tokens.session_sid(login_session_id),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    alg = client.id_token_signed_response_alg or keys.DEFAULT_ID_TOKEN_ALG
    return keys.sign(claims, alg, typ="logout+jwt")


# ---- views -------------------------------------------------------------------------------

@bp.record_once
def _send_logouts_after_each_request(state) -> None:
    """Register send_committed_logouts after Flask-SQLAlchemy's own teardown, so it runs
    first (teardowns run in reverse order) while the database session is still there.
    Both hooks: a request inside an app context already pushed (tests) ends no context."""
    state.app.teardown_request(send_committed_logouts)
    state.app.teardown_appcontext(send_committed_logouts)


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
        db.session.commit()
        return _finish(logout)
    form = EndSessionForm(formdata=None, client_id=logout.client.client_id if logout.client else "",
                          post_logout_redirect_uri=logout.post_logout_redirect_uri or "",
                          state=logout.state or "")
    return render_template("oidc/end_session.html", confirm=True, form=form,
                           client=logout.client)


def _confirmed_logout():
    form = EndSessionForm()
    if not form.validate_on_submit():
        return _error_page(_("This logout form has expired. Go back, reload the page and "
                             "try again."))
    try:
        logout = parse_logout_request(None, form.client_id.data or None,
                                      form.post_logout_redirect_uri.data or None,
                                      form.state.data or None)
    except LogoutRequestError as error:
        return _error_page(str(error))
    if g.login_session is not None:
        end_sso_session(g.login_session, _browser_origin())
        db.session.commit()
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
    return render_template("web/error.html", status=400,
                           title=_("This logout link is not valid"), message=message), 400
