"""What the merge, erasure and export tests share: every row of the database (to show a
refused request changed nothing), counting rows, POSTs to the admin API (where support
merges and erases), and tokens for a customer straight from the token service."""
from __future__ import annotations

from sqlalchemy import func, select

from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.admin.helpers import auth, read_customer


def database_state(app) -> dict:
    """Every row of every table, to show that a refused request changed nothing."""
    with app.app_context():
        state = {}
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            state[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return state


def count(model, *conditions) -> int:
    """Rows of `model` matching `conditions` (inside an app context)."""
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def post(app, path: str, token: str, body=None, **headers):
    """POST JSON to the admin API at `path` with the bearer token (and any headers)."""
    return app.test_client().post(f"/admin/api{path}", json=body, headers=auth(token, **headers))


def merge_via_api(app, token: str, survivor_id: str, absorbed_id: str, **body):
    """Merge `absorbed_id` into `survivor_id` through the API, with the survivor's
    current ETag; the response."""
    _, etag = read_customer(app, token, survivor_id)
    return post(app, f"/customers/{survivor_id}/merge", token,
                {"absorbed_customer_id": absorbed_id, **body}, **{"If-Match": etag})


def issue_tokens(app, client_id: str, customer_id: str) -> dict:
    """Tokens for a customer straight from the token service (the code flow has its own
    tests; test_erasure.py runs it end to end)."""
    with app.app_context():
        response = tokens.issue(get_client(client_id), "authorization_code", "openid",
                                customer=get_by_customer_id(customer_id),
                                include_refresh_token=True)
        db.session.commit()
        return response
