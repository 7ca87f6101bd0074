"""Required actions (as in Keycloak): what a customer must do right after logging in
before their session opens anything else. Support sets them (app/auth/support.py):

    update_password   /account/required/password   choose a new password here
    configure_totp    /account/required/totp       sent on to the authenticator app page
                                                   (factors.totp_enrol); confirming the
                                                   app clears the action

`enforce_required_actions` runs before every request, after
login_session.load_login_session (register_web adds that hook before it registers this
blueprint, and Flask runs app-wide hooks in registration order). When the browser's
login session belongs to a customer with a pending action, a hosted page (the blueprints
in GUARDED_BLUEPRINTS and the OIDC authorization endpoint and consent answer) answers 303
to the first action's page, with `next` = where they were going; so an app gets no
authorization code until the actions are done. An authorization request with prompt=none
gets `interaction_required` at the app's redirect URI instead.

Not redirected: logout, static files, health checks, the admin API, the token,
introspection, revocation and userinfo endpoints (they do not use the login session), the
required-action pages themselves (and the authenticator app page while configure_totp is
the first pending action), and the login and password-reset pages: the authenticator app
page asks for a recent login, so re-authentication must stay reachable. Logging in again
changes nothing: the actions belong to the customer, not to the session.

The totp page stores `next` in the Flask session (the enrolment page cannot carry it);
once nothing is pending, the next visit to the account page (where the enrolment page's
"back to my account" link goes) continues there. A new login clears the Flask session, so
a stale `next` never outlives the login that set it.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import support, totp
from app.auth.levels import ACR_MULTI_FACTOR, meets
from app.auth.login import set_password
from app.auth.passwords import PasswordRejected
from app.auth.sessions import end_all_sessions
from app.extensions import db
from app.oidc import endpoints
from app.platform.audit import record_event
from app.platform.notifications import notify_security_change
from app.web.forms import PASSWORD_FIELD_MAX, LogoutForm
from app.web.login_session import load_login_session, request_origin, safe_next, wanted_next
from app.web.reauth import fresh_login_required

bp = Blueprint("required_actions", __name__)

#: Blueprints of hosted pages a pending action stands in front of (not "login": logging in
#: and the self-service reset stay open).
GUARDED_BLUEPRINTS = frozenset({"web", "account", "factors", "passkeys", "identifiers",
                                "consents", "data_rights"})
#: OIDC endpoints that use the login session: no code before the actions are done.
GUARDED_ENDPOINTS = frozenset({"oidc.authorize", "oidc.consent"})
#: Pages of guarded blueprints that stay open (logging out).
OPEN_ENDPOINTS = frozenset({"web.logout"})
#: The page of each action.
ACTION_PAGES = {support.UPDATE_PASSWORD: "required_actions.update_password",
                support.CONFIGURE_TOTP: "required_actions.configure_totp"}
TOTP_ENROL = "factors.totp_enrol"
NEXT_KEY = "required_actions_next"


class NewPasswordForm(FlaskForm):
    """The new password (the customer has just logged in with the old one)."""

    password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a new password.")),
        Length(max=PASSWORD_FIELD_MAX, message=_l("Use at most 256 characters."))])
    submit = SubmitField(_l("Save and continue"))


@bp.before_app_request
def enforce_required_actions():
    """Send a customer with pending actions to the first one (see the module docstring)."""
    if "login_session" not in g:
        load_login_session()  # fail closed should the hooks ever run in another order
    login_session = g.login_session
    if login_session is None or not _guarded(request.endpoint):
        return None
    pending = support.pending_actions(login_session.customer)
    if not pending:
        return _resume_after_actions()
    if request.endpoint == TOTP_ENROL and pending[0] == support.CONFIGURE_TOTP:
        return None  # this is the action's page
    if request.endpoint == "oidc.authorize" and "none" in _prompts():
        refused = _interaction_required()
        if refused is not None:
            return refused
    return redirect(url_for(ACTION_PAGES[pending[0]], next=_where_they_were_going()), 303)


def _prompts() -> set[str]:
    return set((request.values.get("prompt") or "").split())


def _guarded(endpoint: str | None) -> bool:
    if endpoint is None or endpoint in OPEN_ENDPOINTS:
        return False
    return endpoint in GUARDED_ENDPOINTS or endpoint.partition(".")[0] in GUARDED_BLUEPRINTS


def _where_they_were_going() -> str | None:
    """The local URL to come back to: a GET page as asked; an authorization request
    (GET or POST) as a GET with its parameters; None (the account page) for other POSTs."""
    if request.endpoint == "oidc.authorize":
        return f"{url_for('oidc.authorize')}?{urlencode(list(request.values.items(multi=True)))}"
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    return None


def _interaction_required():
    """prompt=none must not show a page: tell the app at its redirect URI, with the
    endpoint's own rule for which URIs an error may go to (client and URI registered,
    each given once). None when there is no such URI: then it is held like any page."""
    redirect_uri = endpoints.registered_redirect_uri()
    if redirect_uri is None:
        return None
    return endpoints.redirect_error(redirect_uri, "interaction_required", "The customer "
                                    "must complete actions on their account first.")


def _resume_after_actions():
    """Nothing is pending: the account page (where the authenticator app page leads)
    continues where the customer was going before an action interrupted them."""
    if request.endpoint != "web.account" or request.method != "GET" or NEXT_KEY not in session:
        return None
    target = safe_next(session.pop(NEXT_KEY))
    return None if target == request.path else redirect(target, 303)


def _continue(pending: list[str]):
    """After an action: the next pending one, or where they were going."""
    target = request.args.get("next") or session.get(NEXT_KEY)
    if pending:
        return redirect(url_for(ACTION_PAGES[pending[0]], next=target), 303)
    session.pop(NEXT_KEY, None)
    return redirect(safe_next(target), 303)


@bp.route("/account/required/password", methods=["GET", "POST"])
def update_password():
    """Choose a new password (support asked for one). Only in a session that proved a
    verified channel with two factors (a texted code and an authenticator app); any other
    session is told how to set it (a recovery code or link). The old one is refused."""
    if g.login_session is None:
        return redirect(url_for("login.login", next=request.path), 303)
    customer = g.login_session.customer
    if support.UPDATE_PASSWORD not in support.pending_actions(customer):
        return _continue(support.pending_actions(customer))
    if not (support.proved_a_channel(g.login_session.amr)
            and meets(g.login_session.acr, ACR_MULTI_FACTOR)):
        return _prove_first(PASSWORD_PROOF)
    return _update_password(customer)


@fresh_login_required(second_factor=True)
def _update_password(customer):
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            support.refuse_reset_password(customer, form.password.data)
            set_password(customer, form.password.data, request_origin())
            # A new password ends every other session (ASVS 7.4.3), and the apps that
            # had them are told (back-channel logout) once this commits.
            end_all_sessions(customer, origin=request_origin(), keep=g.login_session)
        except PasswordRejected as error:
            db.session.rollback()
            form.password.errors.append(str(error))
        else:
            db.session.commit()
            notify_security_change(customer, "password_changed")
            flash(_("Your new password is saved."))
            return _continue(support.pending_actions(customer))
    return render_template("web/required_password.html", form=form,
                           logout_form=LogoutForm(),
                           next_path=request.args.get("next")), 400 if form.errors else 200


#: What a session that cannot do an action itself reads: a title, why, and what to do.
PASSWORD_PROOF = (
    _l("Choose a new password"),
    (_l("Support reset your password to keep your account safe: the old one no longer "
        "works."),
     _l("To choose a new one, confirm it is you: use \"Forgot your password?\" and we will "
        "text a code to the phone on your account, or ask support to send you a recovery "
        "link by email. Quote your customer ID.")),
    ((_l("Reset my password with a code to my phone"), "login.recover"),))
TOTP_PROOF = (
    _l("Confirm it is you first"),
    (_l("Support removed the authenticator app from your account. Before you set up a new "
        "one, confirm it is you with a code we text to the phone on your account."),
     _l("If you have no phone on your account, or cannot use it, ask support for a "
        "recovery link: set a new password with it, then log in with that password and set "
        "up the app.")),
    ((_l("Confirm with your password and a code to my phone"), "login.login"),))


def _prove_first(proof: tuple):
    """The page that says how to prove a verified channel, then log out or go on."""
    title, paragraphs, links = proof
    record_event("required_action.proof_needed", request_origin(),
                 g.login_session.customer.customer_id, page=request.endpoint,
                 amr=list(g.login_session.amr or []))
    db.session.commit()
    # Logging in again (password, then a texted code) comes back here, `next` and all; a
    # password reset ends with a login that goes on to `next` (an app's request).
    here = request.full_path.rstrip("?")
    hrefs = [(str(label), url_for(endpoint, reauth="mfa", next=here)
              if endpoint == "login.login" else url_for(endpoint, next=wanted_next()))
             for label, endpoint in links]
    return render_template("web/required_proof.html", title=str(title),
                           paragraphs=[str(paragraph) for paragraph in paragraphs],
                           links=hrefs, logout_form=LogoutForm()), 403


@bp.get("/account/required/totp")
@fresh_login_required()
def configure_totp():
    """Support reset the second factor: on to the authenticator app page, remembering
    where the customer was going; first, a session that has not proved a verified
    channel is told how to (see support.may_replace_second_factor)."""
    customer = g.login_session.customer
    pending = support.pending_actions(customer)
    if (support.CONFIGURE_TOTP in pending and not totp.has_totp(customer)
            and not support.may_replace_second_factor(customer, g.login_session.amr)):
        return _prove_first(TOTP_PROOF)
    if support.CONFIGURE_TOTP in pending and totp.has_totp(customer):
        # Already satisfied (an app was confirmed some other way): never loop.
        support.clear_required_action(customer, support.CONFIGURE_TOTP)
        db.session.commit()
        pending = support.pending_actions(customer)
    if support.CONFIGURE_TOTP not in pending:
        return _continue(pending)
    target = request.args.get("next")
    if target:
        session[NEXT_KEY] = target
    flash(_("Your account needs an authenticator app. Set one up to continue."))
    return redirect(url_for(TOTP_ENROL), 303)
