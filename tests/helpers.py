"""Helpers shared by tests in every folder: test settings, database set-up, reading the
console outbox and the CSRF token of a form. Fixtures live in tests/conftest.py (pytest finds
them without an import); plain functions and constants live here."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from app import create_app
from app.extensions import db

REQUIRE_POSTGRES = os.environ.get("TESSERA_REQUIRE_POSTGRES") == "1"
# CI installs redis-server, so there a missing one is a failure, not a skip.
REQUIRE_REDIS = os.environ.get("CI") == "true"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"

#: The Lookup v2 packages Tessera asks for when PHONE_LOOKUP is "twilio-lookup".
LOOKUP_FIELDS = "line_type_intelligence,sim_swap,reassigned_number"

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def base_config(instance: Path, database_url: str) -> dict:
    """Settings for a test app: development mode, cheap argon2, files under `instance`."""
    return {
        "TESTING": True,
        "ENV": "development",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        # Cheap argon2 for speed; the timing test raises it to the real cost.
        "ARGON2_MEMORY_KIB": 256,
        "ARGON2_TIME_COST": 1,
        "ARGON2_PARALLELISM": 1,
        "RATELIMIT_STORAGE_URI": "memory://",
    }


def migrate(database_url: str, instance: Path) -> None:
    """Bring the database at `database_url` to the newest migration."""
    from flask_migrate import upgrade
    app = create_app(base_config(instance, database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def empty_postgres(url: str) -> None:
    """Delete every row of every table of the PostgreSQL database at `url`, and restart
    its sequences, so the next test finds it as freshly migrated."""
    import psycopg
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def csrf_token(page_html: str) -> str:
    """The CSRF token in a rendered form."""
    match = CSRF_RE.search(page_html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def read_outbox(app) -> list[dict]:
    """Messages the console senders wrote, oldest first."""
    path = Path(app.config["OUTBOX_PATH"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_code(app, to: str) -> str:
    """The last 6-digit code sent to `to`."""
    for message in reversed(read_outbox(app)):
        if message["to"] == to:
            match = re.search(r"\b(\d{6})\b", message["body"])
            if match:
                return match.group(1)
    raise AssertionError(f"no code was sent to {to}")
