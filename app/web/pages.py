"""Hosted pages: sign-up, login, logout and the account page.

Views stay thin: they read the form, call a service in app/auth or app/customers, and
render or redirect. The login session lives in the database; the browser holds only its
token in the `tessera_session` cookie (HttpOnly, SameSite=Lax, Secure under https).
"""
from __future__ import annotations

from functools import wraps

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from app.auth.passwords import PasswordRejected
from app.auth.sessions import COOKIE_NAME, load_session
from app.auth.signup import SignupError, code_seconds, complete_signup, start_signup
from app.directory.customers import CustomerError, display_name
from app.extensions import db, limiter
from app.identity.customer_ids import format_for_people
from app.models import utcnow
from app.oidc.connected_apps import connected_apps, revoke_app
from app.oidc.logout import end_sso_session, forget_login
from app.phones.trust import paused_reason
from app.platform import audit
from app.platform.audit import Origin
from app.web.forms import LogoutForm, SignupForm, VerifyCodeForm

bp = Blueprint("web", __name__)

_SIGNUP_KEY = "signup_verification_id"
_SIGNUP_DESTINATION = "signup_destination"


def _signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


@bp.before_app_request
def load_login_session() -> None:
    """Attach the live login session (or None) to `g` for this request.

    Health checks and static files skip it: they must answer without the database.
    """
    if request.blueprint == "health" or request.endpoint == "static":
        g.login_session = None
        return
    g.login_session = load_session(request.cookies.get(COOKIE_NAME))


def request_origin() -> Origin:
    """Who is asking, for audit events: the customer's browser."""
    return Origin(actor="customer", ip=request.remote_addr,
                  user_agent=request.user_agent.string[:512] or None)


def login_required(view):
    """Send anonymous visitors to the login page, returning here afterwards."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.login_session is None:
            return redirect(url_for("web.login", next=request.path), 303)
        return view(*args, **kwargs)
    return wrapped


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, //evil) -> account.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    "/\t/evil.example" or "/\\evil.example" would leave the site: any whitespace, control
    character or backslash refuses the target.
    """
    if (target and target.startswith("/") and not target.startswith("//")
            and len(target) <= 8000 and "\\" not in target
            and not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target)):
        return target
    return url_for("web.account")


def _start_logged_in(response, token: str):
    """Set the new session cookie; end the session this browser had (whoever it was for)
    and drop anonymous state (CSRF token, pending sign-up) so nothing from before login
    carries over. Every way of logging in (login, sign-up, recovery) ends here."""
    _end_replaced_session()
    session.clear()
    config = current_app.config
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="Lax",
                        secure=config["SESSION_COOKIE_SECURE"],
                        max_age=int(config["SESSION_ABSOLUTE_SECONDS"]), path="/")
    return response


def _end_replaced_session() -> None:
    """End the browser's current login session on the server: a change of who is logged
    in (or a fresh login of the same customer) replaces it, never runs beside it, so the
    old cookie, if copied, stops working."""
    previous = g.get("login_session")
    if previous is not None and previous.ended_at is None:
        previous.ended_at = utcnow()
        audit.record_event("logout", request_origin(), previous.customer.customer_id,
                           reason="replaced")
        db.session.commit()


@bp.get("/")
def index():
    """Home: the account page when logged in, the login page otherwise."""
    return redirect(url_for("web.account" if g.login_session else "web.login"), 303)


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
            response = redirect(url_for("web.account"), 303)
            return _start_logged_in(response, completed.session_token)
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
    response = forget_login(redirect(url_for("web.login"), 303))
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
        flash("That app can no longer use your account.")
    return redirect(url_for("web.account"), 303)
