"""Does /login/sms or /recover take longer for a number that has an account?

Run: .venv/bin/python bench/bench_enumeration.py [--rounds 30]
Prints, for each endpoint and two situations, the median time of a POST (in ms) for a
known number (a customer's verified phone) and for an unknown one, and their difference:

- "sent": the send limits have room, so the known number is texted;
- "limited": the per-number hourly limit is already full for both numbers, so both are
  refused (the case where nothing at all should differ).

The time is from the POST to its response, which is what a client sees: the work done
only for a number with an account (the phone-risk decision and the text) runs after the
response (app/web/login_views.py), when the response is closed, untimed, as a server does
after sending it. tests/auth/test_enumeration_cost.py asserts the same by counting queries.

Each try is a fresh browser (its own GET for the CSRF token, not timed). The app runs on
SQLite with the embedded defaults (console SMS, offline phone lookup) and the per-IP
request limiter off, as a timing attacker with many addresses would see it. Medians of
wall-clock time on a shared machine: read differences of a few ms as noise.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from benchlib import bench_app  # noqa: E402
from app.extensions import db  # noqa: E402

KNOWN = "+447400123456"
UNKNOWN = "+447400123457"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ROOMY = {"SMS_MIN_SECONDS_BETWEEN_SENDS": 0, "SMS_SENDS_PER_NUMBER_PER_HOUR": 10**6,
         "SMS_SENDS_PER_IP_PER_HOUR": 10**6, "SMS_SENDS_PER_PREFIX_PER_HOUR": 10**6}


def _app(limited: bool):
    overrides = {"RATELIMIT_ENABLED": False, "ARGON2_MEMORY_KIB": 256,
                 "ARGON2_TIME_COST": 1, "ARGON2_PARALLELISM": 1, **ROOMY}
    if limited:
        overrides["SMS_SENDS_PER_NUMBER_PER_HOUR"] = 1
    app = bench_app(**overrides)
    with app.app_context():
        upgrade()
        from tests.factories import make_customer
        make_customer(phone=KNOWN)
    return app


def _post_ms(app, path: str, phone: str) -> float:
    client = app.test_client()
    token = CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)
    started = time.perf_counter()
    response = client.post(path, data={"csrf_token": token, "phone": phone})
    elapsed = (time.perf_counter() - started) * 1000
    response.close()  # runs the after-response work, as a server does once it has sent it
    assert response.status_code in (303, 400), (path, response.status_code)
    return elapsed


def measure(limited: bool, rounds: int) -> list[tuple[str, float, float]]:
    app = _app(limited)
    rows = []
    for path in ("/login/sms", "/recover"):
        if limited:  # fill the per-number limit of both numbers first
            for phone in (KNOWN, UNKNOWN):
                _post_ms(app, path, phone)
        timings = {KNOWN: [], UNKNOWN: []}
        for _ in range(rounds):  # interleaved, so drift hits both alike
            for phone in (KNOWN, UNKNOWN):
                timings[phone].append(_post_ms(app, path, phone))
        rows.append((path, statistics.median(timings[KNOWN]),
                     statistics.median(timings[UNKNOWN])))
    with app.app_context():
        db.engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"Median POST time over {args.rounds} tries (ms)")
    print(f"{'endpoint':12} {'situation':9} {'known':>8} {'unknown':>8} {'difference':>11}")
    for limited in (False, True):
        for path, known, unknown in measure(limited, args.rounds):
            print(f"{path:12} {'limited' if limited else 'sent':9} {known:8.1f} "
                  f"{unknown:8.1f} {known - unknown:11.1f}")


if __name__ == "__main__":
    main()
