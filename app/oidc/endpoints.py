"""OpenID Connect endpoints: discovery, keys, authorization, token, userinfo.

The authorization endpoint first checks that the request is well formed and the redirect
URI registered (else an error page, never a redirect: it tells the customer in plain words
that the app sent a wrong link and what to do, while the developer's detail goes to the
log only). Then app/oidc/authorize_decisions.py
decides, from the request's prompt/max_age/acr_values/id_token_hint, the login session
and the stored consent: to the login page (or login_required for prompt=none), to the
consent page (or consent_required), or a code goes back to the client with `state` and
`iss`.
"""
from __future__ import annotations

import time
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import (Blueprint, current_app, g, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app.auth.flow import mask_phone
from app.auth.levels import (ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_PHONE_UNCHECKED,
                             ACR_SINGLE_FACTOR, AMR_HARDWARE_KEY, AMR_MFA, AMR_OTP, AMR_PASSWORD,
                             AMR_SMS, AMR_SOFTWARE_KEY, AMR_USER_PRESENCE_VERIFIED)
from app.auth.recovery_links import mask_email
from app.directory.customers import display_name
from app.extensions import authorization, csrf, db, limiter
from app.oidc import audiences, claims, keys, tokens
from app.oidc.authorize_decisions import (AskConsent, AuthorizeParams, IdTokenHint, Login, Refuse,
                                          SessionFacts, decide)
from app.oidc.bearer import InvalidToken, validate_access_token
from app.oidc.clients import display_origin, get_client
from app.oidc.connected_apps import consented_scopes, record_consent
from app.oidc.forms import ConsentForm
from app.oidc.issuer import issuer
from app.oidc.logout import verify_id_token_hint
from app.platform.audit import Origin
from app.platform.i18n import offered_locales
from app.platform.read_only import reads_only

bp = Blueprint("oidc", __name__)

#: Parameters whose presence means "log in again" once satisfied by a fresh login.
_REAUTH_PARAMS = ("max_age", "id_token_hint")
#: What a customer reads when an app's sign-in link cannot be used. The reason (for the
#: app's developers) goes to the log and never onto the page.
BAD_LINK_TITLE = _l("This sign-in link is not working")
BAD_LINK_MESSAGE = _l("The app that sent you here used a sign-in link we cannot accept, so "
                      "we cannot log you in to it from this page. Nothing has changed on "
                      "your account.")
CONSENT_EXPIRED_TITLE = _l("This page has expired")
CONSENT_EXPIRED_MESSAGE = _l("Nothing was shared with the app. Go back to the app and log in "
                             "again to continue.")
BAD_LINK_NEXT_STEP = _l("Go back to the app and try to log in again. If this keeps "
                        "happening, contact the app's support and tell them its sign-in "
                        "link is not working.")


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
@limiter.exempt
@reads_only
def discovery():
    """OpenID Provider / RFC 8414 metadata, with our exact issuer."""
    base = issuer()
    return jsonify({
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks.json",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "end_session_endpoint": f"{base}/end-session",
        "scopes_supported": list(claims.SCOPES_SUPPORTED),
        "claims_supported": list(claims.CLAIMS_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  "urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(keys.SIGNING_ALGORITHMS),
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login", "consent"],
        # The unchecked level is listed because ID tokens can carry it (an SMS code alone
        # while the phone lookup could not answer); no app can ask for it.
        "acr_values_supported": [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT,
                                 ACR_PHONE_UNCHECKED],
        # RFC 8176 values the ID token's amr may hold ("hwk"/"swk": a passkey bound to one
        # device / synced; "user": the authenticator verified the person).
        "amr_values_supported": [AMR_PASSWORD, AMR_SMS, AMR_OTP, AMR_HARDWARE_KEY,
                                 AMR_SOFTWARE_KEY, AMR_USER_PRESENCE_VERIFIED, AMR_MFA],
        "ui_locales_supported": offered_locales(),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    })


@bp.get("/jwks.json")
@limiter.exempt
@reads_only
def jwks():
    """The public signing keys: next, active, and retired ones still in use."""
    response = jsonify(keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # relying parties POST authorization requests; nothing here changes state
def authorize():
    """The authorization endpoint (code flow only)."""
    if not request.values.get("redirect_uri"):
        return _error_page("The request has no redirect_uri. Every authorization request "
                           "must name one of the client's registered redirect URIs.")
    if request.values.get("response_type") != "code":
        # Answered here, not by Authlib: it echoes the value in its error description
        # (and fails with a 500 on characters RFC 6749 forbids there), and it calls a
        # missing response_type "unsupported" instead of invalid_request.
        redirect_uri = registered_redirect_uri()
        if redirect_uri is None:
            return _error_page("The request names no client with this redirect URI.")
        if not request.values.get("response_type"):
            return redirect_error(redirect_uri, "invalid_request", "response_type is missing.")
        return redirect_error(redirect_uri, "unsupported_response_type",
                              "Only response_type=code is supported.")
    login_session = g.login_session
    try:
        grant = authorization.get_consent_grant(end_user=login_session)
    except OAuth2Error as error:
        return _error_response(error)
    client = grant.client.model
    redirect_uri = grant.redirect_uri

    if request.values.get("request"):
        return redirect_error(redirect_uri, "request_not_supported",
                              "Request objects are not supported.")
    if request.values.get("request_uri"):
        return redirect_error(redirect_uri, "request_uri_not_supported",
                              "request_uri is not supported.")
    # Scopes the client may not have are dropped (as in save_authorization_code).
    scopes = grant.client.get_allowed_scope(grant.request.payload.scope).split()
    decision = decide(
        _authorize_params(client, login_session), _session_facts(client, login_session),
        now=time.time(), first_party=client.is_first_party, scopes=scopes,
        consented_scopes=(consented_scopes(login_session.customer_pk, client.client_id)
                          if login_session is not None and not client.is_first_party
                          else None))
    if isinstance(decision, Refuse):
        return redirect_error(redirect_uri, decision.error, decision.description)
    if isinstance(decision, Login):
        return redirect(url_for("login.login", next=_without_reauth_params(),
                                login_hint=request.values.get("login_hint") or None,
                                acr="phr" if decision.phishing_resistant
                                else "2fa" if decision.multi_factor else None), 303)
    if isinstance(decision, AskConsent):
        allow_client_logo(client)
        return render_template("oidc/consent.html", client=client, scopes=scopes,
                               form=ConsentForm(request_query=_query_without("prompt")),
                               signed_in_as=signed_in_as(login_session.customer),
                               this_request=f"{url_for('oidc.authorize')}?{_query_without()}")
    response = authorization.create_authorization_response(grant=grant, grant_user=login_session)
    db.session.commit()  # the code (save_authorization_code), before the client can use it
    return response


def allow_client_logo(client) -> None:
    """Let this response's page show the client's logo: its origin joins img-src in this
    response's Content-Security-Policy only (app/web/__init__.py add_security_headers)."""
    origin = display_origin(client.logo_uri) if client is not None else None
    if origin:
        g.csp_img_origins = [origin]


def signed_in_as(customer) -> str:
    """Who the consent page says is logged in: the name, else a masked email or phone
    (never the whole identifier: someone else may be looking at the screen)."""
    name = display_name(customer)
    if name:
        return name
    identifiers = sorted(customer.identifiers, key=lambda i: (i.verified_at is None, i.id))
    for identifier in identifiers:
        if identifier.kind == "email":
            return mask_email(identifier.value)
        if identifier.kind == "phone":
            return mask_phone(identifier.value)
    return _("your account")


def _authorize_params(client, login_session) -> AuthorizeParams:
    """The request's prompt, max_age, acr_values and id_token_hint, as decide() reads
    them. The hint is verified only when there is a session to compare it with."""
    hint = request.values.get("id_token_hint")
    return AuthorizeParams(
        prompts=frozenset((request.values.get("prompt") or "").split()),
        max_age=request.values.get("max_age"), acr_values=request.values.get("acr_values"),
        id_token_hint=(_hinted_subject(client, hint)
                       if hint and login_session is not None else None))


def _session_facts(client, login_session) -> SessionFacts | None:
    """The login session's facts for decide(), None without a session."""
    if login_session is None:
        return None
    return SessionFacts(auth_time=login_session.auth_time.timestamp(), acr=login_session.acr,
                        subject=tokens.subject_for(client, login_session.customer))


def _hinted_subject(client, hint: str) -> IdTokenHint:
    """The `sub` of an id_token_hint, if it is an ID token of ours issued to this client
    (expired ones included, OpenID Core 3.1.2.1); else why not. An access token is
    refused even though it is signed by the same keys: its `typ` is at+jwt."""
    try:
        hinted = verify_id_token_hint(hint)
    except InvalidToken:
        return IdTokenHint(error="id_token_hint is not an ID token issued here.")
    audience = hinted.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client.client_id not in audiences:
        return IdTokenHint(error="id_token_hint was not issued to this client.")
    return IdTokenHint(subject=hinted.get("sub"))


@bp.post("/authorize/consent")
def consent():
    """The customer's answer on the consent page (CSRF-protected)."""
    form = ConsentForm()
    if not form.validate_on_submit() or g.login_session is None:
        return render_template("web/error.html", status=400, title=str(CONSENT_EXPIRED_TITLE),
                               message=str(CONSENT_EXPIRED_MESSAGE)), 400
    query = form.request_query.data
    try:
        grant = _stored_grant(query)
    except OAuth2Error as error:
        return _error_response(error)
    if form.deny.data:
        return redirect_error(grant.redirect_uri, "access_denied", "The customer declined.",
                              grant.request.payload.state)
    client_id = grant.client.model.client_id
    scopes = sorted(set(grant.client.get_allowed_scope(grant.request.payload.scope).split()))
    record_consent(g.login_session.customer, client_id, scopes,
                   Origin(actor="customer", ip=request.remote_addr))
    db.session.commit()
    return redirect(f"{url_for('oidc.authorize')}?{query}", 303)


def _stored_grant(query: str):
    """Validate the stored authorization request again and return its grant.

    Fix: Authlib's Flask server ignores a `request` passed to get_consent_grant and
    validates the current one (the consent POST, which has no response_type), so every
    consent answer failed with unsupported_response_type. Build the OAuth2Request here.
    """
    oauth_request = FlaskOAuth2Request(_stored_request(query))
    oauth_request.user = None
    grant = authorization.get_authorization_grant(oauth_request)
    grant.validate_no_multiple_request_parameter(oauth_request)
    grant.validate_consent_request()
    return grant


def _stored_request(query: str) -> Request:
    """The authorization request the consent page was shown for, to validate it again."""
    return Request(EnvironBuilder(path=url_for("oidc.authorize"), query_string=query,
                                  base_url=issuer()).get_environ())


@bp.post("/token")
@csrf.exempt
def token():
    """The token endpoint; Authlib dispatches on grant_type."""
    if not request.form.get("grant_type"):
        # A missing parameter is invalid_request (RFC 6749 5.2); Authlib would answer
        # unsupported_grant_type.
        return authorization.handle_error_response(
            None, InvalidRequestError("grant_type is missing."))
    response = authorization.create_token_response()
    if response.status_code == 200:
        # Committed only now that the whole answer is built (Authlib signs the ID token
        # after save_token): a database failure before this spends nothing and the client
        # may retry; after it nothing reads the database, so a committed grant is answered.
        db.session.commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
@reads_only
def userinfo():
    """Claims about the customer, per the token's scope (RFC 6750 bearer usage)."""
    access_token = _bearer_token()
    if access_token is None:
        return _bearer_error(None, 401)
    try:
        valid = validate_access_token(access_token, audience=audiences.userinfo_audience())
    except InvalidToken:
        return _bearer_error("invalid_token", 401, "The access token is not valid.")
    grant = valid.grant
    if grant.customer is None or "openid" not in grant.scope.split():
        return _bearer_error("insufficient_scope", 403, "The token lacks the openid scope.")
    client = get_client(grant.client_id)
    response = jsonify(claims.userinfo_claims(client, grant.customer, grant.scope))
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    from_body = request.form.get("access_token") if request.method == "POST" else None
    if header[:7].lower() == "bearer ":
        return None if from_body else header[7:].strip()
    if request.args.get("access_token"):
        return None  # RFC 6750 2.3 (query) is not supported: tokens leak through logs
    return from_body


def _bearer_error(error: str | None, status: int, description: str | None = None):
    value = 'Bearer realm="tessera"'
    body = {}
    if error:
        value += f', error="{error}"'
        body["error"] = error
        if description:
            value += f', error_description="{description}"'
            body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _query_without(*names: str) -> str:
    pairs = [(k, v) for k, v in request.values.items(multi=True) if k not in names]
    return urlencode(pairs)


def _without_reauth_params() -> str:
    """The authorize URL to come back to after a fresh login: prompt=login, max_age and
    id_token_hint are satisfied by that login, so they are dropped (else a loop)."""
    pairs = []
    for key, value in request.values.items(multi=True):
        if key in _REAUTH_PARAMS:
            continue
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        pairs.append((key, value))
    return f"{url_for('oidc.authorize')}?{urlencode(pairs)}"


def clean_description(text: str) -> str:
    """RFC 6749 4.1.2.1/5.2: error_description is %x20-21 / %x23-5B / %x5D-7E only.
    Authlib puts request values (response_type, grant_type) into some descriptions, so
    anything else a client sent is replaced rather than echoed."""
    return "".join(ch if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\' else "?"
                   for ch in text)[:300]


def redirect_error(redirect_uri: str, error: str, description: str,
                   state: str | None = None):
    """An RFC 6749 4.1.2.1 error response at the client's (already validated) redirect
    URI, with the request's `state` and our `iss` (RFC 9207)."""
    params = [("error", error), ("error_description", clean_description(description))]
    state = state or request.values.get("state")
    if state:
        params.append(("state", state))
    params.append(("iss", issuer()))
    return redirect(add_params_to_uri(redirect_uri, params), 302)


def _error_response(error: OAuth2Error):
    """Redirect the error to the client if its redirect URI was validated, else a page."""
    description = error.get_error_description() or error.error
    # Authlib raises some errors (a repeated parameter) without the redirect URI although
    # client and redirect URI are fine: those go back to the client too (RFC 6749 4.1.2.1).
    redirect_uri = error.redirect_uri or registered_redirect_uri()
    if redirect_uri:
        return redirect_error(redirect_uri, error.error, description, error.state)
    return _error_page(description)


def registered_redirect_uri() -> str | None:
    """This request's redirect_uri if client_id and redirect_uri each appear once and the
    URI is registered for that client; else None (never redirect on doubt)."""
    if request.endpoint != "oidc.authorize":
        return None
    client_ids = request.values.getlist("client_id")
    uris = request.values.getlist("redirect_uri")
    if len(client_ids) != 1 or len(uris) != 1:
        return None
    from app.oidc.server import query_client
    client = query_client(client_ids[0])
    return uris[0] if client is not None and client.check_redirect_uri(uris[0]) else None


def _error_page(detail: str):
    """The page for an authorization request that cannot go back to its app: plain words
    for the customer, `detail` (for the app's developers) in the log only. The app is
    named, with a link to its home page, when the request names one registered client."""
    client_ids = request.values.getlist("client_id")
    current_app.logger.warning("authorization request refused without a redirect: %s "
                               "(client_id=%r)", detail, client_ids[:2])
    client = (get_client(client_ids[0]) if len(client_ids) == 1 and len(client_ids[0]) <= 48
              else None)
    return render_template("web/error.html", status=400, title=str(BAD_LINK_TITLE),
                           message=str(BAD_LINK_MESSAGE), next_step=str(BAD_LINK_NEXT_STEP),
                           app_client=client), 400
