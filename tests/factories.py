"""Small factories for test data, built through the real services."""
from __future__ import annotations

from app.auth.login import set_password
from app.directory.customers import add_identifier, create_customer, normalize_identifier
from app.extensions import db
from app.platform.audit import Origin

TEST_ORIGIN = Origin(actor="test", ip="127.0.0.1", user_agent="pytest")
STRONG_PASSWORD = "violet-harbour-candle-91"


def make_customer(email: str | None = "ada@example.com", phone: str | None = None,
                  username: str | None = None, password: str | None = STRONG_PASSWORD,
                  given_name: str | None = "Ada", family_name: str | None = "Lovelace"):
    """Create and commit a customer with verified identifiers and a password."""
    customer = create_customer(TEST_ORIGIN, given_name, family_name)
    for kind, text in (("email", email), ("phone", phone), ("username", username)):
        if text:
            add_identifier(customer, normalize_identifier(kind, text), TEST_ORIGIN, verified=True)
    if password:
        set_password(customer, password, TEST_ORIGIN)
    db.session.commit()
    return customer
