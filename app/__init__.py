"""Tessera: a customer identity server. `create_app()` builds the Flask application."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from app import config as settings
from app.platform.read_only import request_reads_only
from app.platform.sqlite_writer import WAIT_SECONDS, WriterConnection, lock_path_of

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def create_app(test_config: dict | None = None, *, serving: bool = False) -> Flask:
    """Build the app: defaults, instance/config.py, TESSERA_* variables, then test_config.

    `serving=True` (gunicorn in docker/entrypoint.sh) leaves out Flask-Migrate: a serving
    worker never migrates, and Alembic is about 12 MB in every worker. The `flask` CLI,
    the tests and the benches build the app without it and get `flask db` and
    flask_migrate.upgrade().
    """
    instance_path = ((test_config or {}).get("INSTANCE_PATH")
                     or os.environ.get("TESSERA_INSTANCE_PATH")
                     or str(PROJECT_ROOT / "instance"))
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True,
                template_folder="web/templates", static_folder="web/static")
    app.config.update(settings.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.from_environment(os.environ))
    if test_config:
        app.config.update(test_config)
    settings.finish(app.config, app.instance_path)
    from app.platform import brand, i18n
    from app.auth import passkeys
    settings.validate(app.config, i18n.setting_problems, passkeys.setting_problems,
                      lambda config: brand.setting_problems(config, app.instance_path))
    passkeys_off = passkeys.unavailable_reason(str(app.config["ISSUER"]))
    if passkeys_off:
        app.logger.warning("passkeys are off: %s (TESSERA_ISSUER)", passkeys_off)
    for warning in brand.contrast_warnings(brand.brand_of(app.config).colours,
                                           brand.setting_names()):
        app.logger.warning("brand colours: %s", warning)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["TRUSTED_PROXY_COUNT"]:
        count = int(app.config["TRUSTED_PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    from app import models  # noqa: F401  (registers every model with the metadata)
    from app.extensions import authorization, csrf, db, limiter
    from app.oidc.server import configure as configure_authorization
    from app.web import limit_request_body

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Writers queue on a lock file beside the database (app/platform/sqlite_writer.py).
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("factory", WriterConnection)
    db.init_app(app)
    if not serving:
        from flask_migrate import Migrate
        Migrate(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True,
                compare_type=True)
    # Before the CSRF check: an oversized body is refused before anything parses it.
    app.before_request(limit_request_body)
    csrf.init_app(app)
    limiter.init_app(app)
    configure_authorization(authorization, app)

    register_blueprints(app)

    from app.cli import register_cli
    register_cli(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Register every area's blueprints: the hosted pages and health checks (with the
    headers and error pages they share), then the OpenID Provider's endpoints, then the
    admin API."""
    from app.admin.blueprint import bp as admin_bp
    from app.oidc.endpoints import bp as oidc_bp
    from app.oidc.logout import bp as oidc_logout_bp
    from app.oidc.revocation import bp as oidc_tokens_bp
    from app.web import register_web

    register_web(app)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(oidc_tokens_bp)
    app.register_blueprint(oidc_logout_bp)
    app.register_blueprint(admin_bp)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, wait for locks, and let SQLAlchemy emit BEGIN itself."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    if isinstance(dbapi_connection, WriterConnection):
        dbapi_connection.lock_path = lock_path_of(dbapi_connection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={WAIT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # What SQLite advises with WAL: the log is synced at checkpoints, not at every commit. A
    # power cut or OS crash (not a crash of the app) can lose the last commits but never
    # corrupts the file, and the write lock is no longer held across an fsync per commit.
    # Production refuses SQLite anyway (app/config.py); PostgreSQL is untouched.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_immediate_on_sqlite(conn) -> None:
    """Take SQLite's write lock at BEGIN, so concurrent writers queue instead of failing
    with 'database is locked' when a read lock cannot be upgraded; views marked
    @reads_only (app/platform/read_only.py) read a snapshot beside them instead. Writers
    queue on the writer flock first (app/platform/sqlite_writer.py), which hands the
    lock over at once instead of after SQLite's busy-handler sleeps."""
    if conn.dialect.name != "sqlite":
        return
    if request_reads_only():
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, WriterConnection):
        dbapi_connection.take_write_lock()
    conn.exec_driver_sql("BEGIN IMMEDIATE")
