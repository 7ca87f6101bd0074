"""Communication consents at sign-up (app/auth/signup.py, the sign-up page): two optional,
unticked boxes (marketing by email, by SMS) with the words agreed to; what is ticked
travels in the code's payload and is recorded (source "signup") in the transaction that
creates the account; an unticked box records nothing. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from app.auth.signup import start_signup
from app.directory import communication_consents as consents
from app.directory.customers import CustomerError
from app.extensions import db
from app.models import AuditEvent, CommunicationConsent, Customer, VerificationCode
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN
from tests.helpers import csrf_token, last_code, read_outbox
from tests.web.forms import parse_form

EMAIL = "grace@example.com"
CURRENT = consents.WORDINGS[("email", "marketing")].version


def start(client, *boxes: str, **extra):
    """Step 1 as a browser sends it, with `boxes` ticked; the POST response."""
    page = client.get("/signup")
    data = {"csrf_token": csrf_token(page.text), "identifier": EMAIL,
            "password": STRONG_PASSWORD,
            "wordings_shown": parse_form(page.text).inputs["wordings_shown"]["value"]}
    data.update({box: "y" for box in boxes})
    data.update(extra)
    return client.post("/signup", data=data)


def finish(client, code: str):
    """Step 2: the code; the POST response."""
    page = client.get("/signup/verify")
    return client.post("/signup/verify", data={"csrf_token": csrf_token(page.text),
                                               "code": code})


def decisions(app) -> list[tuple]:
    with app.app_context():
        return [(r.channel, r.purpose, r.granted, r.source, r.actor, r.wording_version)
                for r in db.session.scalars(select(CommunicationConsent)
                                            .order_by(CommunicationConsent.id))]


def pending_payload(app) -> dict | None:
    with app.app_context():
        return db.session.scalars(select(VerificationCode.payload)).one()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_the_signup_page_offers_two_unticked_boxes_with_the_words(client):
    response = client.get("/signup")

    page = parse_form(response.text)
    shown = " ".join(html.unescape(response.text).split())
    for name, pair in (("email_marketing", ("email", "marketing")),
                       ("sms_marketing", ("sms", "marketing"))):
        box = page.inputs[name]
        assert box["type"] == "checkbox" and "checked" not in box
        assert box["id"] in page.label_targets
        assert str(consents.WORDINGS[pair].text) in shown  # lazy (translated)
    assert "(optional)" in shown
    # Service messages are not asked for at sign-up.
    assert "email_service" not in page.inputs and "sms_service" not in page.inputs
    assert page.inputs["wordings_shown"]["value"] == consents.wordings_tag()


def test_without_the_boxes_nothing_is_recorded(app, client):
    assert start(client).status_code == 303
    assert pending_payload(app)["communication_consents"] == []

    response = finish(client, last_code(app, EMAIL))

    assert response.status_code == 303
    assert count(app, Customer) == 1
    assert decisions(app) == []
    with app.app_context():
        customer = db.session.scalars(select(Customer)).one()
        assert not any(state.granted for state in consents.current(customer))


@pytest.mark.parametrize("boxes", [("email_marketing",), ("email_marketing", "sms_marketing")])
def test_ticked_boxes_are_recorded_when_the_account_is_created(app, client, boxes):
    assert start(client, *boxes).status_code == 303
    # Nothing is recorded before the account exists; the choices wait in the payload.
    assert decisions(app) == []
    assert [(c["channel"], c["wording_version"])
            for c in pending_payload(app)["communication_consents"]] == [
        (box.split("_")[0], CURRENT) for box in boxes]

    response = finish(client, last_code(app, EMAIL))

    assert response.status_code == 303 and response.location == "/account"
    assert decisions(app) == [(box.split("_")[0], "marketing", True, "signup", "customer",
                               CURRENT) for box in boxes]
    with app.app_context():
        customer = db.session.scalars(select(Customer)).one()
        events = list(db.session.scalars(select(AuditEvent.event).where(
            AuditEvent.customer_id == customer.customer_id).order_by(AuditEvent.id)))
    assert events.count("communication_consent.given") == len(boxes)
    assert events.index("communication_consent.given") < events.index("signup.completed")
    assert pending_payload(app) is None
    assert client.get("/account/communications").status_code == 200


def test_a_wrong_code_creates_nothing_and_records_nothing(app, client):
    start(client, "email_marketing")
    code = last_code(app, EMAIL)
    wrong = "000000" if code != "000000" else "111111"

    response = finish(client, wrong)

    assert response.status_code == 400
    assert count(app, Customer) == 0 and decisions(app) == []
    assert finish(client, code).status_code == 303
    assert len(decisions(app)) == 1


def test_a_consent_to_words_changed_between_the_steps_is_dropped(app, client):
    """The customer saw words no longer in force: the account is made, the grant is not."""
    start(client, "email_marketing", "sms_marketing")
    with app.app_context():
        row = db.session.scalars(select(VerificationCode)).one()
        payload = dict(row.payload)
        payload["communication_consents"] = [
            dict(c, wording_version="2020-01-01") if c["channel"] == "sms" else c
            for c in payload["communication_consents"]]
        row.payload = payload
        db.session.commit()

    assert finish(client, last_code(app, EMAIL)).status_code == 303

    assert count(app, Customer) == 1
    assert [(d[0], d[2]) for d in decisions(app)] == [("email", True)]


def test_words_changed_while_the_page_was_open_are_asked_again(app, client):
    response = start(client, "sms_marketing", wordings_shown="sms.marketing=2020-01-01")

    assert response.status_code == 400
    assert "changed while the page was open" in html.unescape(response.text)
    assert count(app, VerificationCode) == 0 and read_outbox(app) == []
    assert parse_form(response.text).inputs["wordings_shown"]["value"] == consents.wordings_tag()
    # Nothing ticked, nothing agreed to: an old page still signs up.
    assert start(app.test_client(), wordings_shown="old").status_code == 303


def test_start_signup_refuses_a_choice_it_does_not_know(app_context):
    with pytest.raises(CustomerError, match="fax"):
        start_signup(EMAIL, "email", STRONG_PASSWORD, TEST_ORIGIN,
                     consents_given=[("fax", "marketing")])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(VerificationCode)) == 0
