"""Signing-key rotation: `flask keys rotate` and `flask keys list`, and what /jwks.json
publishes before, during and after a rotation."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from joserfc import jws
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, SigningKey, utcnow
from app.oidc import keys, tokens
from app.oidc.bearer import validate_access_token, verify_signature
from app.oidc.clients import get_client
from app.oidc.issuer import issuer
from tests.oidc.helpers import make_client


def invoke_json(runner, *args: str):
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def published_kids(client) -> set[str]:
    return {key["kid"] for key in client.get("/jwks.json").get_json()["keys"]}


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


def statuses(app) -> dict[str, dict[str, list[str]]]:
    """alg -> status -> kids."""
    with app.app_context():
        keys.ensure_keys()
        result: dict = {}
        for row in db.session.scalars(select(SigningKey).order_by(SigningKey.id)):
            result.setdefault(row.alg, {}).setdefault(row.status, []).append(row.kid)
        return result


def issue_access_token(app, client_id: str) -> str:
    with app.app_context():
        issued = tokens.issue(get_client(client_id), "client_credentials", "",
                              customer=None, include_refresh_token=False)
        db.session.commit()
        return issued["access_token"]


def sign_id_token(app) -> str:
    with app.app_context():
        now = int(utcnow().timestamp())
        return keys.sign({"iss": issuer(), "sub": "x", "iat": now, "exp": now + 60},
                         "RS256")


def test_rotation_publishes_before_signing_and_keeps_old_tokens_valid(app, client, runner):
    client_id, _ = make_client(app, grant_types=["client_credentials"], redirect_uris=[])
    before = statuses(app)
    for alg in keys.SIGNING_ALGORITHMS:
        assert len(before[alg]["active"]) == 1 and len(before[alg]["next"]) == 1
    # The next key is published before it signs anything.
    assert {before[alg]["next"][0] for alg in before} <= published_kids(client)
    old_access = issue_access_token(app, client_id)
    old_id_token = sign_id_token(app)
    assert kid_of(old_access) == before["ES256"]["active"][0]

    changes = invoke_json(runner, "keys", "rotate")
    assert {c["alg"] for c in changes} == set(keys.SIGNING_ALGORITHMS)
    after = statuses(app)
    for change in changes:
        alg = change["alg"]
        assert change["retired"] == before[alg]["active"][0]
        assert change["active"] == before[alg]["next"][0] == after[alg]["active"][0]
        assert after[alg]["next"] == [change["next"]]
        assert after[alg]["retired"] == [change["retired"]]
        assert len(after[alg]["active"]) == 1
    published = published_kids(client)
    for change in changes:
        assert {change["retired"], change["active"], change["next"]} <= published

    # Tokens signed before the rotation still validate; new ones use the promoted key.
    with app.app_context():
        assert validate_access_token(old_access).claims["client_id"] == client_id
        assert verify_signature(old_id_token, ("RS256",))["claims"]["sub"] == "x"
    assert kid_of(issue_access_token(app, client_id)) == before["ES256"]["next"][0]
    assert kid_of(sign_id_token(app)) == before["RS256"]["next"][0]

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "signing_key.rotated")) == len(keys.SIGNING_ALGORITHMS)


def test_retired_key_leaves_the_jwks_after_its_tokens_expired(app, client, runner):
    [change] = invoke_json(runner, "keys", "rotate", "--alg", "ES256")
    assert change["retired"] in published_kids(client)
    lifetime = max(int(app.config["ACCESS_TOKEN_SECONDS"]), int(app.config["ID_TOKEN_SECONDS"]))
    with time_machine.travel(utcnow() + timedelta(seconds=lifetime - 5), tick=False):
        assert change["retired"] in published_kids(client)
    with time_machine.travel(utcnow() + timedelta(seconds=lifetime + 1), tick=False):
        published = published_kids(client)
        assert change["retired"] not in published
        assert {change["active"], change["next"]} <= published
        listed = {k["kid"]: k for k in invoke_json(runner, "keys", "list")}
        assert listed[change["retired"]]["status"] == "retired"
        assert listed[change["retired"]]["published"] is False


def test_rotating_one_algorithm_leaves_the_others(app, runner):
    before = statuses(app)
    invoke_json(runner, "keys", "rotate", "--alg", "ES256", "--alg", "ES256")
    after = statuses(app)
    assert after["RS256"] == before["RS256"]
    assert after["ES256"]["active"] == before["ES256"]["next"]


def test_two_rotations_keep_exactly_one_active_key(app, client, runner):
    invoke_json(runner, "keys", "rotate", "--alg", "RS256")
    invoke_json(runner, "keys", "rotate", "--alg", "RS256")
    after = statuses(app)["RS256"]
    assert len(after["active"]) == 1 and len(after["next"]) == 1
    assert len(after["retired"]) == 2
    assert set(after["retired"]) <= published_kids(client)


def test_rotate_refuses_an_unknown_algorithm(app, runner):
    before = statuses(app)
    result = runner.invoke(args=["keys", "rotate", "--alg", "HS256", "--json"])
    assert result.exit_code == 2
    assert statuses(app) == before


def test_keys_list_shows_no_private_parts(app, runner):
    statuses(app)  # create the keys
    listed = invoke_json(runner, "keys", "list")
    assert {k["alg"] for k in listed} == set(keys.SIGNING_ALGORITHMS)
    for key in listed:
        assert set(key) == {"kid", "alg", "status", "published", "created_at", "activated_at",
                            "retired_at", "publish_until"}
        assert key["status"] in ("active", "next") and key["published"] is True
    text = runner.invoke(args=["keys", "list"])
    assert text.exit_code == 0
    with app.app_context():
        for row in db.session.scalars(select(SigningKey)):
            assert row.kid in text.stdout
            assert row.private_key_encrypted not in text.stdout


@pytest.mark.parametrize("args", [["keys", "rotate", "--alg"], ["keys", "list", "--all"]])
def test_keys_commands_refuse_bad_usage(app, runner, args):
    assert runner.invoke(args=args).exit_code == 2
