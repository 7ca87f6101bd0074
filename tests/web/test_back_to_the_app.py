"""Back to the app (issue 14, item 4): a customer who arrives from an app's authorization
request and signs up, resets a password or completes a required action lands back in that
request, and so at the app's redirect URI with a code that redeems. The walks use a real
relying-party library (Authlib's OAuth2Session) against a live Tessera, with a requests
session as the browser (no page here needs JavaScript); the pieces in between (links and
forms carrying `next`, the signed session keeping it) are checked with the Flask test
client. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pyotp
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from app.auth import support
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.login import set_password
from app.auth.sessions import COOKIE_NAME, start_session
from app.extensions import db
from app.models import Customer, Identifier, TotpCredential
from app.platform.audit import record_event
from app.platform.crypto import unseal
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, last_code
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, make_client

NEW_EMAIL = "grace@example.com"
NEW_PASSWORD = "quartz-lantern-meadow-58"


def href(page: str, link_text: str) -> str:
    """The href of the link whose text is `link_text`."""
    match = re.search(r'<a href="([^"]*)"[^>]*>' + re.escape(link_text) + "</a>", page)
    assert match, f"no link {link_text!r} on the page"
    return html.unescape(match.group(1))


def form_action(page: str) -> str:
    """The action of the page's first POST form."""
    return html.unescape(re.search(r'<form method="post" action="([^"]*)"', page).group(1))


def relying_party(app, live_server, **options):
    """A first-party app, its OAuth2Session, its authorization URL, state and verifier."""
    app.config["ISSUER"] = live_server
    client_id, secret = make_client(app, first_party=True, scope="openid email")
    rp = OAuth2Session(client_id, secret, scope="openid email", redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256")
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(f"{live_server}/authorize",
                                             code_verifier=verifier, **options)
    return rp, url, state, verifier


def redeem_at_the_app(rp, live_server, browser, location: str, state: str, verifier: str):
    """Follow `location` (the authorization request) to the app and redeem its code;
    return the claims the app then reads at userinfo."""
    assert urlsplit(location).path == "/authorize", location
    answer = follow_to_client(browser, urljoin(live_server, location))
    assert answer["state"] == state and "code" in answer
    token = rp.fetch_token(f"{live_server}/token", code=answer["code"], code_verifier=verifier)
    assert token["id_token"]
    return rp.get(f"{live_server}/userinfo", timeout=10).json()


def post(browser, live_server, page, path: str, **data) -> requests.Response:
    return browser.post(urljoin(live_server, path), timeout=10, allow_redirects=False,
                        data={"csrf_token": csrf_token(page.text), **data})


# ---- end to end with a real client ---------------------------------------------------------

def test_signing_up_from_an_app_lands_back_in_the_app(app, live_server):
    rp, url, state, verifier = relying_party(app, live_server)
    browser = requests.Session()
    login = browser.get(url, timeout=10)
    assert urlsplit(login.url).path == "/login"
    signup = browser.get(urljoin(live_server, href(login.text, "Create an account")), timeout=10)
    started = post(browser, live_server, signup, form_action(signup.text),
                   identifier=NEW_EMAIL, password=STRONG_PASSWORD)
    assert started.status_code == 303 and started.headers["Location"] == "/signup/verify"
    code_page = browser.get(f"{live_server}/signup/verify", timeout=10)
    done = post(browser, live_server, code_page, "/signup/verify",
                code=last_code(app, NEW_EMAIL))
    assert done.status_code == 303
    claims = redeem_at_the_app(rp, live_server, browser, done.headers["Location"], state,
                               verifier)
    assert claims["email"] == NEW_EMAIL


def test_a_required_action_after_login_lands_back_in_the_app(app, live_server):
    """Support reset the authenticator app, and the customer has since set a new password
    (so a password login may enrol one): log in, set up the app, then the app's code."""
    with app.app_context():
        customer = make_customer(email="ada@example.com")
        support.add_required_action(customer, support.CONFIGURE_TOTP)
        record_event("mfa.reset", TEST_ORIGIN, customer.customer_id)
        set_password(customer, NEW_PASSWORD, TEST_ORIGIN)
        db.session.commit()
        pk = customer.id
    rp, url, state, verifier = relying_party(app, live_server)
    browser = requests.Session()
    login = browser.get(url, timeout=10)
    logged_in = post(browser, live_server, login, form_action(login.text),
                     identifier="ada@example.com", password=NEW_PASSWORD)
    assert urlsplit(logged_in.headers["Location"]).path == "/authorize"
    enrol = browser.get(urljoin(live_server, logged_in.headers["Location"]), timeout=10)
    assert urlsplit(enrol.url).path == "/account/security/totp", enrol.url
    with app.app_context():
        row = db.session.get(TotpCredential, pk)
        secret = unseal(row.secret_sealed, f"totp:{pk}").decode()
    confirmed = post(browser, live_server, enrol, "/account/security/totp",
                     code=pyotp.TOTP(secret).now())
    assert confirmed.status_code == 200, confirmed.text[:300]
    back = browser.get(f"{live_server}/account", timeout=10, allow_redirects=False)
    assert back.status_code == 303
    claims = redeem_at_the_app(rp, live_server, browser, back.headers["Location"], state,
                               verifier)
    assert claims["email"] == "ada@example.com"
    with app.app_context():
        assert db.session.get(Customer, pk).required_actions == []


def test_resetting_a_password_by_email_from_an_app_lands_back_in_the_app(app, live_server):
    """Forgot the password at an app's login: the email code, the new password, the login
    and then the app's code, which the app (Authlib) redeems at the live server. The
    browser here is the Flask test client: its buffered posts run the work the reset
    leaves until after the response, so the emailed code is in the outbox at once."""
    with app.app_context():
        make_customer(email="ada@example.com")
    rp, url, state, verifier = relying_party(app, live_server)
    browser = app.test_client()

    def submit(path: str, **data):
        page = browser.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return browser.post(path, data={"csrf_token": csrf_token(page.text), **data},
                            buffered=True)

    to_login = browser.get(url.removeprefix(live_server))
    login = browser.get(to_login.location)
    reset_link = href(login.text, "Forgot your password?")   # carries the app's request
    sent = submit(reset_link, identifier="ada@example.com")
    assert sent.status_code == 303 and sent.location.endswith("/recover/code")
    proved = submit("/recover/code", code=last_code(app, "ada@example.com"))
    assert proved.status_code == 303 and proved.location.endswith("/recover/password")
    changed = submit("/recover/password", password=NEW_PASSWORD)
    assert changed.status_code == 303 and urlsplit(changed.location).path == "/login"
    logged_in = submit(changed.location, identifier="ada@example.com",
                       password=NEW_PASSWORD)
    assert urlsplit(logged_in.location).path == "/authorize", logged_in.location
    answer = browser.get(logged_in.location)
    assert answer.status_code in (302, 303) and answer.location.startswith(REDIRECT_URI)
    query = {k: v[0] for k, v in parse_qs(urlsplit(answer.location).query).items()}
    assert query["state"] == state
    token = rp.fetch_token(f"{live_server}/token", code=query["code"], code_verifier=verifier)
    claims = rp.get(f"{live_server}/userinfo", timeout=10).json()
    assert token["id_token"] and claims["email"] == "ada@example.com"


# ---- the pieces, through the test client ---------------------------------------------------

NEXT = "/authorize?" + urlencode({"response_type": "code", "client_id": "c1",
                                  "redirect_uri": REDIRECT_URI, "state": "s"})


@pytest.mark.parametrize(("page", "links"), [
    ("/login", ("Create an account", "Forgot your password?")),
    ("/signup", ("Log in",)),
])
def test_links_from_the_login_and_sign_up_pages_carry_next(client, page, links):
    response = client.get(f"{page}?{urlencode({'next': NEXT})}")
    for link_text in links:
        target = urlsplit(href(response.text, link_text))
        assert parse_qs(target.query)["next"] == [NEXT], link_text
    assert parse_qs(urlsplit(form_action(response.text)).query).get("next", [NEXT]) == [NEXT]


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_an_unsafe_next_is_never_carried(app, client, unsafe):
    response = client.get(f"/signup?{urlencode({'next': unsafe})}")
    assert "evil" not in response.text
    started = client.post(f"/signup?{urlencode({'next': unsafe})}", data={
        "csrf_token": csrf_token(response.text), "identifier": NEW_EMAIL,
        "password": STRONG_PASSWORD})
    assert started.status_code == 303
    page = client.get("/signup/verify")
    done = client.post("/signup/verify", data={"csrf_token": csrf_token(page.text),
                                               "code": last_code(app, NEW_EMAIL)})
    assert done.status_code == 303 and done.location == "/account"


def test_a_bad_code_keeps_next_and_changes_nothing(app, client):
    page = client.get(f"/signup?{urlencode({'next': NEXT})}")
    client.post(form_action(page.text), data={"csrf_token": csrf_token(page.text),
                                              "identifier": NEW_EMAIL,
                                              "password": STRONG_PASSWORD})
    code_page = client.get("/signup/verify")
    wrong = client.post("/signup/verify", data={"csrf_token": csrf_token(code_page.text),
                                                "code": "000000"})
    assert wrong.status_code == 400 and 'class="error"' in wrong.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Identifier)) == 0
    done = client.post("/signup/verify", data={"csrf_token": csrf_token(code_page.text),
                                               "code": last_code(app, NEW_EMAIL)})
    assert done.status_code == 303 and done.location == NEXT


def test_a_password_reset_started_from_an_app_logs_in_back_to_it(app, client):
    """The reset pages keep `next` in the signed session (login_session.keep_next); the
    login after the reset carries it on."""
    response = client.get(f"/recover?{urlencode({'next': NEXT})}")
    assert response.status_code == 200
    with client.session_transaction() as session:
        assert session["reset_next"] == NEXT
    client.get("/recover")  # a reset started without an app forgets it
    with client.session_transaction() as session:
        assert "reset_next" not in session


@pytest.mark.parametrize(("action", "page", "way_forward"), [
    (support.UPDATE_PASSWORD, "/account/required/password", "/recover"),
    (support.CONFIGURE_TOTP, "/account/required/totp", "/login"),
])
def test_the_proof_page_of_a_required_action_keeps_the_apps_request(app, action, page,
                                                                     way_forward):
    """A session that proved no verified channel (a texted code) cannot do the action
    here: the way forward (a reset, or logging in again with two factors) comes back to
    the app's request."""
    with app.app_context():
        customer = make_customer(email="ada@example.com")
        support.add_required_action(customer, action)
        record_event("mfa.reset", TEST_ORIGIN, customer.customer_id)
        token = start_session(customer, ["otp"], ACR_SINGLE_FACTOR, TEST_ORIGIN)
        db.session.commit()
    browser = app.test_client()
    browser.set_cookie(COOKIE_NAME, token)
    proof = browser.get(f"{page}?{urlencode({'next': NEXT})}")
    assert proof.status_code == 403
    links = [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', proof.text)]
    onward = next(link for link in links if link.startswith(way_forward))
    target = parse_qs(urlsplit(onward).query)["next"][0]
    if way_forward == "/login":  # logging in again comes back to this page, then the app
        assert urlsplit(target).path == page
        target = parse_qs(urlsplit(target).query)["next"][0]
    assert target == NEXT
