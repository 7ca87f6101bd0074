"""The data part of the security-hardening migration for identifiers (issue 12, item 8):
email match keys move from case folding to lower case, and usernames get skeletons."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app.extensions import db

BEFORE = "8b6c7f28026a"
ROWS = [  # (kind, value, match key as the old code stored it)
    ("email", "Straße@example.com", "strasse@example.com"),
    ("email", "Ada@Example.com", "ada@example.com"),
    ("username", "alice", "alice"),
    ("username", "alıce", "alıce"),  # a look-alike that already exists
]


def test_upgrade_rekeys_emails_and_gives_usernames_skeletons(app_context):
    downgrade(revision=BEFORE)
    try:
        with db.engine.begin() as connection:
            customer_pk = connection.execute(sa.text(
                "INSERT INTO customers (customer_id, status, created_at, updated_at, version) "
                "VALUES ('0000000000000', 'active', :now, :now, 1) RETURNING id"),
                {"now": datetime.now(UTC).replace(tzinfo=None)}).scalar_one()
            for kind, value, match_key in ROWS:
                connection.execute(sa.text(
                    "INSERT INTO identifiers (customer_pk, kind, value, match_key, created_at) "
                    "VALUES (:pk, :kind, :value, :key, :now)"),
                    {"pk": customer_pk, "kind": kind, "value": value, "key": match_key,
                     "now": datetime.now(UTC).replace(tzinfo=None)})
    finally:
        upgrade()
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT value, match_key, skeleton FROM identifiers ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [
        ("Straße@example.com", "straße@example.com", None),
        ("Ada@Example.com", "ada@example.com", None),
        ("alice", "alice", "alice"),
        ("alıce", "alıce", None),  # grandfathered; the older one holds the skeleton
    ]
