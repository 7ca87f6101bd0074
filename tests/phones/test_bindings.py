"""Phone bindings (app/phones/bindings.py) kept in step with phone identifiers, their
history and events, the database rule of one active login binding per number, and the
recycled-number takeover (customers.take_over_phone)."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth import flow
from app.directory.customers import normalize_identifier, remove_identifier, take_over_phone
from app.extensions import db
from app.models import AuditEvent, Identifier, PhoneBinding, PhoneEvent
from app.models.phone import ACTIVE, LOGIN, RECYCLED, RELEASED
from app.phones import bindings
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import last_code, read_outbox

PHONE = "+447400123456"


def events_of(binding: PhoneBinding) -> list[str]:
    return [e.event for e in db.session.scalars(
        select(PhoneEvent).where(PhoneEvent.binding_id == binding.id).order_by(PhoneEvent.id))]


def test_a_verified_phone_gets_an_active_login_binding(app_context):
    customer = make_customer(phone=PHONE)
    [binding] = bindings.bindings_of(customer)
    assert (binding.e164, binding.status, binding.usage) == (PHONE, ACTIVE, LOGIN)
    assert binding.number_type == "mobile" and binding.region == "GB"
    assert binding.first_verified_at and binding.last_verified_at
    assert events_of(binding) == ["bound", "verified"]


def test_removing_the_phone_releases_the_binding_and_keeps_its_history(app_context):
    customer = make_customer(phone=PHONE)
    identifier = db.session.scalar(select(Identifier).where(Identifier.value == PHONE))
    remove_identifier(identifier, TEST_ORIGIN)
    db.session.commit()
    [binding] = bindings.bindings_of(customer)
    assert binding.status == RELEASED and binding.released_at is not None
    assert events_of(binding)[-1] == "released"
    assert bindings.active_binding(PHONE) is None


def test_the_database_allows_one_active_login_binding_per_number(app_context):
    make_customer(phone=PHONE)
    other = make_customer(email="bob@example.com")
    db.session.add(PhoneBinding(customer_pk=other.id, e164=PHONE, status=ACTIVE, usage=LOGIN))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # A contact-only or a released binding of the same number is fine.
    db.session.add(PhoneBinding(customer_pk=other.id, e164=PHONE, status=ACTIVE,
                                usage="contact"))
    db.session.add(PhoneBinding(customer_pk=other.id, e164=PHONE, status=RELEASED,
                                usage=LOGIN))
    db.session.commit()


def test_a_new_holder_takes_over_a_recycled_number(app):
    with app.app_context():
        old = make_customer(email="old@example.com", phone=PHONE)
        new = make_customer(email="new@example.com")
        identifier, previous = take_over_phone(new, normalize_identifier("phone", PHONE),
                                               TEST_ORIGIN)
        db.session.commit()
        assert previous.id == old.id and identifier.customer_pk == new.id
        [old_binding] = bindings.bindings_of(old)
        assert old_binding.status == RECYCLED and events_of(old_binding)[-1] == "recycled"
        assert bindings.active_binding(PHONE).customer_pk == new.id
        assert [i.value for i in old.identifiers] == ["old@example.com"]
        recycled = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "phone.recycled")).all()
        assert [e.customer_id for e in recycled] == [old.customer_id]
        assert "new@example.com" not in str(recycled[0].details)

        # An SMS login to the number now opens the new holder's account only.
        started = flow.begin(TEST_ORIGIN)
        flow.start_sms_login(started.flow, PHONE, TEST_ORIGIN)
        flow.prove_sms(started.flow, last_code(app, PHONE), TEST_ORIGIN)
        assert started.flow.customer_pk == new.id
    assert all("old@example.com" not in m["body"] for m in read_outbox(app)
               if m["to"] == PHONE)
