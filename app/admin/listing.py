"""The customer listing of the admin API (GET /admin/api/customers without `q`): newest
first, filtered by status and creation time, a page at a time.

Pages are cut by position (keyset pagination on created_at, then customer ID), not by
offset: a page is one indexed range read however deep it is, and customers created
while an agent pages through are neither skipped nor shown twice. The position goes
back and forth as `next_cursor` / `cursor`: signed with the app's secret key, so it is
opaque and a forged or mangled one is refused (400) instead of reaching a query. It
holds the creation time and the (random) customer ID, never the row number, which
would tell how many customers there are.

Without a status filter merged customers are left out: their IDs are aliases of the
survivor, who is listed. Erased customers are listed (as tombstones: no name).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select, tuple_

from app.admin.customer_view import customer_summary
from app.admin.requests import ApiProblem, audit
from app.extensions import db
from app.identity import customer_ids
from app.models import Customer
from app.models.customer import CUSTOMER_STATUSES

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_MAX = 200
_CURSOR_SALT = "tessera.admin.customer-listing"
# ISO 8601 / RFC 3339 date-times with a time of day; the offset may be left out (UTC).
# Python's parser accepts more (a bare date, an hour alone): this keeps the door narrow.
_DATE_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
                           r"(?:[Zz]|[+-]\d{2}:?\d{2})?")
_LIMIT_RE = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class ListingQuery:
    """What a listing call asks for, checked. `position` is where the previous page
    ended: (created_at, customer_id) of its last customer."""

    status: str | None
    created_after: datetime | None
    created_before: datetime | None
    limit: int
    position: tuple[datetime, str] | None


def list_page(args) -> dict:
    """One page of the listing for the query string `args`, audited (one
    "admin.customers_listed" event, no customer; the caller commits). Raises ApiProblem
    (400) for a bad parameter; unknown parameters are ignored."""
    query = parse_query(args)
    customers = _fetch(query)
    page, more = customers[:query.limit], len(customers) > query.limit
    next_cursor = encode_cursor(page[-1]) if more else None
    audit("customers_listed", None, count=len(page), status=query.status,
          created_after=_iso(query.created_after), created_before=_iso(query.created_before),
          continued=query.position is not None, more=more)
    return {"items": [customer_summary(customer) for customer in page],
            "next_cursor": next_cursor}


def parse_query(args) -> ListingQuery:
    """Check the listing's query parameters; ApiProblem (400) naming the bad one."""
    status = args.get("status")
    if status is not None and status not in CUSTOMER_STATUSES:
        raise _bad("status", "must be one of " + ", ".join(CUSTOMER_STATUSES))
    return ListingQuery(status=status,
                        created_after=_date_time(args, "created_after"),
                        created_before=_date_time(args, "created_before"),
                        limit=_limit(args),
                        position=decode_cursor(args["cursor"]) if "cursor" in args else None)


def encode_cursor(customer: Customer) -> str:
    """The cursor of the page after `customer` (the last one shown)."""
    return _serializer().dumps([customer.created_at.isoformat(), customer.customer_id])


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of encode_cursor holds; ApiProblem (400) for anything else."""
    if len(cursor) > CURSOR_MAX:
        raise _bad("cursor", "is not a cursor this API gave out")
    try:
        created_at, customer_id = _serializer().loads(cursor)
        position = datetime.fromisoformat(created_at), customer_ids.parse(customer_id)
    except (BadData, TypeError, ValueError):
        # A bad signature, or (with the key) a shape this code never writes.
        raise _bad("cursor", "is not a cursor this API gave out") from None
    if position[0].tzinfo is None:
        raise _bad("cursor", "is not a cursor this API gave out")
    return position


def _fetch(query: ListingQuery) -> list[Customer]:
    """Up to limit + 1 customers (the extra one tells whether there is a next page)."""
    statement = select(Customer)
    if query.status is None:
        statement = statement.where(Customer.status != "merged")
    else:
        statement = statement.where(Customer.status == query.status)
    # A half-open interval: [created_after, created_before), so back-to-back windows
    # neither overlap nor leave a gap.
    if query.created_after is not None:
        statement = statement.where(Customer.created_at >= query.created_after)
    if query.created_before is not None:
        statement = statement.where(Customer.created_at < query.created_before)
    if query.position is not None:
        created_at, customer_id = query.position
        # A row-value comparison, not the equivalent OR: PostgreSQL reads only this form
        # as a bound of the index range (the OR scans from the newest customer down).
        columns = (Customer.created_at, Customer.customer_id)
        statement = statement.where(tuple_(*columns) < tuple_(
            created_at, customer_id, types=[column.type for column in columns]))
    statement = statement.order_by(Customer.created_at.desc(), Customer.customer_id.desc())
    return list(db.session.scalars(statement.limit(query.limit + 1)))


def _date_time(args, name: str) -> datetime | None:
    """An ISO 8601 date-time parameter as aware UTC; naive means UTC."""
    text = args.get(name)
    if text is None:
        return None
    if not _DATE_TIME_RE.fullmatch(text):
        raise _bad(name, "must be an ISO 8601 date-time such as 2024-05-01T09:30:00Z")
    try:
        moment = datetime.fromisoformat(text.upper())
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        # Out of range: a 13th month, second 60, or an offset past year 1 or 9999.
        raise _bad(name, "is not a date-time that exists") from None
    return moment


def _limit(args) -> int:
    text = args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT_RE.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise _bad("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_CURSOR_SALT)


def _bad(name: str, message: str) -> ApiProblem:
    return ApiProblem(400, "Bad request", f"{name}: {message}", "invalid-query",
                      extensions={"errors": [{"field": name, "message": message}]})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
