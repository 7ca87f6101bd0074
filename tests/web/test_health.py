"""Liveness (/healthz) and readiness (/readyz) checks, with the database up and down."""
from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db
from tests.helpers import base_config

# Nothing listens on port 1: connecting fails at once with "connection refused".
UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.fixture
def broken_app(tmp_path):
    """An app whose database cannot be reached. Building it must not need the database."""
    application = create_app(base_config(tmp_path, UNREACHABLE_DATABASE))
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_healthz_answers_ok(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_ok_when_the_database_answers(client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_answers_503_json_when_the_database_is_unreachable(broken_app) -> None:
    response = broken_app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    assert "psycopg" not in body.lower()
    assert "127.0.0.1" not in body


def test_healthz_stays_ok_when_the_database_is_unreachable(broken_app) -> None:
    """Liveness must not fail with the database, or every instance gets restarted."""
    response = broken_app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize(("path", "status", "expected"), [
    ("/healthz", 200, {"status": "ok"}),
    ("/readyz", 503, {"status": "unavailable", "database": "unreachable"}),
])
def test_health_checks_ignore_a_session_cookie_when_the_database_is_down(
        broken_app, path, status, expected) -> None:
    """A probe that carries a login cookie (a browser, a proxy replaying cookies) must get
    the same answer: the checks must not look the session up in the database first."""
    client = broken_app.test_client()
    client.set_cookie("tessera_session", "any-token-at-all")

    response = client.get(path)

    assert response.status_code == status
    assert response.get_json() == expected
