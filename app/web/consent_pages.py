"""The "Messages we may send you" page: the customer's communication consents.

    /account/communications   GET: the four choices (email, SMS x marketing, service)
                              with the words agreed to and when each last changed;
                              POST: Save records each changed choice (source "account")

Withdrawing is unticking and saving, as easy as giving. No recent login is asked for:
this is not a security change (security notices always go out, whatever is chosen), and
a customer must never find it harder to stop messages than to allow them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l

from app.directory import communication_consents
from app.directory.communication_consents import WORDINGS, ConsentState
from app.extensions import db
from app.models import Customer
from app.web.forms import CommunicationChoicesForm
from app.web.login_session import login_required, request_origin

bp = Blueprint("consents", __name__)

CHANNEL_HEADINGS = {"email": _l("By email"), "sms": _l("By text message")}
#: Where a choice was made, in the words of "Last changed ... <source>".
SOURCE_WORDS = {"signup": _l("when you signed up"), "account": _l("on this page"),
                "admin": _l("by our support team, at your request")}
SAVED = _l("Your choices are saved.")
UNCHANGED = _l("Nothing changed: your choices are as they were.")


@dataclass(frozen=True)
class Choice:
    """One box on the page, with what the customer has chosen so far."""

    channel: str
    purpose: str
    field: object
    last_changed: datetime | None
    source_words: str | None
    # A grant to words we no longer show (they changed since): it stands until withdrawn.
    earlier_wording: bool


def _choices(form: CommunicationChoicesForm, states: list[ConsentState]) -> dict[str, list]:
    """The boxes grouped by channel, in CHANNELS x PURPOSES order."""
    grouped: dict[str, list[Choice]] = {}
    for state in states:
        wording = WORDINGS[(state.channel, state.purpose)]
        grouped.setdefault(state.channel, []).append(Choice(
            state.channel, state.purpose, form.field_of(state.channel, state.purpose),
            state.recorded_at, _source_words(state.source),
            state.granted and state.wording_version != wording.version))
    return grouped


def _source_words(source: str | None) -> str | None:
    """Where a choice was made, in the page's language (None for a source without words)."""
    words = SOURCE_WORDS.get(source)
    return str(words) if words is not None else None


def _has_identifier(customer: Customer, kind: str) -> bool:
    return any(row.kind == kind and row.verified_at is not None
               for row in customer.identifiers)


@bp.route("/account/communications", methods=["GET", "POST"])
@login_required
def communications():
    """Show the choices; on Save, record each one that changed and say so."""
    customer = g.login_session.customer
    states = communication_consents.current(customer)
    form = CommunicationChoicesForm()
    if form.validate_on_submit():
        recorded = communication_consents.save_choices(customer, form.choices(), "account",
                                                       request_origin())
        db.session.commit()
        flash(str(SAVED if recorded else UNCHANGED))  # str: the session keeps plain text
        return redirect(url_for("consents.communications"), 303)
    if not form.is_submitted():
        for state in states:
            form.field_of(state.channel, state.purpose).data = state.granted
    return render_template(
        "web/communications.html", form=form, choices=_choices(form, states),
        channel_headings=CHANNEL_HEADINGS,
        has_email=_has_identifier(customer, "email"),
        has_phone=_has_identifier(customer, "phone"),
    ), 400 if form.errors else 200
