"""The "Messages we may send you" page (app/web/consent_pages.py) through the Flask test
client: the four choices with the exact words agreed to and when each last changed,
ticking and unticking recorded on Save (source "account"), an unchanged Save recording
nothing, CSRF required, and words that changed while the page was open asked again.
Every test runs on SQLite and on PostgreSQL (`app`)."""
from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.directory import communication_consents as consents
from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.models import AuditEvent, CommunicationConsent, Customer
from app.web.consent_pages import SAVED, UNCHANGED
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token
from tests.web.forms import parse_form

ADA = "ada@example.com"
PAGE = "/account/communications"
BOXES = ("email_marketing", "email_service", "sms_marketing", "sms_service")
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


# ---- helpers -----------------------------------------------------------------------------

def ticked(page_html: str) -> dict[str, bool]:
    """Each box on the page: ticked or not."""
    inputs = parse_form(page_html).inputs
    return {name: "checked" in inputs[name] for name in BOXES}


def text(response) -> str:
    return " ".join(html.unescape(response.text).split())


@pytest.fixture
def clock():
    """Time stands at START (shift it to move on): "last changed" times are exact."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ada(app, clock) -> str:
    """A customer with only an email address; their customer ID."""
    with app.app_context():
        return make_customer(email=ADA).customer_id


@pytest.fixture
def browser(app, ada):
    """A test client logged in as Ada."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                           "identifier": ADA, "password": STRONG_PASSWORD})
    assert response.status_code == 303, response.text
    return client


def save(client, *boxes: str, **extra):
    """GET the page, then POST it with `boxes` ticked (what a browser sends)."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    form = parse_form(page.text).inputs
    data = {"csrf_token": csrf_token(page.text),
            "wordings_shown": form["wordings_shown"]["value"]}
    data.update({box: "y" for box in boxes})
    data.update(extra)
    return client.post(PAGE, data=data)


def decisions(app) -> list[tuple]:
    with app.app_context():
        return [(r.channel, r.purpose, r.granted, r.source, r.actor, r.wording_version)
                for r in db.session.scalars(select(CommunicationConsent)
                                            .order_by(CommunicationConsent.id))]


def state(app, customer_id: str) -> tuple:
    """What a refused or unchanged save must leave alone."""
    with app.app_context():
        return (db.session.scalar(select(Customer.version).where(
                    Customer.customer_id == customer_id)),
                db.session.scalar(select(func.count()).select_from(CommunicationConsent)),
                db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.event.like("communication_consent.%"))))


# ---- showing -----------------------------------------------------------------------------

def test_the_page_needs_a_login(client):
    response = client.get(PAGE)
    assert response.status_code == 303
    assert response.location.startswith("/login?next=")


def test_the_page_shows_every_choice_with_its_exact_words_and_nothing_ticked(browser):
    response = browser.get(PAGE)

    assert response.status_code == 200
    shown = text(response)
    for wording in consents.WORDINGS.values():
        assert str(wording.text) in shown  # the words are lazy (translated)
    assert ticked(response.text) == dict.fromkeys(BOXES, False)
    assert shown.count("Not chosen yet, so we do not send these.") == 4
    assert "Security notices about your account" in shown
    # Ada has no phone: the SMS choices say they apply to numbers she adds.
    assert "There is no confirmed phone number on your account yet" in shown
    assert "There is no confirmed email address" not in shown
    assert 'href="/account"' in response.text
    assert "no-store" in response.headers["Cache-Control"]


def test_every_box_is_labelled_and_the_page_has_no_inline_script(browser):
    response = browser.get(PAGE)

    assert "<script" not in response.text.lower() and "style=" not in response.text
    page = parse_form(response.text)
    for name in BOXES:
        box = page.inputs[name]
        assert box["type"] == "checkbox" and box["id"] in page.label_targets
        assert box["aria-describedby"] == f"{name}-changed"


def test_the_privacy_and_data_page_links_here(browser):
    account = browser.get("/account/data")
    assert f'href="{PAGE}"' in account.text
    assert browser.get(PAGE).status_code == 200


# ---- saving ------------------------------------------------------------------------------

def test_ticking_and_saving_gives_the_consents_and_says_so(app, ada, browser):
    response = save(browser, "email_marketing", "sms_service")

    assert response.status_code == 303 and response.location == PAGE
    current = consents.WORDINGS[("email", "marketing")].version
    assert decisions(app) == [
        ("email", "marketing", True, "account", "customer", current),
        ("sms", "service", True, "account", "customer", current)]
    page = browser.get(PAGE)
    assert str(SAVED) in text(page)
    assert ticked(page.text) == {"email_marketing": True, "email_service": False,
                                 "sms_marketing": False, "sms_service": True}
    assert text(page).count("Last changed 2030-01-07 09:00 UTC, on this page.") == 2


def test_unticking_and_saving_withdraws_as_easily(app, ada, browser, clock):
    save(browser, "email_marketing", "email_service")
    clock.shift(timedelta(minutes=25))
    response = save(browser, "email_service")

    assert response.status_code == 303
    assert [(d[0], d[1], d[2]) for d in decisions(app)] == [
        ("email", "marketing", True), ("email", "service", True),
        ("email", "marketing", False)]
    page = browser.get(PAGE)
    assert str(SAVED) in text(page)
    assert ticked(page.text)["email_marketing"] is False
    assert "Last changed 2030-01-07 09:25 UTC, on this page." in text(page)
    assert "Last changed 2030-01-07 09:00 UTC, on this page." in text(page)
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent.event).where(
            AuditEvent.customer_id == ada, AuditEvent.event.like("communication_consent.%"))
            .order_by(AuditEvent.id)))
    assert events == ["communication_consent.given", "communication_consent.given",
                      "communication_consent.withdrawn"]


@pytest.mark.parametrize("boxes", [(), ("sms_marketing",)])
def test_an_unchanged_save_records_nothing(app, ada, browser, boxes):
    save(browser, *boxes)
    before = state(app, ada)

    response = save(browser, *boxes)

    assert response.status_code == 303
    assert state(app, ada) == before
    assert str(UNCHANGED) in text(browser.get(PAGE))


def test_choices_made_elsewhere_are_shown_with_where_they_were_made(app, ada, browser):
    with app.app_context():
        customer = get_by_customer_id(ada)
        consents.record(customer, "email", "marketing", True, "signup", TEST_ORIGIN)
        consents.record(customer, "sms", "service", True, "admin", TEST_ORIGIN)
        # A grant to words shown before they changed: it stands, and the page says so.
        db.session.add(CommunicationConsent(
            customer_pk=customer.id, channel="email", purpose="service", granted=True,
            wording_version="2020-01-01", source="account", actor="customer",
            recorded_at=START))
        db.session.commit()

    page = browser.get(PAGE)

    shown = text(page)
    assert ticked(page.text) == {"email_marketing": True, "email_service": True,
                                 "sms_marketing": False, "sms_service": True}
    assert "Last changed 2030-01-07 09:00 UTC, when you signed up." in shown
    assert ("Last changed 2030-01-07 09:00 UTC, by our support team, at your request."
            in shown)
    assert shown.count("You agreed to an earlier wording of this choice") == 1
    # Saving as shown keeps that older grant as it is: ticked is not agreeing anew.
    before = state(app, ada)
    save(browser, "email_marketing", "email_service", "sms_service")
    assert state(app, ada) == before


# ---- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_a_save_without_a_valid_csrf_token_changes_nothing(app, ada, browser, token):
    page = browser.get(PAGE)
    data = {"email_marketing": "y",
            "wordings_shown": parse_form(page.text).inputs["wordings_shown"]["value"]}
    if token is not None:
        data["csrf_token"] = token
    before = state(app, ada)

    response = browser.post(PAGE, data=data)

    assert response.status_code == 400
    assert "Form expired" in response.text
    assert state(app, ada) == before


@pytest.mark.parametrize("shown", ["email.marketing=2020-01-01", ""])
def test_words_changed_while_the_page_was_open_are_asked_again(app, ada, browser, shown):
    before = state(app, ada)

    response = save(browser, "email_marketing", wordings_shown=shown)

    assert response.status_code == 400
    assert "changed while the page was open" in text(response)
    assert state(app, ada) == before
    # The page now carries the words in force, so saving it again goes through.
    form = parse_form(response.text).inputs
    assert form["wordings_shown"]["value"] == consents.wordings_tag()
    assert "checked" in form["email_marketing"]
    again = browser.post(PAGE, data={"csrf_token": csrf_token(response.text),
                                     "wordings_shown": form["wordings_shown"]["value"],
                                     "email_marketing": "y"})
    assert again.status_code == 303
    assert [(d[0], d[1], d[2]) for d in decisions(app)] == [("email", "marketing", True)]
