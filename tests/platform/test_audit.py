"""Audit events in the customer's words (app/platform/audit.py, describe_event): passkeys
added, renamed, removed, refused as a copy, and a login with one; shown as such on the
activity page and in the data export."""
from __future__ import annotations

import html

import pytest

from app.auth.levels import PASSKEY_AMR
from app.extensions import db
from app.platform.audit import PASSKEY_LOGIN_AMR, describe_event, record_event
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token


@pytest.mark.parametrize("event, details, words", [
    ("passkey.added", {"passkey_id": 1, "name": "Phone"}, "Passkey added"),
    ("passkey.renamed", {"passkey_id": 1, "name": "Work phone"}, "Passkey renamed"),
    ("passkey.removed", {"passkey_id": 1, "name": "Phone"}, "Passkey removed"),
    ("passkey.sign_count_regressed", {"synced": False},
     "A passkey behaved like a copy of itself and was refused"),
    ("passkey.sign_count_regressed", {"synced": True},
     "A synced passkey behaved like a copy of itself; synced passkeys are copies on your "
     "devices, so it was let in"),
    ("login.succeeded", {"amr": ["hwk", "user", "mfa"]}, "Logged in with a passkey"),
    ("login.succeeded", {"amr": ["swk"]}, "Logged in with a passkey"),
    ("login.succeeded", {"amr": ["pwd", "hwk", "mfa"]}, "Logged in with a passkey"),
    ("login.succeeded", {"amr": ["pwd", "otp", "mfa"]}, "Logged in"),
    ("login.succeeded", None, "Logged in"),
    ("mfa.reset", {"passkeys_removed": 2},
     "Support removed your authenticator app, recovery codes and passkeys"),
    ("login.factor_proved", {"factor": "passkey"}, "login.factor_proved"),
])
def test_passkey_events_in_words(app_context, event, details, words):
    assert describe_event(event, details) == words


def test_the_passkey_amr_values_are_those_of_the_login_levels():
    # The platform floor may not import app.auth: the values are spelled out there.
    assert PASSKEY_LOGIN_AMR == set(PASSKEY_AMR)


def test_the_activity_page_says_a_login_was_with_a_passkey(app):
    with app.app_context():
        customer = make_customer()
        for event, details in (("passkey.added", {"passkey_id": 1, "name": "Phone"}),
                               ("login.succeeded", {"amr": ["swk", "user", "mfa"]})):
            record_event(event, TEST_ORIGIN, customer.customer_id, **details)
        db.session.commit()
    client = app.test_client()
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.text),
                                "identifier": "ada@example.com", "password": STRONG_PASSWORD})

    page = client.get("/account/activity")

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert text.count("Logged in with a passkey") == 1  # not the password login just now
    assert "Passkey added" in text and "<td>Logged in</td>" in text
