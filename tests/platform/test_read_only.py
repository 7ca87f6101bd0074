"""On SQLite, views marked @reads_only (app/platform/read_only.py) read beside a writer.

Every other SQLite transaction begins with BEGIN IMMEDIATE and so waits for the database's
one write lock. Here another connection holds that lock, as a worker in the middle of a
grant does: introspection, the JWKS and discovery must still answer. A view that waited for
the lock would fail with "database is locked" after the app's 30 s busy timeout. The second
test shows which views take the lock at BEGIN.
"""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event

from app.extensions import db
from app.platform.sqlite_writer import WriterConnection
from tests.oidc.helpers import make_client


@pytest.fixture
def sqlite_app(make_app, database_url):
    if not database_url.startswith("sqlite:"):
        pytest.skip("SQLite's write lock")
    return make_app(), database_url.removeprefix("sqlite:///")


def test_reading_views_answer_while_another_connection_holds_the_write_lock(sqlite_app):
    app, path = sqlite_app
    client_id, secret = make_client(app, grant_types=["client_credentials"], scope="openid")
    http = app.test_client()
    token = http.post("/token", data={"grant_type": "client_credentials"},
                      auth=(client_id, secret)).get_json()["access_token"]
    assert http.get("/jwks.json").status_code == 200  # keys made and cached

    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    try:
        introspected = http.post("/introspect", data={"token": token}, auth=(client_id, secret))
        assert introspected.status_code == 200
        assert introspected.get_json()["active"] is True
        assert http.get("/jwks.json").status_code == 200
        assert http.get("/.well-known/openid-configuration").status_code == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_only_reading_views_begin_without_the_write_lock(sqlite_app, monkeypatch):
    app, _ = sqlite_app
    client_id, secret = make_client(app, grant_types=["client_credentials"], scope="openid")
    http = app.test_client()
    grant = {"data": {"grant_type": "client_credentials"}, "auth": (client_id, secret)}
    assert http.post("/token", **grant).status_code == 200  # the first makes the keys
    with app.app_context():
        engine = db.engine
    begins: list[str] = []

    def seen(conn, cursor, statement, *rest):
        if statement.startswith("BEGIN"):
            begins.append(statement)

    take_write_lock = WriterConnection.take_write_lock

    def take_and_note(connection):  # a spy: the real flock is still taken
        begins.append("writer flock")
        take_write_lock(connection)

    monkeypatch.setattr(WriterConnection, "take_write_lock", take_and_note)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        token = http.post("/token", **grant).get_json()["access_token"]
        # A grant writes: it queues on the writer flock, then takes SQLite's lock at once.
        assert begins == ["writer flock", "BEGIN IMMEDIATE"]
        begins.clear()
        http.post("/introspect", data={"token": token}, auth=(client_id, secret))
        assert begins == ["BEGIN"]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
