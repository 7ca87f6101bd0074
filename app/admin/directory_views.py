"""Admin endpoints for a customer's directory entries, done on the customer's behalf:
identifiers (add, verify, remove), linked accounts (link, unlink), the profile, and the
bulk lookup of account numbers in another system.

    POST   /customers/<id>/identifiers                          admin:write  201
    POST   /customers/<id>/identifiers/<identifier_id>/verify   admin:write  200
    DELETE /customers/<id>/identifiers/<identifier_id>          admin:write  200
    POST   /customers/<id>/linked-accounts                      admin:write  201
    DELETE /customers/<id>/linked-accounts/<system>/<number>    admin:write  200
    PATCH  /customers/<id>                                      admin:write  200
    POST   /linked-accounts/resolve                             admin:read   200

Every change takes If-Match (428 without, 412 when stale), is one transaction, is
audited as the admin call and by the service as the change itself, and answers with the
customer view and its new ETag. Support is trusted to learn that an identifier or an
account number is taken, never by whom. Identifiers are added, verified and removed by
app/directory/identifier_changes.py, the service the account pages use too: it holds the
"last way in" rule and tells the customer of every phone and email support adds,
verifies or removes, on every channel we trust.
"""
from __future__ import annotations

import re

from flask import Blueprint, g, jsonify

from app.admin.auth import admin_required
from app.admin.customer_view import customer_view
from app.admin.requests import (ApiProblem, audit, bool_field, claim_version, invalid, json_body,
                                only_fields, string_field, with_etag, writable_customer)
from app.directory import identifier_changes
from app.directory.customers import (ACCOUNT_NUMBER_MAX, LOCALE_MAX, NAME_MAX, PROFILE_FIELDS,
                                     AlreadyOnAccount, CustomerError, IdentifierTaken,
                                     InvalidProfileValue, customer_ids_by_linked_account,
                                     link_account, normalize_identifier, normalize_linked_account,
                                     normalize_profile, normalize_system, unlink_account,
                                     update_profile)
from app.extensions import db
from app.models import Customer, Identifier, LinkedAccount
from app.models.customer import IDENTIFIER_KINDS

bp = Blueprint("directory", __name__)  # nested in admin_api: app/admin/blueprint.py

IDENTIFIER_MAX = 320
SYSTEM_MAX = 64
RESOLVE_MAX = 1000
_IDENTIFIER_ID_RE = re.compile(r"[0-9]{1,18}")


# ---- identifiers ----------------------------------------------------------------------------

@bp.post("/customers/<customer_id>/identifiers")
@admin_required("admin:write")
def add_customer_identifier(customer_id: str):
    """Add an email, phone or username; `verified` says support checked possession (a
    verified phone is bound for SMS login, vouched for by "admin")."""
    customer = writable_customer(customer_id)
    body = json_body()
    only_fields(body, {"kind", "value", "verified"})
    kind = string_field(body, "kind", choices=IDENTIFIER_KINDS)
    text = string_field(body, "value", max_length=IDENTIFIER_MAX)
    verified = bool_field(body, "verified", default=False)
    try:
        identifier = normalize_identifier(kind, text)
    except CustomerError as error:
        raise _unprocessable("value", error) from None
    claim_version(customer)
    try:
        row = identifier_changes.add(customer, identifier, g.admin.origin, verified=verified)
    except AlreadyOnAccount as error:
        raise ApiProblem(409, "Conflict", str(error), "identifier-on-account") from None
    except IdentifierTaken as error:
        raise ApiProblem(409, "Conflict", str(error), "identifier-taken") from None
    except CustomerError as error:
        raise _unprocessable("value", error) from None
    audit("identifier_added", customer.customer_id, identifier_id=row.id, kind=kind,
          verified=verified)
    db.session.commit()
    return _customer_response(customer, 201)


@bp.post("/customers/<customer_id>/identifiers/<identifier_id>/verify")
@admin_required("admin:write")
def verify_customer_identifier(customer_id: str, identifier_id: str):
    """Mark an identifier verified: support checked the customer holds it. Verifying a
    verified one changes nothing but a phone's last verification time."""
    customer = writable_customer(customer_id)
    identifier = _identifier_of(customer, identifier_id)
    claim_version(customer)
    newly_verified = identifier_changes.verify(identifier, g.admin.origin)
    audit("identifier_verified", customer.customer_id, identifier_id=identifier.id,
          kind=identifier.kind, newly_verified=newly_verified)
    db.session.commit()
    return _customer_response(customer, 200)


@bp.delete("/customers/<customer_id>/identifiers/<identifier_id>")
@admin_required("admin:write")
def remove_customer_identifier(customer_id: str, identifier_id: str):
    """Remove an identifier (a phone's binding is released by "admin"); the last one
    is refused (409): nobody could find or log in to the account any more."""
    customer = writable_customer(customer_id)
    identifier = _identifier_of(customer, identifier_id)
    claim_version(customer)
    audit("identifier_removed", customer.customer_id, identifier_id=identifier.id,
          kind=identifier.kind)
    try:
        identifier_changes.remove(customer, identifier.id, g.admin.origin)
    except identifier_changes.LastWayIn:
        raise ApiProblem(409, "Conflict", "This is the customer's only identifier; add "
                         "another first.", "last-identifier") from None
    db.session.commit()
    return _customer_response(customer, 200)


# ---- linked accounts ------------------------------------------------------------------------

@bp.post("/customers/<customer_id>/linked-accounts")
@admin_required("admin:write")
def link_customer_account(customer_id: str):
    """Tie an account number in another system to the customer; a pair already linked
    (to anyone) is 409."""
    customer = writable_customer(customer_id)
    body = json_body()
    only_fields(body, {"system", "account_number"})
    system = string_field(body, "system", max_length=SYSTEM_MAX)
    account_number = string_field(body, "account_number", max_length=ACCOUNT_NUMBER_MAX)
    try:
        system = normalize_system(system)
    except CustomerError as error:
        raise _unprocessable("system", error) from None
    try:
        system, account_number = normalize_linked_account(system, account_number)
    except CustomerError as error:
        raise _unprocessable("account_number", error) from None
    claim_version(customer)
    try:
        link_account(customer, system, account_number, g.admin.origin)
    except CustomerError as error:
        # The values were checked above: what is left is that the pair is taken.
        raise ApiProblem(409, "Conflict", str(error), "account-already-linked") from None
    return _linked_account_changed(customer, "linked_account_added", system, account_number,
                                   201)


@bp.delete("/customers/<customer_id>/linked-accounts/<system>/<path:account_number>")
@admin_required("admin:write")
def unlink_customer_account(customer_id: str, system: str, account_number: str):
    """Remove one of the customer's linked accounts. The account number is the rest of
    the path, percent-encoded as needed (slashes included)."""
    customer = writable_customer(customer_id)
    link = _linked_account_of(customer, system, account_number)
    claim_version(customer)
    system, account_number = link.system, link.account_number
    unlink_account(link, g.admin.origin)
    return _linked_account_changed(customer, "linked_account_removed", system, account_number,
                                   200)


@bp.post("/linked-accounts/resolve")
@admin_required("admin:read")
def resolve_linked_accounts():
    """The customer ID behind each of up to 1000 account numbers of one system, in the
    order given (null where none is linked). Audited with the counts, not the numbers."""
    body = json_body()
    only_fields(body, {"system", "account_numbers"})
    system_text = string_field(body, "system", max_length=SYSTEM_MAX)
    given = body.get("account_numbers")
    if not isinstance(given, list) or not 1 <= len(given) <= RESOLVE_MAX:
        raise invalid("account_numbers", f"must be an array of 1 to {RESOLVE_MAX} strings")
    try:
        system = normalize_system(system_text)
    except CustomerError as error:
        raise invalid("system", str(error)) from None
    numbers = _account_numbers(system, given)
    found = customer_ids_by_linked_account(system, numbers)
    results = [{"account_number": text, "customer_id": found.get(number)}
               for text, number in zip(given, numbers)]
    audit("linked_accounts_resolved", None, system=system, count=len(results),
          found=sum(result["customer_id"] is not None for result in results))
    db.session.commit()
    return jsonify({"system": system, "results": results})


# ---- profile --------------------------------------------------------------------------------

@bp.patch("/customers/<customer_id>")
@admin_required("admin:write")
def update_customer_profile(customer_id: str):
    """Change names and locale (JSON merge patch: a member set to null is cleared, an
    absent one is left alone). Audited with the names of the members that changed."""
    customer = writable_customer(customer_id)
    body = json_body()
    only_fields(body, set(PROFILE_FIELDS))
    if not body:
        raise ApiProblem(400, "Bad request", "Send at least one member to change.",
                         "empty-patch")
    changes = {name: _nullable_string(body, name) for name in PROFILE_FIELDS if name in body}
    try:
        changes = normalize_profile(changes)
    except InvalidProfileValue as error:
        raise _unprocessable(error.member, error) from None
    claim_version(customer)
    changed = update_profile(customer, changes, g.admin.origin)
    audit("profile_updated", customer.customer_id, fields=changed)
    db.session.commit()
    return _customer_response(customer, 200)


# ---- helpers --------------------------------------------------------------------------------

def _customer_response(customer: Customer, status: int):
    """The customer view with its ETag, read after the commit so the version is fresh."""
    response = jsonify(customer_view(customer))
    response.status_code = status
    return with_etag(response, customer)


def _linked_account_changed(customer: Customer, action: str, system: str,
                            account_number: str, status: int):
    """Audit the admin call that linked or unlinked this pair, commit, and answer."""
    audit(action, customer.customer_id, system=system, account_number=account_number)
    db.session.commit()
    return _customer_response(customer, status)


def _unprocessable(field_name: str, error: CustomerError) -> ApiProblem:
    message = str(error)
    return ApiProblem(422, "Unprocessable content", message, "unprocessable",
                      extensions={"errors": [{"field": field_name, "message": message}]})


def _identifier_of(customer: Customer, identifier_id: str) -> Identifier:
    """The customer's identifier with this id: 404 for another customer's, an unknown
    or a malformed one (ids are never guessed at across customers)."""
    if _IDENTIFIER_ID_RE.fullmatch(identifier_id):
        wanted = int(identifier_id)
        for row in customer.identifiers:
            if row.id == wanted:
                return row
    raise ApiProblem(404, "Not found", "The customer has no identifier with this id.",
                     "unknown-identifier")


def _linked_account_of(customer: Customer, system: str, account_number: str) -> LinkedAccount:
    """The customer's link for the pair in the path (compared as stored, after the same
    normalisation as linking): 400 if the pair is malformed, 404 if it is not theirs."""
    try:
        system, account_number = normalize_linked_account(system, account_number)
    except CustomerError as error:
        raise ApiProblem(400, "Bad request", str(error), "invalid-linked-account") from None
    for link in customer.linked_accounts:
        if link.system == system and link.account_number == account_number:
            return link
    raise ApiProblem(404, "Not found", "The customer has no such linked account.",
                     "unknown-linked-account")


def _account_numbers(system: str, given: list) -> list[str]:
    """Each account number normalised; 400 listing every bad one by its index."""
    numbers, errors = [], []
    for index, text in enumerate(given):
        try:
            if not isinstance(text, str):
                raise CustomerError("must be a string")
            if len(text) > ACCOUNT_NUMBER_MAX:
                raise CustomerError(f"has at most {ACCOUNT_NUMBER_MAX} characters")
            numbers.append(normalize_linked_account(system, text)[1])
        except CustomerError as error:
            errors.append({"field": f"account_numbers[{index}]", "message": str(error)})
    if errors:
        first = errors[0]
        raise ApiProblem(400, "Bad request", f"{first['field']}: {first['message']}"
                         + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                         "invalid-body", extensions={"errors": errors})
    return numbers


def _nullable_string(body: dict, name: str) -> str | None:
    """A profile member: a string within its limit, or null (to clear it)."""
    if body[name] is None:
        return None
    return string_field(body, name, max_length=LOCALE_MAX if name == "locale" else NAME_MAX)

