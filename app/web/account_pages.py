"""The account area's sections beside the profile (/account, app/web/pages.py), and the
header menu every account page shows:

    /account/security                   password, second factor, phones and emails
    /account/security/password          change the password             (GET, POST)
    /account/sessions                   open sessions and connected apps
    /account/sessions/<id>/sign-out     sign out one other session      (POST)
    /account/sessions/sign-out-others   sign out every other session    (POST)
    /account/activity                   the customer's events, 20 a page (?before=<id>)

Privacy & data is /account/data (app/web/data_rights_pages.py) with the message choices
(app/web/consent_pages.py). Views parse, call the services in app/auth and app/oidc,
commit once and answer.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import support
from app.auth.login import CurrentPasswordRefused, change_password, has_password
from app.auth.passwords import PasswordRejected
from app.auth.sessions import open_sessions, own_open_session
from app.directory.customers import display_name
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.oidc.connected_apps import connected_apps
from app.oidc.logout import end_other_sso_sessions, end_sso_session
from app.phones.trust import paused_reason
from app.platform import audit
from app.platform.notifications import notify_after_commit
from app.web.account_display import customer_zone, describe_device, local_time
from app.web.forms import PASSWORD_FIELD_MAX
from app.web.login_session import login_required, request_origin
from app.web.reauth import is_fresh, needs_two_factors

bp = Blueprint("account", __name__)

#: The header menu's sections: (endpoint, label), in order.
SECTIONS = (("web.account", _l("Profile")), ("account.security", _l("Security")),
            ("account.sessions", _l("Apps & sessions")),
            ("data_rights.data_page", _l("Privacy & data")),
            ("account.activity", _l("Activity")))
#: Endpoints that belong to a section other than their own page, for aria-current.
SECTION_OF = {"consents.communications": "data_rights.data_page",
              "data_rights.export_data": "data_rights.data_page",
              "data_rights.delete_account": "data_rights.data_page",
              "account.change_password_page": "account.security",
              "passkeys.list_passkeys": "account.security",
              "passkeys.remove_passkey": "account.security"}
#: Blueprints whose pages show the account menu (not login, consent or required actions:
#: those pages lead somewhere else, and have their own way out).
MENU_BLUEPRINTS = frozenset({"web", "account", "identifiers", "factors", "passkeys",
                             "consents", "data_rights"})
#: Events on one activity page.
ACTIVITY_PAGE_SIZE = 20


class ChangePasswordForm(FlaskForm):
    """The new password, the current one unless the login is recent, and whether to sign
    out everywhere else."""

    current_password = PasswordField(_l("Current password"), validators=[
        Length(max=PASSWORD_FIELD_MAX, message=_l("That is not your current password."))])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a new password.")),
        Length(max=PASSWORD_FIELD_MAX, message=_l("Use at most 256 characters."))])
    sign_out_others = BooleanField(_l("Sign out my other sessions (recommended)"), default=True)
    submit = SubmitField(_l("Change password"))


# ---- the header menu ---------------------------------------------------------------------

@bp.app_context_processor
def account_menu_context() -> dict:
    """`account_menu()` for base.html: the menu for a logged-in customer on an account
    page, else None."""
    return {"account_menu": account_menu}


def account_menu() -> dict | None:
    """Who is logged in and the section links (the current one marked), or None where
    the menu does not belong (no login, another area, a required action pending)."""
    login_session = g.get("login_session")
    if login_session is None or request.blueprint not in MENU_BLUEPRINTS:
        return None
    customer = login_session.customer
    if support.pending_actions(customer):
        return None
    current = SECTION_OF.get(request.endpoint or "", request.endpoint)
    return {"signed_in_as": signed_in_label(customer),
            "sections": [(url_for(endpoint), str(label), endpoint == current)
                         for endpoint, label in SECTIONS]}


def signed_in_label(customer) -> str:
    """How the menu names the customer: their name, else an email or phone, else their
    customer ID."""
    if customer.nickname or display_name(customer):
        return customer.nickname or display_name(customer)
    for kind in ("email", "phone"):
        for identifier in customer.identifiers:
            if identifier.kind == kind:
                return identifier.value
    return format_for_people(customer.customer_id)


# ---- Security ----------------------------------------------------------------------------

@bp.get("/account/security")
@login_required
def security():
    """Password, second factor and recovery codes, phones and emails."""
    customer = g.login_session.customer
    return render_template("web/account_security.html", customer=customer,
                           has_password=has_password(customer),
                           phone_notices=paused_reason(customer))


@bp.route("/account/security/password", methods=["GET", "POST"])
@login_required
def change_password_page():
    """Change (or set) the password: the current one, or a login in the last few minutes.
    A customer without a password and without a recent login logs in again first."""
    login_session = g.login_session
    customer = login_session.customer
    fresh = is_fresh(login_session)
    if not fresh and not has_password(customer):
        mfa = needs_two_factors(login_session, False)
        return redirect(url_for("login.login", next=request.path,
                                reauth="mfa" if mfa else "1"), 303)
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not fresh and not form.current_password.data:
            form.current_password.errors.append(_("Enter your current password."))
        else:
            return _change_password(form, fresh) or _password_page(form, fresh)
    return _password_page(form, fresh)


def _change_password(form: ChangePasswordForm, fresh: bool):
    """Apply a valid form: the change, the sign-outs, the notice; None on a refusal
    (the error is on the form)."""
    login_session = g.login_session
    customer = login_session.customer
    origin = request_origin()
    try:
        change_password(customer, form.new_password.data, origin,
                        current_password=None if fresh else form.current_password.data)
    except PasswordRejected as error:
        db.session.rollback()
        form.new_password.errors.append(str(error))
        return None
    except CurrentPasswordRefused as error:
        form.current_password.errors.append(error.message)
        return None
    ended = (end_other_sso_sessions(login_session, origin) if form.sign_out_others.data
             else 0)
    notify_after_commit(customer, "password_changed")
    db.session.commit()
    # English says "session(s)" either way; other languages get their plural forms.
    flash(ngettext("Your password was changed. %(num)d other session(s) were signed out.",
                   "Your password was changed. %(num)d other session(s) were signed out.",
                   ended) if ended else _("Your password was changed."))
    return redirect(url_for("account.security"), 303)


def _password_page(form: ChangePasswordForm, fresh: bool):
    return render_template("web/account_password.html", form=form, fresh=fresh,
                           has_password=has_password(g.login_session.customer)), \
        400 if form.errors else 200


# ---- Apps & sessions ---------------------------------------------------------------------

@bp.get("/account/sessions")
@login_required
def sessions():
    """Open sessions (this one marked) and the apps that can use the account."""
    login_session = g.login_session
    customer = login_session.customer
    zone, zone_name = customer_zone(customer.zoneinfo)
    rows = [{"id": s.id, "device": describe_device(s.user_agent), "ip": s.ip or _("unknown"),
             "started": local_time(s.created_at, zone),
             "last_seen": local_time(s.last_seen_at, zone),
             "this_device": s.id == login_session.id}
            for s in open_sessions(customer)]
    return render_template("web/account_sessions.html", sessions=rows, zone_name=zone_name,
                           apps=connected_apps(customer))


@bp.post("/account/sessions/<int:session_id>/sign-out")
@login_required
def sign_out_session(session_id: int):
    """Sign out one other session (this one signs out with Log out)."""
    login_session = g.login_session
    if session_id == login_session.id:
        flash(_("To sign out on this device, use Log out at the top of the page."))
        return redirect(url_for("account.sessions"), 303)
    target = own_open_session(login_session.customer, session_id)
    if target is None:
        flash(_("That session had already ended. The list below is up to date."))
        return redirect(url_for("account.sessions"), 303)
    origin = request_origin()
    audit.record_event("session.signed_out", origin, login_session.customer.customer_id,
                       session_id=target.id)
    end_sso_session(target, origin)
    db.session.commit()
    flash(_("Signed out %(device)s. It must log in again.",
            device=describe_device(target.user_agent)))
    return redirect(url_for("account.sessions"), 303)


@bp.post("/account/sessions/sign-out-others")
@login_required
def sign_out_others():
    """Sign out every session but this one."""
    origin = request_origin()
    ended = end_other_sso_sessions(g.login_session, origin)
    db.session.commit()
    flash(ngettext("Signed out %(num)d other session(s).",
                   "Signed out %(num)d other session(s).", ended) if ended
          else _("There were no other sessions to sign out."))
    return redirect(url_for("account.sessions"), 303)


# ---- Activity ----------------------------------------------------------------------------

@bp.get("/account/activity")
@login_required
def activity():
    """The customer's events, newest first, a page at a time (?before=<event id>)."""
    customer = g.login_session.customer
    before = request.args.get("before", type=int)
    events, next_before = audit.events_page(customer.customer_id, before,
                                            ACTIVITY_PAGE_SIZE)
    zone, zone_name = customer_zone(customer.zoneinfo)
    rows = [{"when": local_time(event.occurred_at, zone),
             "what": audit.describe_event(event.event, event.details),
             "device": describe_device(event.user_agent) if event.user_agent else "",
             "ip": event.ip or ""} for event in events]
    return render_template("web/account_activity.html", events=rows, zone_name=zone_name,
                           next_before=next_before, first_page=before is None)
