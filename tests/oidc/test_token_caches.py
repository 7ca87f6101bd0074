"""The token path's per-process caches (issue 15) never outlive a change made elsewhere.

Signing keys are cached per app (app/oidc/keys.py) and checked against the table once per
request. Here the app that serves the requests has its cache warm when the change is made
by another process (a real `flask keys rotate` in a subprocess on the same database) or by
a second app instance on the same database (its own cache, as another gunicorn worker or
instance has): the next request of the first app must already see it. Both backends.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from joserfc import jws
from sqlalchemy import event

from app.auth import support
from app.extensions import db
from app.models import Customer
from app.oidc import keys, tokens
from app.oidc.clients import client_record, get_client
from app.platform.audit import Origin
from tests.factories import make_customer
from tests.helpers import base_config
from tests.oidc.helpers import make_client

ROOT = Path(__file__).resolve().parents[2]
ROTATE = """
import json, sys
from app import create_app
app = create_app(json.loads(sys.argv[1]))
result = app.test_cli_runner().invoke(args=["keys", "rotate", "--alg", "ES256", "--json"])
print(result.output)
sys.exit(result.exit_code)
"""


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


def grant(http, client_id: str, secret: str):
    return http.post("/token", data={"grant_type": "client_credentials"},
                     auth=(client_id, secret))


def introspect(http, token: str, client_id: str, secret: str) -> dict:
    response = http.post("/introspect", data={"token": token}, auth=(client_id, secret))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def service(app) -> tuple[str, str]:
    return make_client(app, grant_types=["client_credentials"], scope="openid")


def test_a_rotation_by_another_process_signs_with_the_new_key_at_once(
        app, database_url, tmp_path):
    client_id, secret = service(app)
    http = app.test_client()
    old = grant(http, client_id, secret).get_json()["access_token"]
    assert introspect(http, old, client_id, secret)["active"] is True  # the cache is warm

    config = base_config(tmp_path, database_url)
    done = subprocess.run([sys.executable, "-c", ROTATE, json.dumps(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [change] = json.loads(done.stdout)
    assert change["retired"] == kid_of(old)

    new = grant(http, client_id, secret).get_json()["access_token"]
    assert kid_of(new) == change["active"]
    published = {key["kid"] for key in http.get("/jwks.json").get_json()["keys"]}
    assert {change["retired"], change["active"], change["next"]} <= published
    assert introspect(http, new, client_id, secret)["active"] is True
    assert introspect(http, old, client_id, secret)["active"] is True  # still published


def test_two_instances_each_see_the_others_rotation(app, make_app):
    other = make_app()
    client_id, secret = service(app)
    first, second = app.test_client(), other.test_client()
    before = kid_of(grant(first, client_id, secret).get_json()["access_token"])
    assert kid_of(grant(second, client_id, secret).get_json()["access_token"]) == before

    with other.app_context():
        [change] = keys.rotate_keys(Origin(actor="test"), ("ES256",))
        db.session.commit()

    assert kid_of(grant(first, client_id, secret).get_json()["access_token"]) == change["active"]
    assert kid_of(grant(second, client_id, secret).get_json()["access_token"]) == change["active"]


def warm(app):
    """A service client with a live token, introspected once so every cache is filled."""
    client_id, secret = service(app)
    http = app.test_client()
    token = grant(http, client_id, secret).get_json()["access_token"]
    assert introspect(http, token, client_id, secret)["active"] is True
    return http, client_id, secret, token


def test_a_deleted_client_fails_at_once_on_the_other_instance(app, make_app):
    other = make_app()
    http, client_id, secret, token = warm(app)

    result = other.test_cli_runner().invoke(args=["clients", "delete", client_id])
    assert result.exit_code == 0, result.output

    assert grant(http, client_id, secret).status_code == 401
    assert http.post("/introspect", data={"token": token},
                     auth=(client_id, secret)).status_code == 401


def test_a_rotated_secret_fails_at_once_on_the_other_instance(app, make_app):
    other = make_app()
    client_id, secret = service(app)
    http = app.test_client()
    assert grant(http, client_id, secret).status_code == 200

    result = other.test_cli_runner().invoke(args=["clients", "rotate-secret", client_id,
                                                  "--json"])
    assert result.exit_code == 0, result.output
    new_secret = json.loads(result.stdout)["client_secret"]

    assert grant(http, client_id, secret).status_code == 401
    assert grant(http, client_id, new_secret).status_code == 200


def test_a_revoked_token_is_inactive_at_once_on_the_other_instance(app, make_app):
    other = make_app()
    http, client_id, secret, token = warm(app)

    revoked = other.test_client().post("/revoke", data={"token": token},
                                       auth=(client_id, secret))
    assert revoked.status_code == 200

    assert introspect(http, token, client_id, secret) == {"active": False}


def test_a_locked_customer_s_token_is_inactive_at_once_on_the_other_instance(app, make_app):
    other = make_app()
    client_id, secret = make_client(app, first_party=True, scope="openid")
    with app.app_context():
        customer = make_customer(email="ada@example.com")
        body = tokens.issue(get_client(client_id), "authorization_code", "openid",
                            customer=customer, include_refresh_token=True)
        db.session.commit()
        customer_pk = customer.id
    http = app.test_client()
    assert introspect(http, body["access_token"], client_id, secret)["active"] is True
    assert introspect(http, body["refresh_token"], client_id, secret)["active"] is True

    with other.app_context():
        support.lock(db.session.get(Customer, customer_pk), "fraud", Origin(actor="test"))
        db.session.commit()

    assert introspect(http, body["access_token"], client_id, secret) == {"active": False}
    assert introspect(http, body["refresh_token"], client_id, secret) == {"active": False}


def test_a_warm_worker_reads_one_version_row_instead_of_clients_and_keys(app):
    http, client_id, secret, token = warm(app)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert grant(http, client_id, secret).status_code == 200
        assert introspect(http, token, client_id, secret)["active"] is True
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "oauth_clients" in s or "oauth_signing_keys" in s]
    assert sum("oauth_registry_version" in s for s in statements) == 2  # one per request


def test_a_change_rolled_back_leaves_the_cache_as_the_table_is(app):
    client_id, secret = service(app)
    http = app.test_client()
    assert grant(http, client_id, secret).status_code == 200  # cached
    with app.app_context():
        get_client(client_id).client_secret_hash = "0" * 64
        db.session.flush()
        # The transaction sees its own change, not the cache's copy.
        assert client_record(client_id).client_secret_hash == "0" * 64
        db.session.rollback()
    assert grant(http, client_id, secret).status_code == 200
    with app.app_context():
        assert client_record(client_id).client_secret_hash != "0" * 64
