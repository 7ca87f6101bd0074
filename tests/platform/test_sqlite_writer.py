"""SQLite writers queue on the writer flock (app/platform/sqlite_writer.py) and give it
back however their transaction ends; readers never take it.

Two connections of one app stand for two gunicorn workers: the second writer's BEGIN must
wait until the first one's transaction is over, then go on at once. Order is shown by
events, not by timing.
"""
from __future__ import annotations

import fcntl
import os
import threading

import pytest
from sqlalchemy import text

from app.extensions import db
from app.platform.sqlite_writer import WriterConnection, lock_path_of


@pytest.fixture
def sqlite_engine(make_app, database_url):
    if not database_url.startswith("sqlite:"):
        pytest.skip("SQLite's writer flock")
    app = make_app()
    with app.app_context():
        yield db.engine, database_url.removeprefix("sqlite:///")


def _lock_is_free(path: str) -> bool:
    """Whether another open file can take the flock now (it is not held anywhere)."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def test_a_second_writer_waits_for_the_first_and_every_ending_gives_the_lock_back(sqlite_engine):
    engine, path = sqlite_engine
    lock = path + "-writer"
    with engine.connect() as first:
        assert isinstance(first.connection.dbapi_connection, WriterConnection)
        for end in ("commit", "rollback"):
            with first.begin() as transaction:
                first.execute(text("SELECT 1"))
                assert not _lock_is_free(lock)
                getattr(transaction, end)()
            assert _lock_is_free(lock), end

        transaction = first.begin()
        first.execute(text("DELETE FROM oauth_registry_version"))
        events: list[str] = []

        def second_writer():
            with engine.begin() as second:
                events.append("second began")
                second.execute(text("SELECT 1"))

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=0.5)  # not a timing assertion: the thread must still be waiting
        assert thread.is_alive() and events == []
        events.append("first committed")
        transaction.commit()
        thread.join(timeout=30)
        assert events == ["first committed", "second began"]
        assert _lock_is_free(lock)

    # A connection closed in the middle of a transaction gives it back too.
    raw = engine.raw_connection()
    raw.driver_connection.take_write_lock()
    raw.driver_connection.execute("BEGIN IMMEDIATE")
    assert not _lock_is_free(lock)
    raw.invalidate()  # closes the DBAPI connection
    assert _lock_is_free(lock)


def test_an_in_memory_database_has_no_writer_flock():
    memory = WriterConnection(":memory:")
    try:
        assert lock_path_of(memory) is None
        memory.take_write_lock()  # nothing to take
        memory.execute("CREATE TABLE t (x)")
        memory.commit()
    finally:
        memory.close()
