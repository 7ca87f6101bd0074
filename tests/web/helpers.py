"""Helpers shared by the hosted-page tests (Flask test client): signing up through both
steps, and reading which fields of a rendered page have labels."""
from __future__ import annotations

from html.parser import HTMLParser

from tests.factories import STRONG_PASSWORD
from tests.helpers import csrf_token, last_code


def submit_signup(client, identifier: str, password: str = STRONG_PASSWORD, **fields):
    """GET /signup for a CSRF token, then POST the sign-up form; return the POST response."""
    page = client.get("/signup")
    data = {"csrf_token": csrf_token(page.text), "identifier": identifier,
            "password": password, **fields}
    return client.post("/signup", data=data)


def submit_code(client, code: str):
    """GET /signup/verify for a CSRF token, then POST `code`; return the POST response."""
    page = client.get("/signup/verify")
    assert page.status_code == 200, page.text
    return client.post("/signup/verify", data={"csrf_token": csrf_token(page.text), "code": code})


def signup(client, app, email: str, password: str = STRONG_PASSWORD):
    """Sign up through both steps with the code from the outbox; return the last response."""
    started = submit_signup(client, email, password)
    assert started.status_code == 303, started.text
    assert started.location == "/signup/verify"
    return submit_code(client, last_code(app, email))


class FormMarkup(HTMLParser):
    """Collects the ids of visible inputs and the `for` targets of labels."""

    def __init__(self) -> None:
        super().__init__()
        self.input_ids: list[str | None] = []
        self.label_targets: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag in {"input", "select", "textarea"} and \
                attributes.get("type") not in {"hidden", "submit", "button"}:
            self.input_ids.append(attributes.get("id"))
        if tag == "label" and attributes.get("for"):
            self.label_targets.add(attributes["for"])
