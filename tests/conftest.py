"""Shared fixtures: an app on each database backend, a test client, a live server.

Every test that takes `app` runs twice: on SQLite and on a real PostgreSQL (a throwaway
server started for the session; see tests/postgres.py). With TESSERA_REQUIRE_POSTGRES=1 a
missing PostgreSQL fails the run instead of skipping, so CI cannot silently lose half.
Plain helpers (test settings, the outbox, CSRF tokens) are in tests/helpers.py.
"""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db, limiter
from app.providers import twilio_sms
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers import (LOOKUP_FIELDS, REQUIRE_POSTGRES, REQUIRE_REDIS, base_config,
                           empty_postgres, migrate)
from tests.postgres import PostgresServer, PostgresUnavailable, create_database, free_port, wait_for
from tests.redis_server import RedisServer, RedisUnavailable

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_admin_url():
    """URL of a PostgreSQL server for this session (started here unless given)."""
    given = os.environ.get("TESSERA_TEST_POSTGRES_URL")
    if given:
        wait_for(given)
        yield given
        return
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"TESSERA_REQUIRE_POSTGRES=1 but PostgreSQL is unavailable: {error}")
        pytest.skip(f"PostgreSQL half skipped: {error}")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_url():
    """URL of a throwaway redis-server for this session."""
    try:
        server = RedisServer().start()
    except RedisUnavailable as error:
        if REQUIRE_REDIS:
            pytest.fail(f"CI=true but Redis is unavailable: {error}")
        pytest.skip(f"Redis tests skipped: {error}")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgresql_database(postgres_admin_url, tmp_path_factory):
    """A migrated PostgreSQL database shared by the session (emptied after each test)."""
    url = create_database(postgres_admin_url, "tessera_test")
    migrate(url, tmp_path_factory.mktemp("pg-migrate"))
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    path = directory / "template.db"
    migrate(f"sqlite:///{path}", directory)
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "tessera.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgresql_database")
    yield url
    empty_postgres(url)


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on this test's database with extra settings; disposed at the end."""
    apps = []

    def build(**overrides):
        config = base_config(tmp_path, database_url) | overrides
        application = create_app(config)
        apps.append(application)
        return application

    yield build
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The app with test settings, on SQLite and on PostgreSQL."""
    application = make_app()
    limiter.reset()
    return application


@pytest.fixture
def app_context(app):
    """Run the test inside an application context (for calling services directly)."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's flask commands."""
    return app.test_cli_runner()


class InFlight:
    """WSGI middleware counting the requests being answered, so a test server can wait
    for them before the test's app (and its database pool) is disposed; it also reads
    static files whole (see _read_whole).

    A browser closed at the end of a test may leave a request running (the login page
    asks for passkey options as it loads); finishing after the dispose, it would leave
    its connection for the garbage collector, whose ResourceWarning then fails whichever
    test runs next. A request counts as done when its body has been sent, closed, or let
    go of (the server does not call close() on every path)."""

    def __init__(self, app) -> None:
        self.app = app
        self.count = 0
        self.idle = threading.Condition()

    def __call__(self, environ, start_response):
        with self.idle:
            self.count += 1
        try:
            body = self.app(environ, start_response)
            if environ.get("PATH_INFO", "").startswith("/static/"):
                body = self._read_whole(body)
        except BaseException:
            self._done()
            raise
        return self._counted(body)

    def _counted(self, body):
        try:
            yield from body
        finally:
            try:
                if hasattr(body, "close"):
                    body.close()
            finally:
                self._done()

    @staticmethod
    def _read_whole(body) -> list[bytes]:
        """A static file's body, read and its file closed now. Werkzeug's server can skip
        close() when the browser went away mid-file (a test's page closing while the
        favicon loads), leaving the open file to the garbage collector's warning."""
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    def _done(self) -> None:
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def wait(self, seconds: float) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout=seconds)


@contextmanager
def serving(app, port: int):
    """`app` served over real HTTP on 127.0.0.1:`port` by a threaded server, until the
    block ends and the requests still being answered are done."""
    counted = InFlight(app)
    server = make_server("127.0.0.1", port, counted, threaded=True)
    # A short poll interval: shutdown() waits up to one interval (0.5 s by default),
    # which, paid by every test with a live server, added minutes to the suite.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=10)
        counted.wait(seconds=10)


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on 127.0.0.1 by a threaded server; yields its URL."""
    port = free_port()
    with serving(app, port):
        yield f"http://127.0.0.1:{port}"


# ---- the fake Twilio on 127.0.0.1 ---------------------------------------------------------


@pytest.fixture
def fake_twilio():
    """A fake Twilio API on 127.0.0.1 (tests/fakes/twilio_server.py)."""
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def app_with_twilio_lookup(make_app, fake_twilio, monkeypatch):
    """Tessera with Twilio Lookup (through the fake) for phone trust, and console SMS; no
    wait before the retry of a 5xx (the backoff is a constant, not logic under test)."""
    monkeypatch.setattr(twilio_sms, "RETRY_BACKOFF_SECONDS", 0)
    return make_app(PHONE_LOOKUP="twilio-lookup", TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                    TWILIO_AUTH_TOKEN="test-auth-token-0123456789abcdef",
                    TWILIO_BASE_URL=fake_twilio.url, TWILIO_LOOKUP_FIELDS=LOOKUP_FIELDS)
