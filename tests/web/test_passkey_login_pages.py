"""The passkey login and recovery pages through the Flask test client, with a software
authenticator (tests/fakes/authenticator.py) as the customer's device. The browser walks
are in test_passkey_login_browser.py."""
from __future__ import annotations

import json

from sqlalchemy import select

from app.auth.levels import ACR_PHISHING_RESISTANT
from app.extensions import db
from app.models import AuditEvent, PasswordCredential
from tests.factories import STRONG_PASSWORD, make_customer, make_passkey
from tests.fakes import authenticator
from tests.helpers import csrf_token, last_code

ORIGIN = "http://localhost:5000"  # the tests' issuer (app/config.py's default)
EMAIL, PHONE = "ada@example.com", "+447400123456"


def options(client, path: str, page: str) -> tuple[int, dict]:
    """What passkeys.js gets from an options endpoint, with the CSRF token of `page`."""
    token = csrf_token(client.get(page).text)
    answer = client.post(path, headers={"X-CSRFToken": token})
    return answer.status_code, answer.get_json()


def answer(client, path: str, page: str, credential: str):
    return client.post(path, data={"csrf_token": csrf_token(client.get(page).text),
                                   "credential": credential})


def test_a_passkey_login_leaves_a_password_typed_meanwhile_alone(app):
    """The login page asks for passkey options as it loads (autofill); a password sent
    meanwhile goes on in its own flow, and the passkey's answer in the other."""
    with app.app_context():
        soft = make_passkey(make_customer())
    client = app.test_client()
    status, first = options(client, "/login/passkey/options?next=/account/activity", "/login")
    assert status == 200 and first["allowCredentials"] == [] and first["rpId"] == "localhost"
    login = client.get("/login?acr=2fa")
    typed = client.post("/login?acr=2fa", data={"csrf_token": csrf_token(login.text),
                                                "identifier": EMAIL, "password": STRONG_PASSWORD})
    assert typed.location.endswith("/login/second-factor")
    # The second step offers the passkey first, with only Ada's passkeys allowed.
    page = client.get("/login/second-factor")
    assert 'data-options-url="/login/passkey/options?second=1"' in page.text
    status, second = options(client, "/login/passkey/options?second=1", "/login/second-factor")
    assert [c["id"] for c in second["allowCredentials"]] == \
        [authenticator.b64url(soft.credential_id)]
    done = answer(client, "/login/passkey?second=1", "/login/second-factor",
                  authenticator.get(soft, json.dumps(second), ORIGIN))
    assert done.status_code == 303 and done.location == "/account"
    with app.app_context():
        succeeded = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.succeeded")).all()
    assert [e.details for e in succeeded] == [{"amr": ["pwd", "hwk", "user", "mfa"],
                                               "acr": ACR_PHISHING_RESISTANT}]


def test_a_refused_passkey_says_so_and_does_not_ask_again_by_itself(app):
    with app.app_context():
        make_customer()
    stranger = authenticator.SoftPasskey(rp_id="localhost", user_handle=b"u" * 32)
    client = app.test_client()
    _status, asked = options(client, "/login/passkey/options", "/login")
    refused = answer(client, "/login/passkey", "/login",
                     authenticator.get(stranger, json.dumps(asked), ORIGIN))
    assert refused.status_code == 401
    assert "That passkey could not log you in" in refused.text
    assert "data-passkey-autofill" not in refused.text  # no loop of automatic prompts
    # Bad input at the endpoint: nothing but "start again" or the same refusal.
    # (A body over the request limit is refused before the view: 413.)
    for credential in ("", "{", json.dumps({"id": 1}), "x" * 70_000):
        _status, asked = options(client, "/login/passkey/options", "/login")
        bad = answer(client, "/login/passkey", "/login", credential)
        assert bad.status_code in (303, 401, 413), credential[:20]
        assert "/account" not in (bad.location or "")


def test_recovery_offers_the_passkey_first(app):
    """A passkey is the way back in without a reset; where a reset asks for a second
    factor (a texted code the lookup could not vouch for), the passkey is it."""
    with app.app_context():
        soft = make_passkey(make_customer(phone=PHONE))
        before = db.session.scalar(select(PasswordCredential.password_hash))
    client = app.test_client()
    first = client.get("/recover").text
    assert first.index("Do you have a passkey?") < first.index("Email address or phone number")
    assert "/login/passkey?next=/account/security/password" in first

    page = client.get("/recover")
    client.post("/recover", data={"csrf_token": csrf_token(page.text), "identifier": PHONE},
                buffered=True)
    page = client.get("/recover/code")
    proved = client.post("/recover/code", data={"csrf_token": csrf_token(page.text),
                                                "code": last_code(app, PHONE)})
    assert proved.location.endswith("/recover/second-factor")
    second = client.get("/recover/second-factor").text
    assert "Confirm it is you with your passkey." in second
    _status, asked = options(client, "/recover/passkey/options", "/recover/second-factor")
    done = answer(client, "/recover/passkey", "/recover/second-factor",
                  authenticator.get(soft, json.dumps(asked), ORIGIN))
    assert done.status_code == 303 and done.location.endswith("/recover/password")
    with app.app_context():
        assert db.session.scalar(select(PasswordCredential.password_hash)) == before


def test_an_ip_address_issuer_shows_no_passkey(make_app):
    app = make_app(ISSUER="http://127.0.0.1:5000")
    client = app.test_client()
    for path in ("/login", "/recover"):
        assert "data-passkey" not in client.get(path).text
    status, body = options(client, "/login/passkey/options", "/login")
    assert status == 400 and body == {"error": "Passkeys are not available on this server."}


def test_discovery_names_the_passkey_methods_and_levels(app):
    document = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert {"hwk", "swk", "user", "mfa", "pwd"} <= set(document["amr_values_supported"])
    assert "urn:tessera:acr:phr" in document["acr_values_supported"]
