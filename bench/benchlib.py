"""What every benchmark here shares: a median rate, and the table it prints."""
from __future__ import annotations

import statistics
import time


def per_second(action, rounds: int) -> float:
    """Median rate over `rounds` timed calls."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return 1 / statistics.median(timings)


def print_table(title: str, heading: str, rows: list[tuple[str, float]],
                ratio_digits: int = 2) -> None:
    """Rows of (name, rate), each with its ratio to the first row (the baseline)."""
    baseline = rows[0][1]
    width = max(len(heading), *(len(name) for name, _ in rows))
    print(title)
    print(f"{heading:{width}} {'per second':>11} {'vs baseline':>12}")
    for name, rate in rows:
        print(f"{name:{width}} {rate:11.1f} {rate / baseline:12.{ratio_digits}f}")


def bench_app(**overrides):
    """An app in development mode on a fresh SQLite file in a temporary folder (migrate it
    with flask_migrate.upgrade inside an app context)."""
    import tempfile
    from pathlib import Path

    from app import create_app
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    return create_app({"ENV": "development", "INSTANCE_PATH": str(directory),
                       "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}",
                       "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
                       **overrides})


def token_service(app, name: str = "Bench service"):
    """Migrate `app`, register a client_credentials client, and return (client_id, grant,
    introspect): `grant()` posts one grant and returns its access token; `introspect()`
    introspects one live token, asserting it is active. Both use the Flask test client."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.oidc.clients import create_client
    from app.platform.audit import Origin
    with app.app_context():
        upgrade()
        client, secret = create_client(name, [], grant_types=["client_credentials"],
                                       scope="openid", origin=Origin(actor="bench"))
        db.session.commit()
        client_id = client.client_id
    http = app.test_client()
    auth = (client_id, secret)

    def grant() -> str:
        response = http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
        assert response.status_code == 200, response.json
        return response.json["access_token"]

    live_token = grant()

    def introspect() -> None:
        response = http.post("/introspect", data={"token": live_token}, auth=auth)
        assert response.json["active"] is True, response.json

    return client_id, grant, introspect
