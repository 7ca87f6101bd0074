"""Hosted pages and health checks, with the headers and error pages they share."""
from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.extensions import db

# No inline script anywhere; forms post only to us; nobody may frame our pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def register_web(app: Flask) -> None:
    """Register the hosted pages, health checks, security headers and error pages."""
    from app.admin.views import bp as admin_bp
    from app.oidc.endpoints import bp as oidc_bp
    from app.oidc.logout import bp as oidc_logout_bp
    from app.oidc.revocation import bp as oidc_tokens_bp
    from app.web import login_views  # noqa: F401  (adds the login pages to pages_bp)
    from app.web.account_identifiers import bp as identifiers_bp
    from app.web.consent_pages import bp as consents_bp
    from app.web.data_rights_pages import bp as data_rights_bp
    from app.web.recovery_link_pages import bp as recovery_link_bp
    from app.web.required_actions import bp as required_actions_bp
    from app.web.factors import bp as factors_bp
    from app.web.health import bp as health_bp
    from app.web.pages import bp as pages_bp

    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.register_blueprint(health_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(factors_bp)
    app.register_blueprint(identifiers_bp)
    app.register_blueprint(consents_bp)
    app.register_blueprint(data_rights_bp)
    app.register_blueprint(recovery_link_bp)
    app.register_blueprint(required_actions_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(oidc_tokens_bp)
    app.register_blueprint(oidc_logout_bp)
    app.register_blueprint(admin_bp)
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def add_security_headers(response):
    """Security headers on every response; authenticated pages are never cached."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if g.get("login_session") is not None or request.method == "POST" or \
            response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def handle_csrf_error(error: CSRFError):
    """A form without a valid CSRF token: say so plainly, change nothing."""
    db.session.rollback()
    return render_template("web/error.html", status=400, title="Form expired",
                           message="This form has expired or did not come from this site. "
                                   "Go back, reload the page and try again."), 400


def handle_http_error(error: HTTPException):
    """Plain error pages for HTTP errors (404, 405, 429 ...); problem JSON for a path
    under the admin API that matched no endpoint."""
    if request.path.startswith("/admin/api/"):
        from app.admin.problems import http_error
        return http_error(error)
    if error.code == 429:
        message = "Too many requests from your network. Wait a minute and try again."
    else:
        message = error.description
    return render_template("web/error.html", status=error.code, title=error.name,
                           message=message), error.code


def handle_unexpected_error(error: Exception):
    """Fail closed with a plain page, never a stack trace; the log keeps the details."""
    from flask import current_app
    db.session.rollback()
    current_app.logger.exception("Unhandled error")
    return render_template("web/error.html", status=500, title="Something went wrong",
                           message="Tessera could not complete this request. Nothing was "
                                   "changed. Try again in a moment."), 500
