"""The browser's side of a login session, shared by every hosted page: which login session
this request carries, who is asking (for audit events), sending anonymous visitors to log
in, where to go after logging in, and starting a logged-in session.

The login session lives in the database; the browser holds only its token in the
`tessera_session` cookie (HttpOnly, SameSite=Lax, Secure under https)."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, redirect, request, session, url_for

from app.auth.sessions import COOKIE_NAME, load_session
from app.models import utcnow
from app.platform import audit
from app.platform.audit import Origin


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
            return redirect(url_for("login.login", next=request.path), 303)
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


def wanted_next() -> str | None:
    """The request's `next` query parameter if safe_next keeps it (a local path), else
    None: what a page passes on in its links and forms so that a customer who came from
    an app's authorization request gets back to it."""
    wanted = request.args.get("next")
    return wanted if wanted and safe_next(wanted) == wanted else None


def keep_next(key: str) -> None:
    """Keep the request's `next` (see wanted_next) in the signed session under `key`, for
    a flow of several pages (sign-up, password reset) to return to at its end; without
    one, forget what an earlier, abandoned flow kept. A new login clears the session."""
    wanted = wanted_next()
    if wanted:
        session[key] = wanted
    else:
        session.pop(key, None)


def take_next(key: str) -> str | None:
    """The `next` kept under `key`, forgotten as it is read; None if there is none."""
    kept = session.pop(key, None)
    return kept if isinstance(kept, str) and safe_next(kept) == kept else None


#: Session keys a login keeps: the language the browser chose and the current
#: authorization request's ui_locales (app/web/language.py), which are not anonymous state.
LANGUAGE_KEYS = ("locale", "ui_locale")


def start_logged_in(response, token: str):
    """Set the new session cookie; end the session this browser had (whoever it was for)
    and drop anonymous state (CSRF token, pending sign-up) so nothing from before login
    carries over. Every way of logging in (login, sign-up, recovery) ends here; the view
    commits afterwards, with the login itself."""
    _end_replaced_session()
    kept = {key: session[key] for key in LANGUAGE_KEYS if key in session}
    session.clear()
    session.update(kept)
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
