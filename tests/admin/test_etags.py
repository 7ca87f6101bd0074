"""ETags and If-Match on the admin API's writes: of two agents who read the same version,
the second to write gets 412 and changes nothing, also when both write at the same
instant; If-Match is required (428); another customer's, a weak or a garbage tag is 412,
`*` means "whatever it is now"; and a customer's own change (on the account page or
through any service) makes the ETag support holds stale."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from app.auth.login import set_password
from app.directory.customers import get_by_customer_id, link_account
from app.extensions import db
from app.models import AuditEvent
from tests.admin.helpers import assert_problem, auth, read_customer
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token


@pytest.fixture
def ada(app):
    with app.app_context():
        return make_customer(phone="+447400123456").customer_id


@pytest.fixture
def grace(app):
    with app.app_context():
        return make_customer(email="grace@example.com", given_name="Grace").customer_id


def patch(app, token: str, customer_id: str, if_match: str | None, **members):
    headers = auth(token) if if_match is None else auth(token, **{"If-Match": if_match})
    return app.test_client().patch(f"/admin/api/customers/{customer_id}", headers=headers,
                                   json=members)


def state(app, customer_id: str) -> tuple:
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        events = db.session.scalar(select(func.count()).select_from(AuditEvent))
        return customer.version, customer.nickname, customer.given_name, events


def test_the_second_of_two_agents_with_the_same_etag_gets_412(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    first = patch(app, writer, ada, etag, nickname="Countess")
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != etag
    before = state(app, ada)
    second = patch(app, writer, ada, etag, nickname="Enchantress", given_name="Augusta")
    assert_problem(second, 412, "stale-etag")
    assert state(app, ada) == before
    assert before[1] == "Countess" and before[2] == "Ada"
    # The ETag a write answers with is the one a read gives now: it can be used at once.
    assert read_customer(app, reader, ada)[1] == first.headers["ETag"]
    assert patch(app, writer, ada, first.headers["ETag"], nickname="E").status_code == 200


@pytest.mark.parametrize("if_match, status", [
    (None, 428),
    ("", 428),
    ("  ", 428),
    ("GRACE", 412),                 # another customer's current ETag
    ("WEAK", 412),                  # W/"...": never matches a strong comparison
    ("UNQUOTED", 412),
    ("OLD", 412),
    ('"garbage"', 412),
    ("garbage", 412),
    ('"ADA.-1"', 412),
    ('"ADA.1e3"', 412),
])
def test_if_match_must_name_this_customers_current_version(app, ada, grace, writer, reader,
                                                          if_match, status):
    _, etag = read_customer(app, reader, ada)
    _, graces = read_customer(app, reader, grace)
    version = int(etag.strip('"').split(".")[1])
    old = f'"{ada}.{version - 1}"'
    if_match = {"GRACE": graces, "WEAK": "W/" + etag, "UNQUOTED": etag.strip('"'),
                "OLD": old}.get(if_match, if_match)
    if if_match is not None:
        if_match = if_match.replace("ADA", ada)
    before = state(app, ada)
    response = patch(app, writer, ada, if_match, nickname="Countess")
    assert_problem(response, status, "if-match-required" if status == 428 else "stale-etag")
    assert state(app, ada) == before


@pytest.mark.parametrize("if_match", ["*", '"nope", ETAG', 'ETAG, *'])
def test_star_or_a_list_naming_the_current_version_is_accepted(app, ada, writer, reader,
                                                             if_match):
    _, etag = read_customer(app, reader, ada)
    response = patch(app, writer, ada, if_match.replace("ETAG", etag), nickname="Countess")
    assert response.status_code == 200, response.text
    assert response.json["nickname"] == "Countess"


def _link_an_account(app, customer_id: str) -> None:
    with app.app_context():
        link_account(get_by_customer_id(customer_id), "loyalty", "L-77", TEST_ORIGIN)
        db.session.commit()


def _change_the_password(app, customer_id: str) -> None:
    with app.app_context():
        set_password(get_by_customer_id(customer_id), "quiet-lantern-orchard-52", TEST_ORIGIN)
        db.session.commit()


def _remove_the_phone_on_the_account_page(app, customer_id: str) -> None:
    """Log in through the hosted page and remove the phone number there."""
    browser = app.test_client()
    login = browser.post("/login", data={"csrf_token": csrf_token(browser.get("/login").text),
                                         "identifier": "ada@example.com",
                                         "password": STRONG_PASSWORD})
    assert login.status_code == 303, login.text
    with app.app_context():
        phone = next(i for i in get_by_customer_id(customer_id).identifiers
                     if i.kind == "phone")
    page = browser.get("/account")
    assert page.status_code == 200
    removed = browser.post(f"/account/identifiers/{phone.id}/remove",
                           data={"csrf_token": csrf_token(page.text)})
    assert removed.status_code == 303
    with app.app_context():
        assert [i.kind for i in get_by_customer_id(customer_id).identifiers] == ["email"]


@pytest.mark.parametrize("change", [_link_an_account, _change_the_password,
                                    _remove_the_phone_on_the_account_page])
def test_the_customers_own_change_makes_the_etag_stale(app, ada, writer, reader, change):
    _, etag = read_customer(app, reader, ada)
    change(app, ada)
    before = state(app, ada)
    assert_problem(patch(app, writer, ada, etag, nickname="Countess"), 412, "stale-etag")
    assert state(app, ada) == before
    _, fresh = read_customer(app, reader, ada)
    assert fresh != etag
    assert patch(app, writer, ada, fresh, nickname="Countess").status_code == 200


def test_two_agents_writing_at_the_same_instant_one_wins(app, live_server, ada, writer,
                                                        reader):
    _, etag = read_customer(app, reader, ada)    # the read is over (committed) here
    barrier = threading.Barrier(2, timeout=30)
    answers: dict[str, requests.Response] = {}

    def agent(nickname: str) -> None:
        barrier.wait()
        answers[nickname] = requests.patch(
            f"{live_server}/admin/api/customers/{ada}", json={"nickname": nickname},
            headers=auth(writer, **{"If-Match": etag}), timeout=60)

    threads = [threading.Thread(target=agent, args=(name,)) for name in ("Countess", "Ada")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [200, 412], {k: v.text for k, v in answers.items()}
    [winner] = [name for name, answer in answers.items() if answer.status_code == 200]
    version, nickname, _, _ = state(app, ada)
    assert nickname == winner
    assert answers[winner].headers["ETag"] == f'"{ada}.{version}"'
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "admin.profile_updated")) == 1
