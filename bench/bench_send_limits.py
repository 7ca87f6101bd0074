"""SMS send-limit reservations: the database backend against the Redis backend.

Run: .venv/bin/python bench/bench_send_limits.py [--rounds N] [--redis-url URL]
Prints reservations per second for the four SMS limits of one send (per number gap and
hour, per IP, per country prefix), each to a new number from a new IP so no limit is reached, on SQLite
(the baseline) and, when a Redis URL is given or a redis-server binary is installed, on
Redis; and the ratio of each to the baseline in this same run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from benchlib import per_second, print_table  # noqa: E402
from app.auth.send_limits import reserve, sms_limits  # noqa: E402
from app.extensions import db  # noqa: E402




def measure(redis_url: str, rounds: int) -> float:
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(directory),
                      "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}",
                      "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
                      "REDIS_URL": redis_url,
                      # One prefix for every number: let its hourly limit not be reached.
                      "SMS_SENDS_PER_PREFIX_PER_HOUR": 10**9})
    numbers = iter(range(10**6))
    with app.app_context():
        upgrade()

        def one():
            n = next(numbers)
            reserve(sms_limits(f"+4474001{n:05d}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"))

        rate = per_second(one, rounds)
        db.engine.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    server = None
    redis_url = args.redis_url
    if not redis_url:
        from tests.redis_server import RedisServer, RedisUnavailable
        try:
            server = RedisServer().start()
            redis_url = server.url
        except RedisUnavailable as error:
            print(f"(no Redis: {error})")
    baseline = measure("", args.rounds)
    rows = [("database (SQLite) backend (baseline)", baseline)]
    if redis_url:
        rows.append(("Redis backend", measure(redis_url, args.rounds)))
    if server is not None:
        server.stop()
    print_table(f"{args.rounds} reservations of the 4 SMS limits, one thread", "backend", rows)


if __name__ == "__main__":
    main()
