"""SQLite: writers queue on a lock file, so the write lock passes to the next at once.

SQLite has one write lock per database. A transaction that finds it taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries (Python's
sqlite3 offers no other handler). A grant holds the lock for about a tenth of a millisecond,
so two gunicorn workers writing at once spent most of their waits asleep after the lock
was already free: under load, two workers served barely more writes than one.

So every write transaction (the BEGIN IMMEDIATE of app/__init__.py) first takes an
exclusive flock() on a file beside the database, and gives it back when the transaction
ends (commit, rollback, or the connection closing). The kernel wakes the next waiter as
soon as it is released. SQLite's own lock is still taken and still decides; the flock only
orders who asks for it. Reading transactions (@reads_only views) take no flock and read
beside the writer, as before.

A waiter gives up on the flock after the busy timeout and goes on to SQLite's own lock
(which then waits, or fails with "database is locked", exactly as without this module): a
transaction that never ends cannot hang the others for longer than SQLite would have.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import time

#: SQLite's busy timeout (PRAGMA busy_timeout, set in app/__init__.py), and how long a
#: writer waits for the flock before leaving the wait to SQLite.
WAIT_SECONDS = 30
#: Pauses between tries when another process or thread holds the flock: short at first
#: (most transactions are a fraction of a millisecond), then at most half a millisecond.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.00002, 0.0005


class WriterConnection(sqlite3.Connection):
    """A sqlite3 connection that can take the database's writer flock (`take_write_lock`)
    and gives it back whenever its transaction ends. Made by sqlite3.connect(factory=...)."""

    lock_path: str | None = None  # set by app/__init__.py when the connection opens
    _lock_file: int | None = None
    _holding = False

    def take_write_lock(self) -> None:
        """Wait for the writer flock (see the module's docstring), then hold it until this
        connection's transaction ends. No-op for an in-memory database."""
        if self.lock_path is None or self._holding:
            return
        if self._lock_file is None:
            self._lock_file = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                      0o600)
        # The first try blocks no one; only a held lock makes us pause between tries.
        pause, deadline = _FIRST_PAUSE, None
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._holding = True
                return
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + WAIT_SECONDS
                if now >= deadline:
                    return  # SQLite's busy timeout decides from here
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)

    def _give_back(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None


def lock_path_of(connection: sqlite3.Connection) -> str | None:
    """The writer flock's file for this connection's database: beside the database file
    (as SQLite's own -wal and -shm files are), or None for an in-memory database."""
    for _, name, path in connection.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return f"{path}-writer" if path else None
    return None
