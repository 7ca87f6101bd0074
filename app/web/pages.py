"""Hosted pages on the "web" blueprint: home, sign-up, logout and
the account page; the login pages are in login_views.py.

Views stay thin: they read the form, call a service in app/auth or app/directory, and
render or redirect. The browser's login session is app/web/login_session.py.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, session, url_for

from app.auth.passwords import PasswordRejected
from app.auth.signup import SignupError, code_seconds, complete_signup, start_signup
from app.directory.customers import CustomerError, display_name
from app.extensions import db, limiter
from app.identity.customer_ids import format_for_people
from app.oidc.connected_apps import connected_apps, revoke_app
from app.oidc.logout import end_sso_session, forget_login
from app.phones.trust import paused_reason
from app.platform import audit
from app.web.forms import LogoutForm, SignupForm, VerifyCodeForm
from app.web.login_session import login_required, request_origin, start_logged_in

bp = Blueprint("web", __name__)

_SIGNUP_KEY = "signup_verification_id"
_SIGNUP_DESTINATION = "signup_destination"


def _signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


@bp.get("/")
def index():
    """Home: the account page when logged in, the login page otherwise."""
    return redirect(url_for("web.account" if g.login_session else "login.login"), 303)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
def signup():
    """Step 1 of sign-up: identifier and password; a code goes to the identifier."""
    form = SignupForm()
    if form.validate_on_submit():
        text = form.identifier.data.strip()
        kind = "email" if "@" in text else "phone"
        try:
            started = start_signup(text, kind, form.password.data, request_origin(),
                                   form.given_name.data, form.family_name.data,
                                   consents_given=form.communication_consents())
        except PasswordRejected as error:
            form.password.errors.append(str(error))
        except (CustomerError, SignupError) as error:
            form.identifier.errors.append(str(error))
        else:
            db.session.commit()
            session[_SIGNUP_KEY] = started.verification_id
            session[_SIGNUP_DESTINATION] = started.destination
            return redirect(url_for("web.signup_verify"), 303)
    status = 400 if form.errors else 200
    return render_template("web/signup.html", form=form), status


@bp.route("/signup/verify", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
def signup_verify():
    """Step 2 of sign-up: the code proves the identifier and creates the account."""
    verification_id = session.get(_SIGNUP_KEY)
    if verification_id is None:
        flash("Start by choosing how to sign up.")
        return redirect(url_for("web.signup"), 303)
    form = VerifyCodeForm()
    if form.validate_on_submit():
        try:
            completed = complete_signup(int(verification_id), form.code.data, request_origin())
        except SignupError as error:
            form.code.errors.append(str(error))
        else:
            response = start_logged_in(redirect(url_for("web.account"), 303),
                                       completed.session_token)
            db.session.commit()
            return response
    status = 400 if form.errors else 200
    destination = session.get(_SIGNUP_DESTINATION) or ""
    minutes = code_seconds("phone" if destination.startswith("+") else "email") // 60
    return render_template("web/signup_verify.html", form=form, destination=destination,
                           minutes=minutes), status


@bp.post("/logout")
def logout():
    """End the login session on the server and forget the cookie."""
    form = LogoutForm()
    if form.validate_on_submit() and g.login_session is not None:
        end_sso_session(g.login_session, request_origin())
        db.session.commit()
    response = forget_login(redirect(url_for("login.login"), 303))
    flash("You have logged out.")
    return response


@bp.get("/account")
@login_required
def account():
    """The customer's own page: customer ID, identifiers, linked accounts, connected apps,
    recent activity."""
    customer = g.login_session.customer
    return render_template(
        "web/account.html",
        customer=customer,
        customer_id_display=format_for_people(customer.customer_id),
        name=display_name(customer),
        events=audit.recent_events(customer.customer_id),
        describe_event=audit.describe_event,
        logout_form=LogoutForm(),
        apps=connected_apps(customer),
        phone_notices=paused_reason(customer),
    )


@bp.post("/account/apps/<client_id>/revoke", endpoint="revoke_app")
@login_required
def revoke_app_access(client_id: str):
    """Withdraw one connected app's access (CSRF-checked like every POST)."""
    if revoke_app(g.login_session.customer, client_id[:48], request_origin()):
        db.session.commit()
        flash("That app can no longer use your account.")
    return redirect(url_for("web.account"), 303)
