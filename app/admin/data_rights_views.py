"""Admin API: merging two customers (admin:write), and a customer's data rights
(admin:gdpr): exporting their data and erasing it. The work is done by app/directory/customer_merge.py,
app/directory/data_export.py and app/directory/erasure.py; the rules are written there."""
from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import update

from app.admin.auth import admin_required
from app.admin.customer_view import customer_view, tombstone_view
from app.admin.requests import (ApiProblem, PathCustomer, audit, claim_version, invalid, json_body,
                                only_fields, path_customer, string_field, with_etag,
                                writable_customer)
from app.directory import data_export, erasure
from app.directory.customer_merge import MergeConflict, lock_pair, merge
from app.directory.customers import get_by_customer_id
from app.directory.erasure import ErasureError, erase
from app.extensions import db
from app.identity import customer_ids
from app.identity.customer_ids import format_for_people
from app.models import Customer
from app.platform.notifications import notify_support_action

bp = Blueprint("data_rights", __name__)  # nested in admin_api: app/admin/blueprint.py

#: Longer than any ETag we issue ("<13-symbol ID>.<version>" in quotes).
ETAG_MAX = 200


def _writable(customer_id: str) -> PathCustomer:
    """The customer in the path for a change (an erased one is 409), remembering whether
    the path named a merged customer's ID."""
    writable_customer(customer_id)
    return path_customer(customer_id)


# ---- merge ----------------------------------------------------------------------------------

@bp.post("/customers/<customer_id>/merge")
@admin_required("admin:write")
def merge_customers(customer_id: str):
    """Merge the customer named in the body into the one in the path (the survivor); see
    app/directory/customer_merge.py for what moves and which factor wins. If-Match (the survivor's
    ETag) is required; `absorbed_etag` optionally guards the absorbed customer too."""
    found = _writable(customer_id)
    survivor = found.customer
    body = json_body()
    only_fields(body, {"absorbed_customer_id", "absorbed_etag"})
    absorbed_text = string_field(body, "absorbed_customer_id", max_length=64)
    absorbed_etag = _optional_string(body, "absorbed_etag", ETAG_MAX)
    absorbed = _absorbed_customer(absorbed_text, survivor)
    lock_pair(survivor, absorbed)
    claim_version(survivor, required=True)
    if absorbed_etag is not None:
        _claim_absorbed(absorbed, absorbed_etag)
    try:
        result = merge(survivor, absorbed, g.admin.origin)
    except MergeConflict as error:
        raise ApiProblem(409, "Conflict", str(error), "merge-conflict") from None
    audit("customer_merged", survivor.customer_id, absorbed_customer_id=absorbed.customer_id,
          **result.as_details())
    db.session.commit()
    notify_support_action(survivor, "accounts_merged", format_for_people(absorbed.customer_id))
    body = customer_view(survivor)
    if found.via_alias:
        body["resolved_from"] = found.requested_id
    return with_etag(jsonify(body), survivor)


def _optional_string(body: dict, name: str, max_length: int) -> str | None:
    """An optional string member: absent is None, but an explicit null is refused."""
    if name in body and body[name] is None:
        raise invalid(name, "must be a string")
    return string_field(body, name, required=False, max_length=max_length)


def _absorbed_customer(text: str, survivor: Customer) -> Customer:
    """The customer to absorb: a well-formed ID (400) of a customer that exists (404) and
    is not the survivor, erased, or an alias already (409)."""
    try:
        canonical = customer_ids.parse(text)
    except customer_ids.InvalidCustomerId as error:
        raise invalid("absorbed_customer_id", str(error)) from None
    absorbed = get_by_customer_id(canonical)
    if absorbed is None:
        raise ApiProblem(404, "Not found", "No customer has the ID given as "
                         "absorbed_customer_id.", "unknown-absorbed-customer")
    if absorbed.id == survivor.id:
        raise ApiProblem(409, "Conflict", "absorbed_customer_id names the customer in the "
                         "path: a customer cannot be merged into itself.", "same-customer")
    if absorbed.status == "merged":
        into = db.session.get(Customer, absorbed.merged_into_pk)
        where = "this customer" if into is not None and into.id == survivor.id else \
            "another customer"
        raise ApiProblem(409, "Conflict", f"absorbed_customer_id was already merged into "
                         f"{where}; it is an alias now.", "already-merged")
    if absorbed.status == "erased":
        raise ApiProblem(409, "Conflict", "absorbed_customer_id names an erased customer; "
                         "only the tombstone of its ID is left.", "customer-erased")
    return absorbed


def _claim_absorbed(absorbed: Customer, etag: str) -> None:
    """Check `absorbed_etag` against the absorbed customer's version and claim the next
    one in one conditional UPDATE, as If-Match does for the survivor (412 if stale)."""
    prefix = f'"{absorbed.customer_id}.'
    tag = etag.strip()
    number = tag[len(prefix):-1] if tag.startswith(prefix) and tag.endswith('"') else ""
    expected = int(number) if number.isdigit() and len(number) < 12 else -1
    claimed = db.session.execute(
        update(Customer).where(Customer.id == absorbed.id, Customer.version == expected)
        .values(version=Customer.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise ApiProblem(412, "Precondition failed", "The absorbed customer changed since "
                         "you read it (absorbed_etag). Read it again, check, and retry.",
                         "stale-absorbed-etag")
    db.session.refresh(absorbed, ["version"])


# ---- export ---------------------------------------------------------------------------------

@bp.get("/customers/<customer_id>/export")
@admin_required("admin:gdpr")
def export_data(customer_id: str):
    """Everything held about the customer, as a JSON download (app/directory/data_export.py). An
    erased customer has nothing left to export (409)."""
    customer = writable_customer(customer_id)
    document = data_export.export(customer)
    audit("data_exported", customer.customer_id, format=data_export.FORMAT)
    db.session.commit()
    return Response(data_export.to_json(document), mimetype="application/json",
                    headers={"Content-Disposition": data_export.content_disposition(customer)})


# ---- erasure --------------------------------------------------------------------------------

@bp.post("/customers/<customer_id>/erasure")
@admin_required("admin:gdpr")
def erase_customer(customer_id: str):
    """Erase the customer's personal data (app/directory/erasure.py), keeping the tombstone of the
    ID. If-Match is required; the optional body gives a reason (at most 200 characters)."""
    found = _writable(customer_id)
    customer = found.customer
    body = json_body() if request.get_data(cache=True) else {}
    only_fields(body, {"reason"})
    reason = _optional_string(body, "reason", erasure.REASON_MAX)
    claim_version(customer, required=True)
    try:
        notice = erase(customer, g.admin.origin, reason=reason)
    except ErasureError as error:
        raise ApiProblem(409, "Conflict", str(error), "customer-erased") from None
    audit("customer_erased", customer.customer_id)
    db.session.commit()
    erasure.send_notice(notice)
    body = tombstone_view(customer)
    if found.via_alias:
        body["resolved_from"] = found.requested_id
    return with_etag(jsonify(body), customer)
