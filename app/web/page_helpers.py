"""What every hosted page's templates share beyond the base layout: phone numbers shown
the way people write them, and where the keyboard focus starts.

register_page_helpers (called by register_web) puts them in the Jinja environment: the
`phone` filter and the `wants_autofocus` global (used by web/_field.html only).
"""
from __future__ import annotations

import phonenumbers
from flask import Flask, current_app, g

# Set on `g` once a field with an error has taken the page's autofocus.
_FOCUS_TAKEN = "_error_field_focused"


def register_page_helpers(app: Flask) -> None:
    """Add the `phone` filter and the `wants_autofocus` global to the app's templates."""
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.globals["wants_autofocus"] = wants_autofocus


def format_phone(number: str | None, default_region: str | None = None) -> str:
    """A stored phone number (E.164) as people write it: national format for a number of
    the default region (DEFAULT_REGION), international format for any other. Anything
    that is not a number (a masked hint such as "+44•••••56", or None) comes back as it
    was, so the filter is safe on every phone-like value."""
    if not number:
        return number or ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    region = default_region or current_app.config["DEFAULT_REGION"]
    style = (phonenumbers.PhoneNumberFormat.NATIONAL
             if phonenumbers.region_code_for_number(parsed) == region
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, style)


def wants_autofocus(field, requested: bool = False) -> bool:
    """Whether a form field gets `autofocus`. After a failed submit, the first field with
    an error on the page takes it (so a keyboard or screen-reader user lands on what to
    fix, without JavaScript), and no other field does; otherwise the field the template
    asked for."""
    if field.errors:
        if g.get(_FOCUS_TAKEN):
            return False
        setattr(g, _FOCUS_TAKEN, True)
        return True
    # WTForms keeps the bound form on the field: a form with errors elsewhere gives the
    # focus to its first invalid field instead of the one the template asked for.
    form = getattr(field, "_form", None)
    form_failed = form is not None and any(other.errors for other in form)
    return bool(requested) and not form_failed and not g.get(_FOCUS_TAKEN)
