"""The identifier service shared by the account pages and the admin API
(app/directory/identifier_changes.py), called directly: the "last way in" rule by who
acts, and notices that go out only when the caller commits. The pages and the API are
tested through HTTP in tests/web/test_account_identifiers.py and
tests/admin/test_directory_views.py."""
import pytest

from app.directory import identifier_changes
from app.directory.customers import add_identifier, normalize_identifier
from app.extensions import db
from app.platform.audit import Origin
from tests.factories import make_customer
from tests.helpers import read_outbox

CUSTOMER = Origin(actor="customer", ip="127.0.0.1", user_agent="pytest")
SUPPORT = Origin(actor="admin:support-desk")


def identifier_of(customer, kind: str):
    return next(row for row in customer.identifiers if row.kind == kind)


def test_a_customer_cannot_remove_their_last_way_to_log_in(app, app_context):
    customer = make_customer(email="ada@example.com", password=None)
    add_identifier(customer, normalize_identifier("phone", "+14155552671"), CUSTOMER)
    db.session.commit()
    email = identifier_of(customer, "email")
    # Without a password, an unverified phone is no way in: the email must stay.
    with pytest.raises(identifier_changes.LastWayIn, match="last way you can log in"):
        identifier_changes.remove(customer, email.id, CUSTOMER)


def test_support_may_remove_a_way_in_but_not_the_only_identifier(app, app_context):
    customer = make_customer(email="ada@example.com", password=None)
    add_identifier(customer, normalize_identifier("phone", "+14155552671"), SUPPORT)
    db.session.commit()
    removed = identifier_changes.remove(customer, identifier_of(customer, "email").id,
                                        SUPPORT)
    assert removed.value == "ada@example.com"
    with pytest.raises(identifier_changes.LastWayIn, match="only way"):
        identifier_changes.remove(customer, identifier_of(customer, "phone").id, SUPPORT)


def test_notices_wait_for_the_commit_and_a_rollback_sends_none(app, app_context):
    customer = make_customer(email="ada@example.com", phone="+14155552671")
    identifier_changes.remove(customer, identifier_of(customer, "phone").id, CUSTOMER)
    assert read_outbox(app) == []
    db.session.rollback()
    assert read_outbox(app) == []
    identifier_changes.remove(customer, identifier_of(customer, "phone").id, CUSTOMER)
    db.session.commit()
    [notice] = read_outbox(app)
    assert notice["subject"] == "A phone number was removed from your account"


def test_an_identifier_of_another_kind_or_customer_is_none(app, app_context):
    ada = make_customer(email="ada@example.com", username="ada_l")
    grace = make_customer(email="grace@example.com")
    username = identifier_of(ada, "username")
    assert identifier_changes.remove(ada, username.id, CUSTOMER, kinds=("phone", "email")) \
        is None
    assert identifier_changes.remove(ada, identifier_of(grace, "email").id, SUPPORT) is None
