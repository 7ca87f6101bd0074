"""Refresh-token rotation, reuse detection, and the grace for a lost response."""
from datetime import timedelta

import pytest
import time_machine

from app.extensions import db
from app.models import Customer, OAuthClient, utcnow
from app.oidc import tokens
from tests.factories import make_customer
from tests.oidc.helpers import make_client


def first_refresh_token(app) -> tuple[str, str]:
    """A public client and a refresh token issued to it for a customer."""
    client_id, _ = make_client(app, public=True)
    with app.app_context():
        customer = make_customer()
        client = db.session.execute(db.select(OAuthClient).where(
            OAuthClient.client_id == client_id)).scalar_one()
        issued = tokens.issue(client, "authorization_code", "openid",
                              customer=db.session.get(Customer, customer.id),
                              include_refresh_token=True)
        db.session.commit()
    return client_id, issued["refresh_token"]


def refresh(client, client_id: str, refresh_token: str):
    return client.post("/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                       "refresh_token": refresh_token})


@pytest.fixture
def app(make_app):
    """The grace for a lost response is opt-in; most tests here are about it."""
    return make_app(REFRESH_TOKEN_REUSE_GRACE_SECONDS=30)


def test_each_refresh_rotates_and_the_old_token_is_then_refused(make_app):
    """By default (no grace, RFC 9700 4.14.2) even an immediate reuse revokes the family."""
    app = make_app()
    assert app.config["REFRESH_TOKEN_REUSE_GRACE_SECONDS"] == 0
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    second = refresh(http, client_id, first)
    assert second.status_code == 200 and second.headers["Cache-Control"] == "no-store"
    assert second.json["refresh_token"] != first
    replay = refresh(http, client_id, first)
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    # The replay revoked the family: the newest token dies too.
    assert refresh(http, client_id, second.json["refresh_token"]).json["error"] == "invalid_grant"


def test_a_lost_response_is_survived_within_the_grace(app):
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    refresh(http, client_id, first)                                   # the response is lost
    retry = refresh(http, client_id, first)                           # the app retries
    assert retry.status_code == 200
    fresh = retry.json["refresh_token"]
    # The successor the app never saw is dead; the one it holds now works.
    assert refresh(http, client_id, fresh).status_code == 200


def test_the_superseded_successor_coming_back_revokes_the_family(app):
    """If the retry was a thief's, the real client's next refresh shows it."""
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    real = refresh(http, client_id, first).json["refresh_token"]
    thief = refresh(http, client_id, first).json["refresh_token"]     # stolen copy, in grace
    assert refresh(http, client_id, real).json["error"] == "invalid_grant"
    assert refresh(http, client_id, thief).json["error"] == "invalid_grant"


def test_no_grace_once_the_successor_was_used(app):
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    second = refresh(http, client_id, first).json["refresh_token"]
    third = refresh(http, client_id, second).json["refresh_token"]
    assert refresh(http, client_id, first).json["error"] == "invalid_grant"
    assert refresh(http, client_id, third).json["error"] == "invalid_grant"


def test_no_grace_after_the_window(app):
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    with time_machine.travel(utcnow(), tick=False) as clock:
        second = refresh(http, client_id, first).json["refresh_token"]
        clock.shift(timedelta(seconds=31))
        assert refresh(http, client_id, first).json["error"] == "invalid_grant"
        assert refresh(http, client_id, second).json["error"] == "invalid_grant"


def test_expired_refresh_token_is_refused(app):
    client_id, first = first_refresh_token(app)
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        response = refresh(app.test_client(), client_id, first)
    assert response.json["error"] == "invalid_grant"


def test_a_response_lost_twice_is_survived_too(app):
    client_id, first = first_refresh_token(app)
    http = app.test_client()
    refresh(http, client_id, first)
    refresh(http, client_id, first)
    last = refresh(http, client_id, first)
    assert last.status_code == 200
    assert refresh(http, client_id, last.json["refresh_token"]).status_code == 200


def test_a_family_ends_at_its_absolute_lifetime_however_often_it_rotates(make_app):
    """Rotation renews a refresh token's 30 days, never past the family's 90."""
    app = make_app(REFRESH_TOKEN_SECONDS=30 * 86400, REFRESH_TOKEN_FAMILY_SECONDS=90 * 86400)
    client_id, token = first_refresh_token(app)
    http = app.test_client()
    start = utcnow()
    for day in (25, 50, 75):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            response = refresh(http, client_id, token)
            assert response.status_code == 200, (day, response.json)
            token = response.json["refresh_token"]
    # The last rotation (day 75) would live to day 105; the family ends at day 90.
    with time_machine.travel(start + timedelta(days=89), tick=False):
        response = refresh(http, client_id, token)
        assert response.status_code == 200
        token = response.json["refresh_token"]
    with time_machine.travel(start + timedelta(days=90, seconds=1), tick=False):
        assert refresh(http, client_id, token).json["error"] == "invalid_grant"
