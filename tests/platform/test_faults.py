"""Outages of the real services Tessera depends on, with real servers stopped and started:
Redis down (every rate-limited request is refused as an outage, 503 in each surface's
shape, and /readyz says so) and a PostgreSQL restart (a committed answer still reaches
the client; stale pooled connections are replaced before use).

The servers stopped here are this module's own (not the session's), so stopping them
never disturbs the rest of the suite. The PostgreSQL tests run on PostgreSQL only: a
restart is what they are about.
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import request_finished
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.oidc import keys
from app.oidc.server import TesseraOpenIDCode
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import (REQUIRE_POSTGRES, REQUIRE_REDIS, base_config, csrf_token, empty_postgres,
                           migrate)
from tests.oidc.helpers import REDIRECT_URI, make_client
from tests.postgres import PostgresServer, PostgresUnavailable, create_database
from tests.redis_server import RedisServer, RedisUnavailable

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def start_own(server_class, unavailable: type[Exception], required: bool):
    """Start a server of our own, or skip (fail, where the run requires it) without one."""
    try:
        return server_class().start()
    except unavailable as error:
        if required:
            pytest.fail(f"{server_class.__name__} is required but unavailable: {error}")
        pytest.skip(f"fault tests need {server_class.__name__}: {error}")


@pytest.fixture
def own_redis():
    """A redis-server for this test alone, which the test may stop and start."""
    server = start_own(RedisServer, RedisUnavailable, REQUIRE_REDIS)
    yield server
    server.stop()


def stop_redis(server: RedisServer) -> None:
    """Stop the server, keeping its port and directory for start() again."""
    server.process.terminate()
    server.process.wait(timeout=10)


def client_assertion(app, key: ECKey) -> dict:
    """A private_key_jwt client-credentials request (its jti is recorded in Redis)."""
    client_id, _ = make_client(app, grant_types=["client_credentials"], scope="openid",
                               token_endpoint_auth_method="private_key_jwt",
                               jwks={"keys": [key.as_dict(private=False)]})
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": app.config["ISSUER"] + "/token",
              "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
    signed = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed}


def assert_outage_page(response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"].isdigit()
    assert "Try again" in response.text
    assert "Traceback" not in response.text


def test_with_redis_down_requests_are_refused_as_an_outage_until_it_is_back(
        make_app, own_redis):
    app = make_app(RATELIMIT_STORAGE_URI=own_redis.url, REDIS_URL=own_redis.url)
    client = app.test_client()
    forms = {path: csrf_token(client.get(path).text)
             for path in ("/login", "/login/sms", "/signup")}
    token_request = client_assertion(app, ECKey.generate_key("P-256", parameters={"kid": "k1"}))
    assert client.get("/readyz").json == {"status": "ok", "database": "ok", "redis": "ok"}

    stop_redis(own_redis)
    for path, token in forms.items():
        assert_outage_page(client.post(path, data={
            "csrf_token": token, "identifier": "+14155552671", "password": "wrong-password"}))
    token = client.post("/token", data=token_request)
    assert token.status_code == 503
    assert token.json["error"] == "temporarily_unavailable"
    assert token.headers["Retry-After"].isdigit()
    admin = client.get("/admin/api/customers?q=ada@example.com")
    assert admin.status_code == 503
    assert admin.mimetype == "application/problem+json"
    assert admin.json["type"].endswith("/service-unavailable")
    assert admin.headers["Retry-After"].isdigit()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json == {"status": "unavailable", "database": "ok", "redis": "unreachable"}

    own_redis.start()
    assert client.get("/readyz").status_code == 200
    assert client.post("/login", data={"csrf_token": forms["/login"],
                                       "identifier": "ada@example.com",
                                       "password": "wrong-password"}).status_code == 401
    assert client.post("/token", data=token_request).status_code == 200


# ---- PostgreSQL restarts -------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    """A PostgreSQL server for this module alone (the tests restart it), migrated."""
    server = start_own(PostgresServer, PostgresUnavailable, REQUIRE_POSTGRES)
    url = create_database(server.url, "tessera_faults")
    migrate(url, tmp_path_factory.mktemp("faults-migrate"))
    yield server, url
    server.stop()


@pytest.fixture
def restartable_app(own_postgres, tmp_path):
    """An app on the module's PostgreSQL, a logged-in browser, and a client whose code
    the test redeems."""
    server, url = own_postgres
    app = create_app(base_config(tmp_path, url))
    with app.app_context():
        make_customer()
        keys.ensure_keys()  # as a running deployment has them (made on first use else)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    empty_postgres(url)


def authorization_code(app, browser) -> tuple[dict, tuple[str, str]]:
    """Log the browser in and get a code for a first-party client: (token request, auth)."""
    client_id, secret = make_client(app, first_party=True, grant_types=["authorization_code"],
                                    scope="openid")
    token = csrf_token(browser.get("/login").text)
    assert browser.post("/login", data={"csrf_token": token, "identifier": "ada@example.com",
                                         "password": STRONG_PASSWORD}).status_code == 303
    answer = browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid", "state": "s1", "nonce": "n1"}))
    assert answer.status_code == 302, answer.text[:300]
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    return ({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            (client_id, secret))


def test_a_restart_between_requests_costs_nothing(restartable_app, own_postgres):
    """Every pooled connection is dead after the restart; the next request must get a
    live one (pre-ping), not fail on a stale one."""
    browser = restartable_app.test_client()
    request, auth = authorization_code(restartable_app, browser)

    own_postgres[0].restart()
    response = browser.post("/token", data=request, auth=auth)

    assert response.status_code == 200, response.text
    assert response.json["access_token"]


def test_a_committed_answer_survives_the_connection_dying_before_cleanup(
        restartable_app, own_postgres):
    """The tokens are committed and the response built; then the database restarts under
    the connection the session still holds, so the end-of-request rollback fails. The
    client must still get its tokens (the code is spent: it could never retry)."""
    browser = restartable_app.test_client()
    request, auth = authorization_code(restartable_app, browser)

    def restart_under_the_session(sender, response, **extra):
        db.session.execute(text("SELECT 1"))  # a read after the commit holds a connection
        own_postgres[0].restart()

    with request_finished.connected_to(restart_under_the_session, restartable_app):
        response = browser.post("/token", data=request, auth=auth)

    assert response.status_code == 200, response.text
    assert response.json["access_token"]
    replay = browser.post("/token", data=request, auth=auth)
    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"


def test_a_restart_before_the_answer_is_built_spends_nothing(restartable_app, own_postgres,
                                                             monkeypatch):
    """The database restarts after the tokens were written but before the answer is
    complete (Authlib signs the ID token after saving the tokens): the client is told to
    retry (503), and the retry gets the tokens, because nothing was committed."""
    browser = restartable_app.test_client()
    request, auth = authorization_code(restartable_app, browser)
    sign_id_token = TesseraOpenIDCode.encode_id_token

    def restart_then_sign(self, token, oauth_request):
        monkeypatch.setattr(TesseraOpenIDCode, "encode_id_token", sign_id_token)
        db.session.execute(text("SELECT 1"))  # the grant's transaction is open
        own_postgres[0].restart()
        return sign_id_token(self, token, oauth_request)

    monkeypatch.setattr(TesseraOpenIDCode, "encode_id_token", restart_then_sign)
    refused = browser.post("/token", data=request, auth=auth)

    assert refused.status_code == 503
    assert refused.json["error"] == "temporarily_unavailable"
    retried = browser.post("/token", data=request, auth=auth)
    assert retried.status_code == 200, retried.text
    assert retried.json["id_token"]
