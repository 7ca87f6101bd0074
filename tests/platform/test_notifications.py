"""Messages about the customer's own account: the welcome message with the customer ID,
and security notices to every verified email address (app/platform/notifications.py)."""
from __future__ import annotations

from app.directory.customers import add_identifier, normalize_identifier
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer
from app.platform.notifications import notify_security_change
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import last_code, read_outbox
from tests.web.helpers import signup, submit_code, submit_signup


def test_the_welcome_email_tells_the_customer_id_grouped(app):
    client = app.test_client()
    assert signup(client, app, "grace@example.com").status_code == 303
    with app.app_context():
        customer = db.session.scalar(db.select(Customer))
        grouped = format_for_people(customer.customer_id)
    [welcome] = [m for m in read_outbox(app) if m.get("subject") == "Welcome: your customer ID"]
    assert welcome["to"] == "grace@example.com" and grouped in welcome["body"]


def test_a_phone_signup_is_welcomed_by_text_message(app):
    client = app.test_client()
    phone = "+447400123456"
    assert submit_signup(client, "+44 7400 123456", STRONG_PASSWORD).status_code == 303
    assert submit_code(client, last_code(app, phone)).status_code == 303
    with app.app_context():
        grouped = format_for_people(db.session.scalar(db.select(Customer)).customer_id)
    assert read_outbox(app)[-1]["to"] == phone and grouped in read_outbox(app)[-1]["body"]


def test_a_phone_signup_to_a_landline_is_refused_before_any_message(app):
    client = app.test_client()
    response = submit_signup(client, "+44 20 7183 8750", STRONG_PASSWORD)
    assert response.status_code == 400 and "landline" in response.text
    assert read_outbox(app) == []


def test_security_notices_go_to_every_verified_email_only(app):
    with app.app_context():
        customer = make_customer(email="ada@example.com")
        add_identifier(customer, normalize_identifier("email", "ada@work.example"), TEST_ORIGIN,
                       verified=True)
        add_identifier(customer, normalize_identifier("email", "unproved@example.com"),
                       TEST_ORIGIN, verified=False)
        db.session.commit()
        assert notify_security_change(customer, "totp_removed") == 2
        grouped = format_for_people(customer.customer_id)
    sent = read_outbox(app)
    assert sorted(m["to"] for m in sent) == ["ada@example.com", "ada@work.example"]
    assert all(grouped in m["body"] and "authenticator" in m["subject"] for m in sent)
