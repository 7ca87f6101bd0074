"""Where one client_credentials grant, one introspection and one password login spend their
time, and their SQL.

Run: .venv/bin/python bench/profile_token.py [--rounds N] [--top N]
In process (the Flask test client, SQLite in a temporary folder, development settings):
warms up, then counts the SQL statements (and commits) one POST /token, one
POST /introspect and one successful POST /login (from a browser that has just loaded the
login page) run, and prints cProfile's top entries by cumulative time over N rounds of
each (a tenth as many logins: argon2 takes most of each). No timing is asserted anywhere;
this guides changes to the token path and the login.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event  # noqa: E402

from app.extensions import db  # noqa: E402
from benchlib import bench_app, token_service  # noqa: E402
from tests.factories import STRONG_PASSWORD, make_customer  # noqa: E402


def login_poster(app):
    """`prepare()` loads the login page in a new browser and returns `post()`, which logs
    that browser in with the right password (303), so only the POST is measured."""
    with app.app_context():
        make_customer(email="ada@example.com", password=STRONG_PASSWORD)

    def prepare():
        browser = app.test_client()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          browser.get("/login").text)[1]

        def post() -> None:
            response = browser.post("/login", data={"csrf_token": token,
                                                     "identifier": "ada@example.com",
                                                     "password": STRONG_PASSWORD})
            assert response.status_code == 303, response.status_code
        return post
    return prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    # Every login comes from 127.0.0.1 and succeeds: no per-IP limit or backoff here.
    app = bench_app(LOGIN_RATE_LIMIT="1000000 per minute", LOGIN_BACKOFF_THRESHOLD=10**6)
    _, grant, introspect = token_service(app, "Profile service")
    prepare_login = login_poster(app)
    with app.app_context():
        engine = db.engine

    for _ in range(5):  # warm: keys made, caches filled
        grant()
        introspect()
        prepare_login()()
    operations = (("POST /token client_credentials", lambda: grant, args.rounds),
                  ("POST /introspect (live token)", lambda: introspect, args.rounds),
                  ("POST /login (password, no second factor)", prepare_login,
                   max(1, args.rounds // 10)))

    statements: list[str] = []
    commits: list[int] = []

    def on_execute(conn, cursor, statement, *rest):
        statements.append(" ".join(statement.split())[:110])

    def on_commit(conn):
        commits.append(1)

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    for name, prepare, _rounds in operations:
        action = prepare()
        statements.clear()
        commits.clear()
        action()
        print(f"{name}: {len(statements)} SQL statements, {len(commits)} commits")
        for text in statements:
            print(f"    {text}")
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)

    for name, prepare, rounds in operations:
        actions = [prepare() for _ in range(rounds)]
        profiler = cProfile.Profile()
        profiler.enable()
        for action in actions:
            action()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        print(f"\n{name}: {rounds} rounds, {stats.total_tt / rounds * 1000:.2f} ms "
              f"per request under cProfile; top {args.top} by cumulative time")
        stats.sort_stats("cumulative").print_stats(args.top)
        lines = [line for line in out.getvalue().splitlines()
                 if line.strip() and not line.startswith(("   Ordered", "   List reduced"))]
        print("\n".join(lines[-(args.top + 1):]))


if __name__ == "__main__":
    main()
