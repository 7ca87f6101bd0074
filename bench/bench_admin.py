"""Admin API throughput, against the step every admin call shares: validating its token.

Run: .venv/bin/python bench/bench_admin.py [--rounds N] [--customers N]
Seeds N customers (each with an email and a billing account number), then prints a table:
calls per second for validating an admin access token alone (the baseline: signature
check, grant row, scope), finding a customer by phone, the full customer view, a listing
page of 50, resolving 1000 account numbers in one call, and a profile PATCH with
If-Match (the conditional version UPDATE, the change, the audit event); each also as a
ratio of the baseline in this same run, so the machine's speed cancels out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from app.extensions import db  # noqa: E402
from app.platform.audit import Origin  # noqa: E402
from benchlib import bench_app, per_second, print_table  # noqa: E402

SCOPES = "admin:read admin:write admin:recovery admin:gdpr"


def seed(app, count: int) -> tuple[str, str]:
    """`count` customers; returns (a customer ID, a client-credentials admin token)."""
    from app.directory.customers import add_identifier, create_customer, link_account, \
        normalize_identifier
    from app.oidc.clients import create_client
    origin = Origin(actor="bench")
    with app.app_context():
        upgrade()
        for number in range(count):
            customer = create_customer(origin, "Ada", f"Bench{number}")
            add_identifier(customer, normalize_identifier("email", f"c{number}@example.com"),
                           origin, verified=True)
            link_account(customer, "billing", f"B-{number:06d}", origin)
        add_identifier(customer, normalize_identifier("phone", "+14155552671"), origin,
                       verified=True)
        client, secret = create_client("Support desk", [], grant_types=["client_credentials"],
                                       scope=SCOPES, origin=origin)
        db.session.commit()
        customer_id, client_id = customer.customer_id, client.client_id
    response = app.test_client().post("/token", auth=(client_id, secret),
                                      data={"grant_type": "client_credentials",
                                            "scope": SCOPES})
    return customer_id, response.json["access_token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()

    app = bench_app(ADMIN_RATE_LIMIT="1000000 per minute")
    customer_id, token = seed(app, args.customers)
    http = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    numbers = [f"B-{n:06d}" for n in range(min(1000, args.customers))]
    etag = {"now": http.get(f"/admin/api/customers/{customer_id}", headers=headers)
            .headers["ETag"]}

    def validate_only():
        from app.oidc.bearer import validate_access_token
        with app.app_context():
            validate_access_token(token)

    def call(method: str, path: str, status: int = 200, **kwargs):
        def action():
            response = http.open(path, method=method, headers=headers, **kwargs)
            assert response.status_code == status, response.text
        return action

    def patch():
        response = http.patch(f"/admin/api/customers/{customer_id}", json={"nickname": "Bee"},
                              headers={**headers, "If-Match": etag["now"]})
        assert response.status_code == 200, response.text
        etag["now"] = response.headers["ETag"]

    rows = [
        ("admin token validation alone (baseline)", per_second(validate_only, args.rounds)),
        ("GET /customers?q=<phone>", per_second(
            call("GET", "/admin/api/customers?q=(415)%20555-2671"), args.rounds)),
        ("GET /customers/{id} (full view)", per_second(
            call("GET", f"/admin/api/customers/{customer_id}"), args.rounds)),
        ("GET /customers (page of 50)", per_second(
            call("GET", "/admin/api/customers?limit=50"), args.rounds)),
        (f"POST /linked-accounts/resolve ({len(numbers)} numbers)", per_second(
            call("POST", "/admin/api/linked-accounts/resolve",
                 json={"system": "billing", "account_numbers": numbers}),
            max(args.rounds // 10, 5))),
        ("PATCH /customers/{id} with If-Match", per_second(patch, args.rounds)),
    ]
    print_table(f"{args.rounds} rounds, {args.customers} customers, SQLite, one thread, "
                "Flask test client (no network)", "operation", rows)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
