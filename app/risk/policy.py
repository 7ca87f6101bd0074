"""The risk policy's answer to a proved first factor: allow it, ask for a second factor
(step up), or refuse the factor.

This is the hook the login flow (app/auth/flow.py) calls after every first factor. Today
it allows everything; the phone-trust work (recycled numbers, SIM swaps) decides here
when an SMS code is not enough.
"""
from __future__ import annotations

from app.models import Customer
from app.platform.audit import Origin

ALLOW = "allow"
STEP_UP = "step_up"
DENY = "deny"
DENY_MESSAGE = ("This way of logging in is not available for your account right now. "
                "Use another way, or contact support.")


def login_decision(customer: Customer, factor: str, origin: Origin) -> str:
    """ALLOW, STEP_UP or DENY for `customer` having just proved `factor` (an amr value)."""
    return ALLOW
