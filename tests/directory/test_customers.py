"""The customer directory: IDs, identifiers, linked accounts and lookups."""
import threading

import pytest
from sqlalchemy import func, select

from app.directory.customers import (CustomerError, IdentifierTaken, add_identifier,
                                     create_customer, find_customer, link_account,
                                     normalize_identifier, remove_identifier, unlink_account,
                                     verify_identifier)
from app.extensions import db
from app.identity import customer_ids
from app.models import AuditEvent, Customer, Identifier
from tests.factories import TEST_ORIGIN, make_customer


def events(customer_id: str) -> list[str]:
    return list(db.session.scalars(
        select(AuditEvent.event).where(AuditEvent.customer_id == customer_id)
        .order_by(AuditEvent.id)))


def test_create_customer_assigns_a_valid_permanent_id(app_context):
    customer = make_customer()
    assert customer_ids.is_valid(customer.customer_id)
    assert len(customer.customer_id) == 13
    assert events(customer.customer_id)[:2] == ["customer.created", "identifier.added"]


def test_customer_id_collision_at_insert_is_retried(app_context, monkeypatch):
    """If the generator draws an ID that exists, the unique index refuses it and a new
    one is drawn; the existing customer is untouched."""
    first = make_customer()
    draws = iter([first.customer_id, first.customer_id])
    real_generate = customer_ids.generate
    monkeypatch.setattr(customer_ids, "generate", lambda: next(draws, None) or real_generate())
    second = create_customer(TEST_ORIGIN, "Grace", "Hopper")
    db.session.commit()
    assert second.customer_id != first.customer_id
    assert customer_ids.is_valid(second.customer_id)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 2


def test_customer_id_never_reissued_gives_up_cleanly(app_context, monkeypatch):
    """A generator stuck on a taken ID ends in a clear error, not a loop or a crash."""
    first = make_customer()
    monkeypatch.setattr(customer_ids, "generate", lambda: first.customer_id)
    with pytest.raises(CustomerError, match="customer ID"):
        create_customer(TEST_ORIGIN)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


@pytest.mark.parametrize("query", [
    "ada@example.com", "  ADA@Example.COM ", "+1 415 555 2671", "(415) 555-2671",
    "tel:+1-415-555-2671", "ada.l", "ADA.L", "billing:ACC-1001", " billing : ACC-1001 ",
])
def test_find_customer_in_any_spelling(app_context, query):
    customer = make_customer(phone="+14155552671", username="Ada.L")
    link_account(customer, "billing", "ACC-1001", TEST_ORIGIN)
    db.session.commit()
    assert find_customer(query).id == customer.id


def test_find_customer_by_customer_id_in_any_spelling(app_context):
    customer = make_customer()
    # An ID with a 0 or 1 to misread as o or l, and a digit 2-9 that stays a digit (an ID
    # without digits reads as a username): a random one lacks these about 1 time in 40.
    customer.customer_id = next(candidate for candidate in iter(customer_ids.generate, None)
                                if set(candidate) & set("01") and set(candidate) & set("23456789"))
    db.session.commit()
    grouped = customer_ids.format_for_people(customer.customer_id)
    for spelling in (customer.customer_id, grouped, grouped.lower(),
                     " ".join(grouped.split("-")),
                     customer.customer_id.replace("1", "l").replace("0", "o")):
        assert find_customer(spelling).id == customer.id


def test_mistyped_customer_id_is_refused_before_lookup(app_context):
    customer = make_customer()
    body = customer.customer_id
    # Change a symbol whose loss still leaves a digit: an ID without digits would read as
    # a username (looks_like_customer_id), and this test is about the check symbol.
    position = next(i for i in range(len(body))
                    if any(ch.isdigit() for j, ch in enumerate(body) if j != i))
    mistyped = body[:position] + ("X" if body[position] != "X" else "Y") + body[position + 1:]
    with pytest.raises(CustomerError, match="check symbol"):
        find_customer(mistyped)


@pytest.mark.parametrize("query", ["nobody@example.com", "+44 7911 123456", "billing:NOPE",
                                   "someone"])
def test_find_customer_unknown_returns_none(app_context, query):
    make_customer()
    assert find_customer(query) is None


@pytest.mark.parametrize("query, message", [
    ("", "Give a customer ID"),
    ("x" * 400, "Give a customer ID"),
    ("not an email@", "@ sign"),
    ("+1 555", "phone"),
])
def test_find_customer_bad_input(app_context, query, message):
    with pytest.raises(CustomerError, match=message):
        find_customer(query)


def test_identifier_is_active_on_one_customer_only(app_context):
    make_customer(email="ada@example.com")
    other = create_customer(TEST_ORIGIN)
    with pytest.raises(IdentifierTaken):
        add_identifier(other, normalize_identifier("email", "ADA@EXAMPLE.com"), TEST_ORIGIN)


def test_unique_index_enforces_one_customer_even_without_the_check(app_context):
    """The database, not only the service's lookup, refuses a second active value."""
    from sqlalchemy.exc import IntegrityError

    first = make_customer(email="ada@example.com")
    other = create_customer(TEST_ORIGIN)
    db.session.commit()
    db.session.add(Identifier(customer=other, kind="email", value="Ada@example.com",
                              match_key=first.identifiers[0].match_key))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(("first", "second"), [
    ("Straße@example.com", "strasse@example.com"),   # casefold would merge them
    ("oﬃce@example.com", "office@example.com"),     # so would NFKC (the ﬃ ligature)
])
def test_different_mailboxes_are_different_identifiers(app_context, first, second):
    """Each address gets its own customer, and each is found by its own spelling only."""
    one = make_customer(email=first)
    other = make_customer(email=second)
    assert find_customer(first.capitalize().replace(".com", ".COM")) == one
    assert find_customer(second.capitalize().replace(".com", ".COM")) == other
    assert (one.identifiers[0].match_key, other.identifiers[0].match_key) == \
        (first.lower(), second)


@pytest.mark.parametrize("lookalike", ["alıce", "a1ice", "ALIce"])
def test_a_username_like_one_in_use_is_refused(app_context, lookalike):
    """TS #39 skeletons: dotless ı, digit 1 for l; plain case is the same username."""
    make_customer(email="ada@example.com", username="alice")
    other = create_customer(TEST_ORIGIN)
    with pytest.raises(IdentifierTaken, match="belongs to another account|looks too much"):
        add_identifier(other, normalize_identifier("username", lookalike), TEST_ORIGIN)
    assert find_customer("alice").identifiers[1].skeleton == "alice"


def test_a_mixed_script_username_is_refused(app_context):
    with pytest.raises(CustomerError, match="one script"):
        normalize_identifier("username", "аlice")  # Cyrillic а


def test_the_skeleton_index_refuses_a_lookalike_even_without_the_check(app_context):
    """The database, not only the service's lookup, refuses a second look-alike."""
    from sqlalchemy.exc import IntegrityError

    make_customer(email="ada@example.com", username="alice")
    other = create_customer(TEST_ORIGIN)
    db.session.commit()
    db.session.add(Identifier(customer=other, kind="username", value="a1ice",
                              match_key="a1ice", skeleton="alice"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_concurrent_claims_of_one_identifier_leave_one_owner(app):
    """Two requests adding the same phone at once: exactly one wins."""
    with app.app_context():
        ids = [make_customer(email=f"c{i}@example.com").id for i in range(2)]
    barrier = threading.Barrier(2, timeout=30)
    outcomes = []

    def claim(customer_pk):
        with app.app_context():
            customer = db.session.get(Customer, customer_pk)
            # End the read transaction first: on SQLite it holds the write lock.
            db.session.commit()
            barrier.wait()
            try:
                add_identifier(customer, normalize_identifier("phone", "+14155552671"),
                               TEST_ORIGIN)
                db.session.commit()
                outcomes.append("added")
            except IdentifierTaken:
                db.session.rollback()
                outcomes.append("taken")

    threads = [threading.Thread(target=claim, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["added", "taken"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Identifier)
                                 .where(Identifier.kind == "phone")) == 1


def test_changing_identifiers_never_changes_the_customer_id(app_context):
    customer = make_customer(email="ada@example.com")
    original = customer.customer_id
    phone = add_identifier(customer, normalize_identifier("phone", "+14155552671"), TEST_ORIGIN)
    verify_identifier(phone, TEST_ORIGIN)
    remove_identifier(customer.identifiers[0], TEST_ORIGIN)
    db.session.commit()
    db.session.expire_all()
    assert customer.customer_id == original
    assert [i.kind for i in customer.identifiers] == ["phone"]
    assert phone.verified_at is not None
    assert "identifier.verified" in events(original)
    assert "identifier.removed" in events(original)


def test_removed_identifier_is_free_for_another_customer(app_context):
    customer = make_customer(email="ada@example.com", phone="+14155552671")
    email = next(i for i in customer.identifiers if i.kind == "email")
    remove_identifier(email, TEST_ORIGIN)
    db.session.commit()
    newcomer = make_customer(email="ada@example.com")
    assert find_customer("ada@example.com").id == newcomer.id


def test_last_identifier_cannot_be_removed(app_context):
    customer = make_customer(email="ada@example.com")
    with pytest.raises(CustomerError, match="only way"):
        remove_identifier(customer.identifiers[0], TEST_ORIGIN)


def test_linked_account_unique_per_system(app_context):
    ada = make_customer(email="ada@example.com")
    grace = make_customer(email="grace@example.com")
    link_account(ada, "billing", "ACC-1", TEST_ORIGIN)
    link_account(grace, "crm", "ACC-1", TEST_ORIGIN)   # same number, other system: fine
    db.session.commit()
    with pytest.raises(CustomerError, match="already linked"):
        link_account(grace, "Billing", " ACC-1 ", TEST_ORIGIN)
    assert find_customer("billing:ACC-1").id == ada.id
    assert find_customer("crm:ACC-1").id == grace.id


def test_unlink_account(app_context):
    ada = make_customer()
    linked = link_account(ada, "billing", "ACC-1", TEST_ORIGIN)
    db.session.commit()
    unlink_account(linked, TEST_ORIGIN)
    db.session.commit()
    assert find_customer("billing:ACC-1") is None
    assert "linked_account.removed" in events(ada.customer_id)


@pytest.mark.parametrize("system, number, message", [
    ("", "1", "system name"),
    ("has space", "1", "system name"),
    ("billing", "", "account number"),
    ("billing", "x" * 129, "account number"),
    ("billing", "A\x00B", "control characters"),
])
def test_linked_account_bad_input(app_context, system, number, message):
    ada = make_customer()
    with pytest.raises(CustomerError, match=message):
        link_account(ada, system, number, TEST_ORIGIN)


def test_username_shaped_like_a_customer_id_is_refused(app_context):
    with pytest.raises(CustomerError, match="customer ID"):
        normalize_identifier("username", "abcd1234efgh5")
