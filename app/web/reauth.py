"""Re-authentication before sensitive changes (adding or removing a phone, an email, a
password or a second factor): the login session must be recent, and for some changes
must have used two factors (acr 2fa). Otherwise the customer is sent through the login flow again
(`/login?reauth=...`), which keeps them as the same customer and comes back here."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps

from flask import g, redirect, request, url_for

from app.auth.levels import ACR_MULTI_FACTOR, AMR_SMS, meets
from app.models import utcnow

#: How recent a login must be for a sensitive change.
REAUTH_SECONDS = 300


def needs_two_factors(login_session, second_factor: bool) -> bool:
    """A change needs two factors when asked, and always after an SMS-only login: a text
    message code alone never changes a phone, email, password or authenticator (a SIM
    swapper holds exactly that)."""
    return second_factor or list(login_session.amr) == [AMR_SMS]


def is_fresh(login_session, *, second_factor: bool = False) -> bool:
    """Whether `login_session` may make a sensitive change now."""
    if login_session is None:
        return False
    if utcnow() - login_session.auth_time > timedelta(seconds=REAUTH_SECONDS):
        return False
    return (not needs_two_factors(login_session, second_factor)
            or meets(login_session.acr, ACR_MULTI_FACTOR))


def fresh_login_required(*, second_factor: bool = False):
    """Decorate a view so it runs only within REAUTH_SECONDS of a login (with a second
    factor if asked); else the customer logs in again and returns to this page (GET)."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.login_session is None:
                return redirect(url_for("login.login", next=request.path), 303)
            if not is_fresh(g.login_session, second_factor=second_factor):
                mfa = needs_two_factors(g.login_session, second_factor)
                return redirect(url_for("login.login", next=request.path,
                                        reauth="mfa" if mfa else "1"), 303)
            return view(*args, **kwargs)
        return wrapped
    return decorate
