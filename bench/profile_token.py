"""Where one client_credentials grant and one introspection spend their time, and their SQL.

Run: .venv/bin/python bench/profile_token.py [--rounds N] [--top N]
In process (the Flask test client, SQLite in a temporary folder, development settings):
warms up, then counts the SQL statements (and commits) one POST /token and one
POST /introspect run, and prints cProfile's top entries by cumulative time over N rounds
of each. No timing is asserted anywhere; this guides changes to the token path.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event  # noqa: E402

from app.extensions import db  # noqa: E402
from benchlib import bench_app, token_service  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    app = bench_app()
    _, grant, introspect = token_service(app, "Profile service")
    with app.app_context():
        engine = db.engine

    for _ in range(5):  # warm: keys made, caches filled
        grant()
        introspect()

    statements: list[str] = []
    commits: list[int] = []

    def on_execute(conn, cursor, statement, *rest):
        statements.append(" ".join(statement.split())[:110])

    def on_commit(conn):
        commits.append(1)

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    for name, action in (("POST /token client_credentials", grant),
                         ("POST /introspect (live token)", introspect)):
        statements.clear()
        commits.clear()
        action()
        print(f"{name}: {len(statements)} SQL statements, {len(commits)} commits")
        for text in statements:
            print(f"    {text}")
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)

    for name, action in (("POST /token client_credentials", grant),
                         ("POST /introspect (live token)", introspect)):
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.rounds):
            action()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        print(f"\n{name}: {args.rounds} rounds, {stats.total_tt / args.rounds * 1000:.2f} ms "
              f"per request under cProfile; top {args.top} by cumulative time")
        stats.sort_stats("cumulative").print_stats(args.top)
        lines = [line for line in out.getvalue().splitlines()
                 if line.strip() and not line.startswith(("   Ordered", "   List reduced"))]
        print("\n".join(lines[-(args.top + 1):]))


if __name__ == "__main__":
    main()
