"""Per-IP request limits (counted in Redis so that several instances share them, keyed on
the client's network) and the request body limit in front of every endpoint."""
import pytest
import redis

from app.extensions import limiter
from app.platform.client_network import network_key
from tests.helpers import csrf_token


def post_login(client, **environ) -> int:
    token = csrf_token(client.get("/login", environ_base=environ).text)
    return client.post("/login", environ_base=environ,
                       data={"csrf_token": token, "identifier": "x@example.com",
                             "password": "wrong-password-here"}).status_code


def test_login_limit_counts_live_in_redis(make_app, redis_url):
    """The per-IP count is kept in Redis, where every instance sees it: two app instances
    share it, and emptying Redis lifts the limit. (Counts kept in the process would
    survive the flush, so the last request would still be refused.)"""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    first = make_app(RATELIMIT_STORAGE_URI=redis_url, LOGIN_RATE_LIMIT="2 per minute")
    second = make_app(RATELIMIT_STORAGE_URI=redis_url, LOGIN_RATE_LIMIT="2 per minute")
    assert post_login(first.test_client()) == 401
    assert post_login(second.test_client()) == 401
    assert post_login(first.test_client()) == 429
    assert post_login(second.test_client()) == 429
    assert store.keys("LIMITS*")
    store.flushdb()
    assert post_login(second.test_client()) == 401


def test_limit_page_is_plain_and_says_what_to_do(make_app, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    app = make_app(RATELIMIT_STORAGE_URI=redis_url, LOGIN_RATE_LIMIT="1 per minute")
    client = app.test_client()
    post_login(client)
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "identifier": "x@example.com",
                                           "password": "wrong-password-here"})
    assert response.status_code == 429
    assert "Too many requests" in response.text
    assert "Traceback" not in response.text


# ---- what an address counts as -------------------------------------------------------------

@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    (" Not-An-Address ", "not-an-address"),
])
def test_an_ipv6_address_counts_as_its_64(address, key):
    assert network_key(address) == key


def test_per_ip_request_limits_count_an_ipv6_64_as_one_client(make_app):
    """Two addresses of one /64 share the login budget; another /64 has its own.
    (Keyed on single addresses, the second address would get a fresh budget.)"""
    app = make_app(LOGIN_RATE_LIMIT="1 per minute")
    limiter.reset()
    client = app.test_client()
    assert post_login(client, REMOTE_ADDR="2001:db8:1:2::10") == 401
    assert post_login(client, REMOTE_ADDR="2001:db8:1:2:ffff::20") == 429
    assert post_login(client, REMOTE_ADDR="2001:db8:1:3::10") == 401


# ---- request bodies ------------------------------------------------------------------------

OVERSIZED = "x" * (64 * 1024 + 1)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/login", "text/html"),
    ("/signup", "text/html"),
    ("/token", "application/json"),
    ("/introspect", "application/json"),
    ("/revoke", "application/json"),  # was HTML: the endpoint's name was misspelt
    ("/admin/api/linked-accounts/resolve", "application/problem+json"),
])
def test_an_oversized_body_is_refused_before_it_is_read(client, path, content_type):
    """413 in the surface's shape, before the CSRF check or client authentication (which
    would read the form first and answer 400/401)."""
    response = client.post(path, data={"password": OVERSIZED})

    assert response.status_code == 413
    assert response.mimetype == content_type
    if content_type == "application/json":
        assert response.json["error"] == "invalid_request"
    if content_type == "application/problem+json":
        assert response.json["type"].endswith("/body-too-large")


def test_the_body_limit_is_a_setting(make_app):
    app = make_app(MAX_BODY_BYTES=1024)
    client = app.test_client()
    assert client.post("/login", data={"identifier": "x" * 2000}).status_code == 413
    assert client.post("/login", data={"identifier": "x" * 500}).status_code == 400  # CSRF


@pytest.mark.parametrize(("path", "setting"), [
    ("/login", "LOGIN_RATE_LIMIT"),
    ("/signup", "SIGNUP_RATE_LIMIT"),
])
def test_forms_without_a_csrf_token_spend_the_per_ip_budget(make_app, path, setting):
    """A POST refused for its CSRF token counts like any other: once the budget is
    spent, even a correct form gets 429."""
    app = make_app(**{setting: "2 per minute"})
    limiter.reset()
    client = app.test_client()
    token = csrf_token(client.get(path).text)
    assert client.post(path, data={"identifier": "x@example.com"}).status_code == 400
    assert client.post(path, data={"identifier": "x@example.com"}).status_code == 400

    refused = client.post(path, data={"csrf_token": token, "identifier": "x@example.com",
                                      "password": "wrong-password-here"})
    assert refused.status_code == 429
    assert client.post(path, data={}).status_code == 429


def test_the_endpoints_flask_limiter_skips_carry_no_limit(app):
    """app/web UNLIMITED_ENDPOINTS are skipped by Flask-Limiter before it resolves limits:
    a limit put on one of them later (a decorator, or one on its blueprint, as the admin
    API has) would be skipped too. So none may have one."""
    from app.web import UNLIMITED_ENDPOINTS
    with app.app_context():
        limited_blueprints = {name for name in app.blueprints
                              if limiter.limit_manager.blueprint_limits(app, name)}
    # The check below sees blueprint limits: the admin API's, and its nested blueprints'.
    assert {name.split(".")[0] for name in limited_blueprints} == {"admin_api"}
    for endpoint in UNLIMITED_ENDPOINTS:
        view = app.view_functions[endpoint]
        # Flask-Limiter's limit decorator wraps the view (functools.wraps).
        assert getattr(view, "__wrapped__", None) is None, endpoint
        assert endpoint.rsplit(".", 1)[0] not in limited_blueprints, endpoint
