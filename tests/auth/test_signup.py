"""The sign-up service (app/auth/signup.py) called directly: the code's failure count per
address or number across restarts. The pages are tested in tests/web/test_pages.py."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from app.auth.signup import SignupError, complete_signup, start_signup
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN
from tests.helpers import last_code

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def outcome(verification_id: int, code: str) -> str:
    """'ok', 'wrong' or 'throttled' for one try of a sign-up code."""
    try:
        complete_signup(verification_id, code, TEST_ORIGIN)
        return "ok"
    except SignupError as error:
        return "throttled" if "Too many wrong codes" in str(error) else "wrong"


@pytest.mark.parametrize(("kind", "destination"),
                         [("email", "grace@example.com"), ("phone", "+447400123456")])
def test_restarting_signup_gives_no_new_tries(app, app_context, kind, destination):
    """Three restarts, two wrong codes each: the sixth wrong try waits, whatever the code,
    and the backoff then lets the right code in (it never locks for good)."""
    results = []
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            clock.shift(timedelta(seconds=31))  # past the send gap to one destination
            started = start_signup(destination, kind, STRONG_PASSWORD, TEST_ORIGIN)
            code = last_code(app, destination)
            results += [outcome(started.verification_id, wrong(code)) for _ in range(2)]
        assert results == ["wrong"] * 5 + ["throttled"]
        assert outcome(started.verification_id, code) == "throttled"
        clock.shift(timedelta(seconds=app.config["LOGIN_BACKOFF_BASE_SECONDS"]))
        assert outcome(started.verification_id, code) == "ok"
