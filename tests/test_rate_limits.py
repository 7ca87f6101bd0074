"""Per-IP request limits, counted in Redis so that several instances share them."""
import redis

from tests.conftest import csrf_token


def post_login(client) -> int:
    token = csrf_token(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "identifier": "x@example.com",
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
