"""The communication consents service (app/directory/communication_consents.py): nothing is granted
until asked, each decision is one appended row with its source, actor and wording version,
an unchanged choice records nothing, withdrawing is as easy as giving, an older wording is
refused, unknown values are refused with nothing written. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.directory import communication_consents as consents
from app.directory.customers import CustomerError
from app.extensions import db
from app.models import AuditEvent, CommunicationConsent, Customer
from tests.factories import TEST_ORIGIN, make_customer

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CURRENT = consents.WORDINGS[("email", "marketing")].version
OLD_VERSION = "2020-01-01"


@pytest.fixture
def ada(app_context) -> Customer:
    return make_customer()


def rows(customer: Customer) -> list[tuple]:
    return [(r.channel, r.purpose, r.granted, r.source, r.actor, r.wording_version)
            for r in consents.history(customer)]


def consent_events() -> list[tuple[str, dict]]:
    return [(e.event, e.details) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.event.like("communication_consent.%"))
        .order_by(AuditEvent.id))]


def version_of(customer: Customer) -> int:
    return db.session.scalar(select(Customer.version).where(Customer.id == customer.id))


def state(customer: Customer, channel: str, purpose: str) -> consents.ConsentState:
    return next(s for s in consents.current(customer)
                if (s.channel, s.purpose) == (channel, purpose))


def add_old_grant(customer: Customer, channel: str, purpose: str) -> None:
    """A grant made under an earlier wording (as if the words changed since)."""
    db.session.add(CommunicationConsent(customer_pk=customer.id, channel=channel,
                                        purpose=purpose, granted=True,
                                        wording_version=OLD_VERSION, source="signup",
                                        actor="customer"))
    db.session.commit()


def test_every_wording_has_a_version_and_text_for_every_channel_and_purpose():
    assert set(consents.WORDINGS) == {(c, p) for c in consents.CHANNELS
                                      for p in consents.PURPOSES}
    for wording in consents.WORDINGS.values():
        assert wording.version and len(wording.version) <= 32 and wording.text


def test_nothing_is_granted_until_the_customer_chooses(ada):
    states = consents.current(ada)
    assert [(s.channel, s.purpose) for s in states] == [
        ("email", "marketing"), ("email", "service"), ("sms", "marketing"), ("sms", "service")]
    assert all(not s.granted and s.recorded_at is None and s.source is None
               and s.wording_version is None for s in states)
    assert consents.history(ada) == []


def test_giving_records_a_row_an_event_and_a_new_version(ada):
    before = version_of(ada)
    with time_machine.travel(START, tick=False):
        row = consents.record(ada, "email", "marketing", True, "account", TEST_ORIGIN)
        db.session.commit()

    assert row is not None
    assert rows(ada) == [("email", "marketing", True, "account", "test", CURRENT)]
    now = state(ada, "email", "marketing")
    assert (now.granted, now.recorded_at, now.source, now.wording_version) == (
        True, START, "account", CURRENT)
    assert not state(ada, "sms", "marketing").granted
    assert consent_events() == [("communication_consent.given", {
        "channel": "email", "purpose": "marketing", "source": "account",
        "wording_version": CURRENT})]
    assert version_of(ada) == before + 1


def test_an_unchanged_choice_records_nothing(ada):
    consents.record(ada, "sms", "service", True, "account", TEST_ORIGIN)
    db.session.commit()
    before = version_of(ada)

    assert consents.record(ada, "sms", "service", True, "admin", TEST_ORIGIN) is None
    # Never asked is not granted: withdrawing it changes nothing either.
    assert consents.record(ada, "email", "service", False, "account", TEST_ORIGIN) is None
    db.session.commit()

    assert len(rows(ada)) == 1
    assert len(consent_events()) == 1
    assert version_of(ada) == before


def test_withdrawing_is_one_call_like_giving_and_the_history_keeps_both(ada):
    with time_machine.travel(START, tick=False):
        consents.record(ada, "sms", "marketing", True, "signup", TEST_ORIGIN)
        db.session.commit()
    with time_machine.travel(START + timedelta(days=3), tick=False):
        row = consents.record(ada, "sms", "marketing", False, "account", TEST_ORIGIN)
        db.session.commit()

    assert row is not None and row.granted is False
    assert rows(ada) == [("sms", "marketing", True, "signup", "test", CURRENT),
                         ("sms", "marketing", False, "account", "test", CURRENT)]
    now = state(ada, "sms", "marketing")
    assert (now.granted, now.recorded_at, now.source) == (
        False, START + timedelta(days=3), "account")
    assert [name for name, _ in consent_events()] == [
        "communication_consent.given", "communication_consent.withdrawn"]


def test_decisions_in_one_instant_are_ordered_as_made(ada):
    with time_machine.travel(START, tick=False):
        consents.record(ada, "email", "marketing", True, "account", TEST_ORIGIN)
        consents.record(ada, "email", "marketing", False, "account", TEST_ORIGIN)
        consents.record(ada, "email", "marketing", True, "account", TEST_ORIGIN)
        db.session.commit()

    assert [r[2] for r in rows(ada)] == [True, False, True]
    assert state(ada, "email", "marketing").granted is True


def test_the_current_wording_may_be_named_and_an_older_one_is_refused(ada):
    row = consents.record(ada, "email", "service", True, "admin", TEST_ORIGIN,
                          wording_version=CURRENT)
    assert row is not None and row.wording_version == CURRENT
    db.session.commit()

    with pytest.raises(consents.OutdatedWording, match=CURRENT):
        consents.record(ada, "sms", "service", True, "admin", TEST_ORIGIN,
                        wording_version=OLD_VERSION)
    db.session.rollback()
    assert len(rows(ada)) == 1
    assert issubclass(consents.OutdatedWording, CustomerError)


def test_giving_again_after_the_wording_changed_records_the_new_wording(ada):
    add_old_grant(ada, "email", "marketing")
    assert state(ada, "email", "marketing").wording_version == OLD_VERSION

    row = consents.record(ada, "email", "marketing", True, "admin", TEST_ORIGIN)
    db.session.commit()

    assert row is not None
    assert state(ada, "email", "marketing").wording_version == CURRENT


BAD_VALUES = [
    ("unknown-channel", {"channel": "fax"}, "channel"),
    ("unknown-purpose", {"purpose": "surveys"}, "purpose"),
    ("unknown-source", {"source": "import"}, "source"),
    ("channel-not-a-string", {"channel": ["email"]}, "channel"),
    ("granted-not-a-bool", {"granted": "yes"}, "true or false"),
    ("granted-a-number", {"granted": 1}, "true or false"),
    ("wording-not-a-string", {"wording_version": 20261101}, "wording"),
]


@pytest.mark.parametrize(("changes", "message"), [case[1:] for case in BAD_VALUES],
                         ids=[case[0] for case in BAD_VALUES])
def test_unknown_values_are_refused_and_nothing_is_written(ada, changes, message):
    call = {"channel": "email", "purpose": "marketing", "granted": True,
            "source": "account"} | changes
    wording = call.pop("wording_version", None)
    before = version_of(ada)

    with pytest.raises(CustomerError, match=message):
        consents.record(ada, call["channel"], call["purpose"], call["granted"],
                        call["source"], TEST_ORIGIN, wording_version=wording)
    db.session.commit()

    assert rows(ada) == []
    assert consent_events() == []
    assert version_of(ada) == before


@pytest.mark.parametrize("status", ["erased", "merged"])
def test_an_erased_or_merged_customer_cannot_consent(ada, status):
    ada.status = status
    db.session.commit()

    with pytest.raises(CustomerError, match=status):
        consents.record(ada, "email", "marketing", True, "admin", TEST_ORIGIN)
    db.session.rollback()
    assert rows(ada) == []


# ---- save_choices: the account page's "Save" ----------------------------------------------

def test_save_choices_records_only_the_choices_that_changed(ada):
    consents.record(ada, "email", "marketing", True, "signup", TEST_ORIGIN)
    db.session.commit()
    wanted = {("email", "marketing"): True, ("email", "service"): False,
              ("sms", "marketing"): True, ("sms", "service"): False}

    recorded = consents.save_choices(ada, wanted, "account", TEST_ORIGIN)
    db.session.commit()

    assert [(r.channel, r.purpose, r.granted) for r in recorded] == [
        ("sms", "marketing", True)]
    assert consents.save_choices(ada, wanted, "account", TEST_ORIGIN) == []
    db.session.commit()
    assert len(rows(ada)) == 2


def test_save_choices_leaves_a_grant_under_an_older_wording_as_it_is(ada):
    """A box the customer left ticked is not a new agreement to words shown next to it."""
    add_old_grant(ada, "sms", "service")

    assert consents.save_choices(ada, {("sms", "service"): True}, "account",
                                 TEST_ORIGIN) == []
    db.session.commit()
    assert state(ada, "sms", "service").wording_version == OLD_VERSION


def test_save_choices_refuses_an_unknown_pair_before_writing_anything(ada):
    with pytest.raises(CustomerError, match="fax"):
        consents.save_choices(ada, {("email", "marketing"): True, ("fax", "marketing"): True},
                              "account", TEST_ORIGIN)
    db.session.rollback()
    assert rows(ada) == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.event.like("communication_consent.%"))) == 0
