"""Support's actions on a customer's phone bindings (see app/phones/bindings.py): release
one, or mark it recycled. The admin API (app/admin/recovery_views.py) calls these; the
rest of support's recovery actions are in app/auth/support.py.

Like every support action, each takes plain arguments and an Origin, changes the database
in the caller's transaction (the caller commits once, so a refusal leaves nothing behind),
writes its own audit event and bumps the customer's version. Refusals raise NotTheirs (the
binding is not this customer's: the API answers 404) and StateConflict (the binding's
state forbids it: 409), both from app/directory/customers.py.

- released: the binding ends and the phone identifier stays on the account but is marked
  unverified. Every path that lets a phone open the account needs a verified identifier
  with an active binding (the SMS login and recovery lookups, the second-factor offer,
  the notices), so SMS no longer opens it; the customer can prove the number again from
  their account page ("Add a phone", the same number), which makes a new binding.
- recycled: the number belongs to someone else now. The binding is marked recycled and the
  identifier removed, as app/directory/customers.take_over_phone does for a previous
  owner, so the number is free for its new holder and never opens this account again. The
  account is still found by its customer ID and any other identifier.
"""
from __future__ import annotations

from app.directory.customers import NotTheirs, StateConflict, bump_version
from app.extensions import db
from app.models import Customer, Identifier, PhoneBinding
from app.models.phone import RECYCLED, RELEASED
from app.phones import bindings
from app.platform.audit import Origin, record_event


def binding_of_customer(customer: Customer, binding_id: int) -> PhoneBinding:
    """The customer's phone binding with this id; NotTheirs if there is none."""
    binding = db.session.get(PhoneBinding, binding_id)
    if binding is None or binding.customer_pk != customer.id:
        raise NotTheirs("This customer has no phone binding with this id.",
                        "unknown-phone-binding")
    return binding


def _phone_identifier(customer: Customer, e164: str) -> Identifier | None:
    return next((i for i in customer.identifiers if i.kind == "phone" and i.match_key == e164),
                None)


def release_binding(customer: Customer, binding_id: int, origin: Origin) -> PhoneBinding:
    """SMS to this number no longer opens the account: the binding is released and the
    phone identifier kept, unverified (see the module docstring). StateConflict if the
    binding is already released or recycled."""
    binding = binding_of_customer(customer, binding_id)
    if binding.status in (RELEASED, RECYCLED):
        raise StateConflict(f"This phone binding is already {binding.status}.",
                            f"binding-{binding.status}")
    bindings.release(binding, "admin", origin)
    identifier = _phone_identifier(customer, binding.e164)
    unverified = identifier is not None and identifier.verified_at is not None
    if unverified:
        identifier.verified_at = None
    bump_version(customer)
    record_event("phone.released", origin, customer.customer_id, binding_id=binding.id,
                 phone_hint=binding.e164[-2:], identifier_unverified=unverified)
    return binding


def mark_binding_recycled(customer: Customer, binding_id: int, origin: Origin) -> PhoneBinding:
    """The number was reassigned to someone else: the binding is marked recycled and the
    phone identifier removed (see the module docstring). A released binding may still be
    marked recycled; StateConflict if it already is."""
    binding = binding_of_customer(customer, binding_id)
    if binding.status == RECYCLED:
        raise StateConflict("This phone binding is already recycled.", "binding-recycled")
    bindings.mark_recycled(binding, "marked recycled by support", origin)
    identifier = _phone_identifier(customer, binding.e164)
    if identifier is not None:
        record_event("identifier.removed", origin, customer.customer_id, kind="phone",
                     value=identifier.value, reason="recycled")
        customer.identifiers.remove(identifier)
        db.session.flush()
    bump_version(customer)
    return binding
