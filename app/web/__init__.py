"""Hosted pages and health checks, with the headers and error pages they share."""
from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_qualified_name
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.extensions import db, limiter
from app.platform.faults import RETRY_AFTER_SECONDS, is_outage, rollback_quietly
from app.platform.brand import current_brand

# No inline script anywhere; forms post only to us; nobody may frame our pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: Endpoints that answer clients (not browsers) in RFC 6749 / 6750 JSON, errors included.
OAUTH_JSON_ENDPOINTS = frozenset({"oidc.token", "oidc.userinfo", "oidc_tokens.introspect",
                                  "oidc_tokens.revoke_token", "oidc.jwks", "oidc.discovery"})
#: Endpoints with no per-IP limit (none of their own, none from a blueprint): the token
#: path and the health checks. Flask-Limiter is told to skip them outright, instead of
#: resolving (to nothing) the limits of every request, which was about 7% of a grant.
#: tests/test_rate_limits.py checks that none of them carries a limit.
UNLIMITED_ENDPOINTS = OAUTH_JSON_ENDPOINTS | {"health.healthz", "health.readyz"}


@limiter.request_filter
def _unlimited_endpoint() -> bool:
    return request.endpoint in UNLIMITED_ENDPOINTS


def register_web(app: Flask) -> None:
    """Register the hosted pages and health checks, load the browser's login session before
    every request, and add the security headers and error pages every response shares.
    The OIDC and admin blueprints are the factory's to register (app/__init__.py)."""
    from app.web.account_identifiers import bp as identifiers_bp
    from app.web.account_pages import bp as account_bp
    from app.web.branding import init_branding
    from app.web.consent_pages import bp as consents_bp
    from app.web.data_rights_pages import bp as data_rights_bp
    from app.web.factors import bp as factors_bp
    from app.web.health import bp as health_bp
    from app.web.language import init_language
    from app.web.login_session import load_login_session
    from app.web.login_views import bp as login_bp
    from app.web.page_helpers import register_page_helpers
    from app.web.pages import bp as pages_bp
    from app.web.passkey_pages import bp as passkeys_bp
    from app.web.recovery_link_pages import bp as recovery_link_bp
    from app.web.required_actions import bp as required_actions_bp

    init_branding(app)
    init_language(app)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    register_page_helpers(app)
    # Before required_actions' hook, which reads the login session this one loads.
    app.before_request(load_login_session)
    app.register_blueprint(health_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(login_bp)
    app.register_blueprint(factors_bp)
    app.register_blueprint(passkeys_bp)
    app.register_blueprint(identifiers_bp)
    app.register_blueprint(consents_bp)
    app.register_blueprint(data_rights_bp)
    app.register_blueprint(recovery_link_bp)
    app.register_blueprint(required_actions_bp)
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def add_security_headers(response):
    """Security headers on every response; authenticated pages are never cached. A page
    that shows an app's logo lets that one origin into img-src for this response only
    (g.csp_img_origins, set by app/oidc/endpoints.py allow_client_logo); the brand's
    https logos and favicon are let in on every page."""
    policy = CONTENT_SECURITY_POLICY
    origins = [*current_brand().image_origins, *g.get("csp_img_origins", [])]
    if origins:
        policy = policy.replace("img-src 'self' data:",
                                "img-src 'self' data: " + " ".join(dict.fromkeys(origins)))
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if g.get("login_session") is not None or request.method == "POST" or \
            response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def limit_request_body() -> None:
    """Refuse a body larger than this endpoint takes (413), before anything reads it.

    Registered ahead of the CSRF check, so an oversized form is refused without being
    parsed. The declared length is checked here; a body sent without one (chunked) is cut
    off at the same size when read. Admin API bodies have their own limit; every other
    endpoint takes MAX_BODY_BYTES (no hosted page or OAuth endpoint needs more)."""
    if "admin_api" in request.blueprints:
        limit = int(current_app.config["ADMIN_MAX_BODY_BYTES"])
    else:
        limit = int(current_app.config["MAX_BODY_BYTES"])
    request.max_content_length = limit
    request.max_form_memory_size = limit
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)


class BodyTooLarge(RequestEntityTooLarge):
    """A body over this endpoint's limit (413); the description stays English (the admin
    API and the OAuth endpoints answer with it), the page says it in its own language."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request bodies here have at most {limit} bytes.")
        self.limit = limit


def handle_csrf_error(error: CSRFError):
    """A form without a valid CSRF token: say so plainly, change nothing. The refusal
    still counts toward the endpoint's per-IP limit (login, sign-up ...), so forms posted
    without a token cost an attacker the same budget as forms with one."""
    rollback_quietly(db.session)
    try:
        charge_view_limits()
    except RateLimitExceeded as exceeded:
        return handle_http_error(exceeded)
    except Exception as failure:  # noqa: BLE001  (Redis down: answered as an outage)
        return handle_unexpected_error(failure)
    return render_template("web/error.html", status=400, title=_("Form expired"),
                           message=_("This form has expired or did not come from this site. "
                                     "Go back, reload the page and try again.")), 400


def charge_view_limits() -> None:
    """Count this request toward the per-IP limits of the view it was meant for, when it
    was refused before that view (and so its limit decorator) ran. Raises
    RateLimitExceeded once the budget is spent.

    Flask-Limiter checks a decorated limit when the view is called; it has no public call
    to check one from elsewhere, so this uses the check the decorator itself makes
    (tests/test_rate_limits.py pins the behaviour)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None:
        limiter._check_request_limit(in_middleware=False,
                                     callable_name=get_qualified_name(view))


def error_surface() -> str:
    """Which error shape this request gets: "admin" (RFC 9457 problem JSON), "oauth"
    (RFC 6749 JSON at the endpoints clients call directly) or "page" (HTML)."""
    if request.path.startswith("/admin/api/"):
        return "admin"
    if request.endpoint in OAUTH_JSON_ENDPOINTS:
        return "oauth"
    return "page"


def oauth_error(status: int, error: str, description: str, headers: dict | None = None):
    """An RFC 6749 5.2 error body (never cached)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_http_error(error: HTTPException):
    """HTTP errors (404, 405, 413, 429 ...) in the shape of the surface: plain pages,
    RFC 6749 JSON at the OAuth endpoints, problem JSON under the admin API (also for a
    path there that matched no endpoint)."""
    surface = error_surface()
    if surface == "admin":
        from app.admin.problems import http_error
        return http_error(error)
    if surface == "oauth":
        return oauth_error(error.code or 400, "invalid_request", error.description or "")
    title, message = page_error_texts(error)
    return render_template("web/error.html", status=error.code, title=title,
                           message=message), error.code


def page_error_texts(error: HTTPException) -> tuple[str, str | None]:
    """The title and message of an HTTP error's page, in the page's language: Werkzeug's
    own words (the same English) for the errors a customer can meet, a description given
    where the error was raised as it is (English: those are written for developers)."""
    if error.code == 429:
        return _("Too Many Requests"), _("Too many requests from your network. Wait a "
                                         "minute and try again.")
    if isinstance(error, BodyTooLarge):
        return _("Request Entity Too Large"), _("Request bodies here have at most "
                                                "%(limit)d bytes.", limit=error.limit)
    texts = {
        400: (_("Bad Request"), _("The browser (or proxy) sent a request that this server "
                                  "could not understand.")),
        403: (_("Forbidden"), _("You don't have the permission to access the requested "
                                "resource. It is either read-protected or not readable by "
                                "the server.")),
        404: (_("Not Found"), _("The requested URL was not found on the server. If you "
                                "entered the URL manually please check your spelling and "
                                "try again.")),
        405: (_("Method Not Allowed"), _("The method is not allowed for the requested "
                                         "URL.")),
        413: (_("Request Entity Too Large"), _("The data value transmitted exceeds the "
                                               "capacity limit.")),
        414: (_("Request URI Too Long"), _("The length of the requested URL exceeds the "
                                           "capacity limit for this server. The request "
                                           "cannot be processed.")),
        431: (_("Request Header Fields Too Large"), _("One or more header fields exceeds "
                                                      "the maximum size.")),
    }
    if error.code not in texts:
        return error.name, error.description
    title, default_message = texts[error.code]
    # Werkzeug's default description is translated; one given where it was raised is kept.
    if error.description == type(error).description:
        return title, default_message
    return title, error.description


def handle_unexpected_error(error: Exception):
    """Fail closed with a plain page, never a stack trace; the log keeps the details.
    An outage (Redis or the database unreachable) is still refused, but answered as
    one: 503 with Retry-After."""
    rollback_quietly(db.session)
    if is_outage(error):
        current_app.logger.warning("refused during an outage: %s", type(error).__name__)
        return outage_response()
    current_app.logger.exception("Unhandled error")
    return render_template("web/error.html", status=500, title=_("Something went wrong"),
                           message=_("%(brand)s could not complete this request. Nothing was "
                                     "changed. Try again in a moment.",
                                     brand=current_brand().name)), 500


def outage_response():
    """503 in the surface's shape: a page that says to try again shortly,
    temporarily_unavailable at OAuth endpoints, problem JSON on the admin API."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    surface = error_surface()
    if surface == "admin":
        from app.admin.problems import outage_problem
        return outage_problem()
    if surface == "oauth":
        return oauth_error(503, "temporarily_unavailable", "The server is briefly "
                           "unavailable. Try again shortly.", headers)
    return render_template("web/error.html", status=503, title=_("Temporarily unavailable"),
                           message=_("%(brand)s cannot complete this right now. Try again in "
                                     "a few seconds.", brand=current_brand().name)), \
        503, headers
