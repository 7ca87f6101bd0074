"""Logging in with a passkey in Debian's chromium, with Chromium's virtual authenticator
(DevTools WebAuthn domain) as the customer's device: the button, autofill in the
identifier field, a passkey the account does not know, the passkey as the second factor
and as the way past a SIM-swap hold, and an app that asks for a phishing-resistant login
through a real OAuth client (Authlib's OAuth2Session)."""
from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.levels import ACR_PHISHING_RESISTANT
from app.extensions import db
from app.directory.customers import find_by_identifier
from app.models import AuditEvent, utcnow
from app.phones import bindings
from tests.factories import STRONG_PASSWORD, make_customer, store_passkey
from tests.fakes import authenticator
from tests.oidc.helpers import REDIRECT_URI, make_client
from tests.web.browser import VirtualAuthenticator, log_out, url_ending

EMAIL, PHONE = "ada@example.com", "+14155552671"
PASSKEY_BUTTON = "Sign in with a passkey"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seed_passkey(app, device: VirtualAuthenticator, email: str = EMAIL) -> None:
    """A passkey of the customer with `email`, held by `device` (a resident credential
    with its private key) and known to the server (its row, with the public key)."""
    rp_id = urlsplit(app.config["ISSUER"]).hostname
    soft = authenticator.SoftPasskey(rp_id=rp_id, user_handle=b"h" * 32)
    with app.app_context():
        store_passkey(find_by_identifier("email", email), soft)
    add_to_device(device, soft)


def add_to_device(device: VirtualAuthenticator, soft: authenticator.SoftPasskey) -> None:
    private = soft.key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    device.cdp.send("WebAuthn.addCredential", {"authenticatorId": device.id, "credential": {
        "credentialId": _b64(soft.credential_id), "isResidentCredential": True,
        "rpId": soft.rp_id, "privateKey": _b64(private), "userHandle": _b64(soft.user_handle),
        "signCount": 0}})


def without_autofill(page) -> None:
    """This page's browser offers no passkey autofill, as a customer who types their
    password instead: the virtual authenticator would answer autofill at once."""
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = undefined;")


def last_login(app) -> dict:
    """The amr and acr of the newest successful login."""
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.succeeded").order_by(AuditEvent.id.desc())).first()
        return event.details


def screenshots(tmp_path: Path) -> Path:
    """TESSERA_SCREENSHOTS (docs/screenshots for the README), else the test's own folder."""
    return Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)


def test_a_passkey_logs_in_by_the_button_and_by_autofill_and_a_stranger_is_refused(
        passkey_server, page, tmp_path):
    app, base = passkey_server
    with app.app_context():
        make_customer(EMAIL)
    device = VirtualAuthenticator(page)
    seed_passkey(app, device)

    # Autofill: the login page asks for a passkey with mediation "conditional" as it
    # loads, and the virtual authenticator answers at once, as a customer picking the
    # suggestion in the identifier field would.
    page.goto(f"{base}/login")
    page.wait_for_url(url_ending("/account"))
    assert last_login(app) == {"amr": ["hwk", "user", "mfa"], "acr": ACR_PHISHING_RESISTANT}

    # The button, in a browser without autofill for passkeys (from before logging out:
    # the page logging out lands on would otherwise log in again by autofill).
    without_autofill(page)
    log_out(page)
    page.goto(f"{base}/login")
    expect(page.locator("#identifier")).to_have_attribute("autocomplete", "username webauthn")
    page.screenshot(path=screenshots(tmp_path) / "passkey-login.png")
    page.get_by_role("button", name=PASSKEY_BUTTON).click()
    page.wait_for_url(url_ending("/account"))
    assert last_login(app)["amr"] == ["hwk", "user", "mfa"]
    log_out(page)

    # A passkey for this site that the server does not know (another device, or one
    # whose account is gone) reads like a wrong password, and the page says what next.
    device.remove()
    stranger = VirtualAuthenticator(page)
    add_to_device(stranger, authenticator.SoftPasskey(rp_id="localhost", user_handle=b"x" * 32))
    page.goto(f"{base}/login")
    page.get_by_role("button", name=PASSKEY_BUTTON).click()
    expect(page.get_by_role("alert")).to_contain_text("That passkey could not log you in")
    expect(page).to_have_url(url_ending("/login/passkey"))
    expect(page.get_by_role("button", name=PASSKEY_BUTTON)).to_be_visible()  # try again
    with app.app_context():
        reasons = [e.details.get("reason") for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.failed"))]
    assert "unknown_credential" in reasons


def test_a_passkey_is_the_second_factor_and_the_way_past_a_sim_swap_hold(passkey_server, page,
                                                                          tmp_path):
    app, base = passkey_server
    with app.app_context():
        customer = make_customer(EMAIL, phone=PHONE)
        bindings.hold_sms(bindings.binding_of(customer, PHONE), utcnow() + timedelta(days=7),
                          "sim_swap")
        db.session.commit()
    device = VirtualAuthenticator(page)
    seed_passkey(app, device)
    without_autofill(page)

    page.goto(f"{base}/login?acr=2fa")
    page.get_by_label("Email, phone number or username").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(url_ending("/login/second-factor"))
    expect(page.locator("main")).to_contain_text("its SIM card changed recently")
    expect(page.locator("main")).to_contain_text("Use your passkey instead.")
    expect(page.get_by_text("Text a code")).to_have_count(0)  # held: not offered
    page.screenshot(path=screenshots(tmp_path) / "passkey-second-factor.png")
    page.get_by_role("button", name="Use your passkey").click()
    page.wait_for_url(url_ending("/account"))
    assert last_login(app) == {"amr": ["pwd", "hwk", "user", "mfa"],
                               "acr": ACR_PHISHING_RESISTANT}


def test_an_app_asking_for_phishing_resistance_gets_it_only_from_a_passkey(passkey_server,
                                                                           page):
    app, base = passkey_server
    with app.app_context():
        make_customer(EMAIL)
        make_customer("bob@example.com")
    client_id, secret = make_client(app, first_party=True, scope="openid email")
    device = VirtualAuthenticator(page)
    seed_passkey(app, device)
    without_autofill(page)

    def authorize(email: str):
        rp = OAuth2Session(client_id, secret, scope="openid email", redirect_uri=REDIRECT_URI,
                           code_challenge_method="S256")
        verifier = generate_token(48)
        url, _state = rp.create_authorization_url(f"{base}/authorize", code_verifier=verifier,
                                                  acr_values=ACR_PHISHING_RESISTANT)
        page.goto(url)
        log_in_here(email)
        return rp, verifier

    def log_in_here(email: str):
        page.get_by_label("Email, phone number or username").fill(email)
        page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_url(url_ending("/login/second-factor"))

    # Bob has no passkey: the password alone does not do, and the page says what to do.
    authorize("bob@example.com")
    expect(page.locator("main")).to_contain_text("This app asks you to log in with a passkey")
    expect(page.locator("#other-methods")).to_have_count(0)

    # Ada has one: after her password, the passkey is the only way on.
    page.context.clear_cookies()
    rp, verifier = authorize(EMAIL)
    expect(page.locator("#other-methods")).to_have_count(0)
    # The app's redirect URI does not exist: the request the browser makes to it is the
    # app receiving the code.
    with page.expect_request(lambda request: request.url.startswith(REDIRECT_URI)) as back:
        page.get_by_role("button", name="Use your passkey").click()
    code = parse_qs(urlsplit(back.value.url).query)["code"][0]
    token = rp.fetch_token(f"{base}/token", code=code, code_verifier=verifier)
    claims = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[1] + "=="))
    assert claims["acr"] == ACR_PHISHING_RESISTANT
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
