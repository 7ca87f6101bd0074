"""What every admin endpoint does with a request: read the customer named in the path
(resolving a merged customer's ID to its survivor), read a JSON body, check the ETag
(If-Match) and claim the next version, and audit. Anything wrong raises ApiProblem, which
the blueprint turns into RFC 9457 problem JSON after rolling the transaction back, so a
refused request changes nothing."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from flask import g, request
from sqlalchemy import update

from app.directory.customers import resolve_alias, get_by_customer_id
from app.extensions import db
from app.identity import customer_ids
from app.models import Customer
from app.platform.audit import record_event

JSON_TYPES = ("application/json", "application/merge-patch+json")


@dataclass
class ApiProblem(Exception):
    """A refusal with a problem body: `kind` names its type (problems.PROBLEM_TYPE_BASE)."""

    status: int
    title: str
    detail: str | None = None
    kind: str | None = None
    headers: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PathCustomer:
    """The customer a path names; `requested_id` differs from customer.customer_id when
    the path named a merged (absorbed) customer's ID."""

    customer: Customer
    requested_id: str

    @property
    def via_alias(self) -> bool:
        return self.requested_id != self.customer.customer_id


# ---- the customer in the path -------------------------------------------------------------

def path_customer(text: str) -> PathCustomer:
    """The customer named by a path segment: any spelling of a customer ID; a merged ID
    resolves to the survivor. 400 for a malformed ID (bad check symbol), 404 if unknown.
    Erased customers are returned (their tombstone): writers use writable_customer."""
    try:
        canonical = customer_ids.parse(text)
    except customer_ids.InvalidCustomerId as error:
        raise ApiProblem(400, "Bad request", str(error), "invalid-customer-id") from None
    customer = get_by_customer_id(canonical)
    if customer is None:
        raise ApiProblem(404, "Not found", "No customer has this ID.", "unknown-customer")
    return PathCustomer(resolve_alias(customer), canonical)


def writable_customer(text: str) -> Customer:
    """The customer in the path, for a change: an erased customer is 409 (nothing of
    theirs is left to change)."""
    customer = path_customer(text).customer
    if customer.status == "erased":
        raise ApiProblem(409, "Conflict", "This customer was erased; only the tombstone of "
                         "the ID is left.", "customer-erased")
    return customer


# ---- bodies -------------------------------------------------------------------------------

def json_body() -> dict:
    """The request's JSON object: 415 for another content type, 400 for invalid JSON
    (nesting too deep for the parser included) or anything but an object. (The size limit
    is checked before the view runs.)"""
    if request.mimetype not in JSON_TYPES:
        raise ApiProblem(415, "Unsupported media type", "Send the body as application/json.",
                         "unsupported-media-type")
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: thousands of nested brackets (a 64 KiB body holds 32,768)
        # exhaust the parser's recursion; that is bad input, not a server error.
        raise ApiProblem(400, "Bad request", "The body is not valid JSON.",
                         "invalid-json") from None
    if not isinstance(body, dict):
        raise ApiProblem(400, "Bad request", "The body must be a JSON object.", "invalid-body")
    return body


def invalid(field_name: str, message: str) -> ApiProblem:
    """A 400 for one bad field of the body."""
    return ApiProblem(400, "Bad request", f"{field_name}: {message}", "invalid-body",
                      extensions={"errors": [{"field": field_name, "message": message}]})


def only_fields(body: dict, allowed: set[str]) -> None:
    """Refuse members we do not know: a typo must not be silently ignored."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], "is not a field of this request")


def string_field(body: dict, name: str, *, required: bool = True, max_length: int = 320,
                 choices: tuple[str, ...] | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(name, "is required")
        return None
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if len(value) > max_length:
        raise invalid(name, f"has at most {max_length} characters")
    if choices is not None and value not in choices:
        raise invalid(name, "must be one of " + ", ".join(choices))
    return value


def bool_field(body: dict, name: str, *, default: bool | None = None) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise invalid(name, "must be true or false")
    return value


# ---- ETags and If-Match ---------------------------------------------------------------------

def etag_of(customer: Customer) -> str:
    """A strong ETag for the customer's current version."""
    return f'"{customer.customer_id}.{customer.version}"'


def with_etag(response, customer: Customer):
    response.headers["ETag"] = etag_of(customer)
    return response


def claim_version(customer: Customer, *, required: bool = True) -> None:
    """Check If-Match against the customer's version and claim the next one, in one
    UPDATE ... WHERE version = expected: of two agents who read the same version, exactly
    one gets the row (the other waits on its lock, then matches nothing: 412). Call it
    before changing anything, in the write's transaction.

    Without If-Match: 428 when `required`, else the version read now is claimed."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        if required:
            raise ApiProblem(428, "Precondition required", "Send If-Match with the ETag of "
                             "the customer you read, so nobody's change is overwritten.",
                             "if-match-required")
        expected = customer.version
    else:
        expected = _version_in(header, customer)
    claimed = db.session.execute(
        update(Customer).where(Customer.id == customer.id, Customer.version == expected)
        .values(version=Customer.version + 1)).rowcount
    if claimed != 1:
        db.session.rollback()
        raise ApiProblem(412, "Precondition failed", "The customer changed since you read "
                         "it. Read it again, check, and retry with the new ETag.",
                         "stale-etag")
    db.session.refresh(customer, ["version"])


def _version_in(header: str, customer: Customer) -> int:
    """The version an If-Match names; -1 (matches nothing) for another customer's, a weak
    or a malformed tag. `*` means whatever it is now."""
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags:
        return customer.version
    prefix = f'"{customer.customer_id}.'
    for tag in tags:
        if tag.startswith(prefix) and tag.endswith('"') and tag[len(prefix):-1].isdigit():
            return int(tag[len(prefix):-1])
    return -1


# ---- audit ----------------------------------------------------------------------------------

def audit(action: str, customer_id: str | None, **details: object) -> None:
    """The audit event of an admin call (the caller commits): client, operator, action,
    customer, reason."""
    caller = g.admin
    record_event(f"admin.{action}", caller.origin, customer_id, client_id=caller.client_id,
                 operator=caller.operator, reason=caller.reason, **details)
