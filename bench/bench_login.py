"""Login cost at the production argon2 setting, against a bare argon2 verification.

Run: .venv/bin/python bench/bench_login.py [--rounds N]
Prints a table: operations per second for a bare argon2id verify (the baseline), a full
POST /login with a wrong password for a known identifier, and for an unknown identifier,
and each as a ratio of the baseline (in this same run, so the machine's speed cancels out).
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from benchlib import per_second, print_table  # noqa: E402
from app.extensions import db  # noqa: E402

PASSWORD = "violet-harbour-candle-91"




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(directory),
                      "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}",
                      "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
                      "LOGIN_BACKOFF_THRESHOLD": 10**6,
                      "LOGIN_RATE_LIMIT": "1000000 per minute"})
    config = app.config
    hasher = PasswordHasher(time_cost=config["ARGON2_TIME_COST"],
                            memory_cost=config["ARGON2_MEMORY_KIB"],
                            parallelism=config["ARGON2_PARALLELISM"])
    stored = hasher.hash(PASSWORD)
    with app.app_context():
        upgrade()
        from tests.factories import make_customer
        make_customer(email="ada@example.com", password=PASSWORD)

    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text)[1]
    counter = iter(range(10**9))

    def login(identifier: str):
        response = client.post("/login", data={"csrf_token": token, "identifier": identifier,
                                               "password": "wrong-password-here"})
        assert response.status_code == 401

    def bare_verify():
        hasher.verify(stored, PASSWORD)

    baseline = per_second(bare_verify, args.rounds)
    rows = [
        ("argon2id verify (baseline)", baseline),
        ("POST /login, known identifier", per_second(lambda: login("ada@example.com"), args.rounds)),
        ("POST /login, unknown identifier",
         per_second(lambda: login(f"nobody{next(counter)}@example.com"), args.rounds)),
    ]
    print_table(f"argon2id m={config['ARGON2_MEMORY_KIB']} KiB t={config['ARGON2_TIME_COST']} "
                f"p={config['ARGON2_PARALLELISM']}, {args.rounds} rounds, SQLite, one thread",
                "operation", rows)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
