"""Account pages for second factors: adding and removing an authenticator app (TOTP) and
renewing recovery codes, plus the "Sign-in security" summary the account page includes.

Each change needs a recent login (app/web/reauth.py); removing the app also needs that
login to have used two factors, so a stolen password alone cannot strip the second one.
Recovery codes are shown once, on the response that made them (never cached: see
add_security_headers), and exist afterwards only as hashes.

Pages that change something are POSTs; each also answers GET with a confirmation page,
because re-authentication returns the customer to the page's URL with a GET.

A new set of codes can be downloaded as a text file only from the page that shows it: that
page carries the codes in a signed, timed token (hidden field, never a cookie or a URL),
and the POST that downloads it answers with no-store while the set is still unused.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import (Blueprint, current_app, flash, g, make_response, redirect, render_template,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeTimedSerializer
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import recovery_codes, support, totp
from app.extensions import db
from app.models import Customer
from app.identity.customer_ids import format_for_people
from app.web.login_session import login_required, request_origin
from app.web.reauth import fresh_login_required

bp = Blueprint("factors", __name__)


class TotpConfirmForm(FlaskForm):
    """The first code from the authenticator app, proving it holds the secret."""

    code = StringField(_l("Code from the app"), validators=[
        DataRequired(_l("Enter the 6-digit code your authenticator app shows.")),
        Length(max=32, message=totp.WRONG_CODE)])
    submit = SubmitField(_l("Turn on"))


class RemoveTotpForm(FlaskForm):
    """Only a CSRF token: removal is a POST so other sites cannot trigger it."""

    submit = SubmitField(_l("Remove the authenticator app"))


class RenewRecoveryCodesForm(FlaskForm):
    """Only a CSRF token: the button on the page that warns the old codes will stop."""

    submit = SubmitField(_l("Yes, make new codes"))


class DownloadRecoveryCodesForm(FlaskForm):
    """The signed set of codes the page shows (see download_token)."""

    codes_token = HiddenField()


#: How long after it is shown a new set may still be downloaded.
DOWNLOAD_SECONDS = 600
_DOWNLOAD_SALT = "recovery-codes-download"
DOWNLOAD_FILENAME = "recovery-codes.txt"
#: What the recovery codes page says when a download is no longer possible.
DOWNLOAD_GONE = _l("These codes can no longer be downloaded: they were shown more than 10 "
                   "minutes ago, or one was used or replaced. Make new recovery codes to "
                   "download them.")


def download_text(customer_id: str, codes: list[str]) -> str:
    """The downloaded file: three lines saying what it is, a blank line, a code a line."""
    lines = [_("Recovery codes for customer ID %(customer_id)s", customer_id=customer_id),
             _("Each code logs you in once when you do not have your authenticator app."),
             _("Keep this file somewhere other than your phone."), "", *codes]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FactorSummary:
    """What the account page shows about second factors."""

    totp_enrolled: bool
    recovery_codes_remaining: int


def factor_summary(customer: Customer) -> FactorSummary:
    """The customer's second factors, for web/_factors.html."""
    enrolled = totp.has_totp(customer)
    return FactorSummary(enrolled, recovery_codes.remaining(customer) if enrolled else 0)


@bp.app_context_processor
def inject_factor_summary() -> dict:
    # A function, not a value: only pages that include the partial pay for the queries.
    return {"factor_summary": factor_summary}


def _download_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_DOWNLOAD_SALT)


def download_token(customer: Customer, codes: list[str]) -> str:
    """The token the page showing `codes` posts to download them. Signed, not sealed: it
    holds what that same page shows (never cached), and is useless to another customer
    or after DOWNLOAD_SECONDS."""
    return _download_serializer().dumps({"customer_id": customer.customer_id,
                                         "codes": codes})


def downloadable_codes(customer: Customer, token: str | None) -> list[str] | None:
    """The codes in a download token, if it is this customer's, recent, and its set is
    still the customer's and unused; otherwise None."""
    try:
        data = _download_serializer().loads(token or "", max_age=DOWNLOAD_SECONDS)
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("customer_id") != customer.customer_id:
        return None
    codes = data.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        return None
    return codes if recovery_codes.are_current(customer, codes) else None


def render_new_codes(template: str, customer: Customer, codes: list[str], **context):
    """A page showing a new set of codes once, with its copy and download buttons."""
    form = DownloadRecoveryCodesForm(codes_token=download_token(customer, codes))
    return render_template(template, codes=codes, download_form=form, **context)


def _grouped(secret: str) -> str:
    """A base32 secret in groups of four, as people type it into an app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _render_enrol(form: TotpConfirmForm, enrolment: totp.Enrolment, status: int):
    return render_template("web/totp_enrol.html", form=form, enrolment=enrolment,
                           secret_grouped=_grouped(enrolment.secret)), status


@bp.route("/account/security/totp", methods=["GET", "POST"])
@fresh_login_required()
def totp_enrol():
    """Show the QR code and secret of a pending enrolment; a first code confirms it."""
    customer = g.login_session.customer
    if totp.has_totp(customer):
        flash(_("An authenticator app is already set up."))
        return redirect(url_for("web.account"), 303)
    if not support.may_replace_second_factor(customer, g.login_session.amr):
        # Support reset the app: a session with the old password alone may not put a new
        # one in its place; the required-action page says how to prove a channel.
        return redirect(url_for("required_actions.configure_totp"), 303)
    form = TotpConfirmForm()
    if form.validate_on_submit():
        try:
            codes = totp.confirm_enrolment(customer, form.code.data, request_origin())
        except totp.TotpError as error:
            form.code.errors.append(str(error))
        else:
            db.session.commit()
            return render_new_codes("web/totp_confirmed.html", customer, codes)
    try:
        enrolment = totp.pending_enrolment(customer) or totp.begin_enrolment(customer)
    except totp.TotpError as error:
        flash(str(error))
        return redirect(url_for("web.account"), 303)
    db.session.commit()
    return _render_enrol(form, enrolment, 400 if form.errors else 200)


@bp.route("/account/security/totp/remove", methods=["GET", "POST"])
@fresh_login_required(second_factor=True)
def totp_remove():
    """GET: ask to confirm; POST: remove the app and its recovery codes."""
    customer = g.login_session.customer
    form = RemoveTotpForm()
    if form.validate_on_submit():
        try:
            totp.remove_totp(customer, request_origin())
        except totp.TotpError as error:
            flash(str(error))
        else:
            db.session.commit()
            flash(_("The authenticator app was removed. Your recovery codes no longer "
                    "work."))
        return redirect(url_for("web.account"), 303)
    if not totp.has_totp(customer):
        flash(_("No authenticator app is set up."))
        return redirect(url_for("web.account"), 303)
    return render_template("web/totp_remove.html", form=form)


@bp.route("/account/security/recovery-codes", methods=["GET", "POST"])
@fresh_login_required()
def recovery_codes_page():
    """GET: how many codes remain, and a confirmation that renewing stops the old ones;
    POST (its button): a new set, shown once."""
    customer = g.login_session.customer
    form = RenewRecoveryCodesForm()
    if form.validate_on_submit():
        try:
            codes = recovery_codes.renew(customer, request_origin())
        except recovery_codes.RecoveryCodeError as error:
            return render_template("web/recovery_codes.html", form=form, codes=None,
                                   error=str(error), remaining=0), 400
        db.session.commit()
        return render_new_codes("web/recovery_codes.html", customer, codes, form=form,
                                error=None, remaining=len(codes))
    summary = factor_summary(customer)
    error = None if summary.totp_enrolled else _(
        "Recovery codes stand in for an authenticator app. Set up an authenticator app first.")
    return render_template("web/recovery_codes.html", form=form, codes=None, error=error,
                           remaining=summary.recovery_codes_remaining)


@bp.post("/account/security/recovery-codes/download")
@login_required
def recovery_codes_download():
    """The set of codes the page just showed, as a text file (no-store, like every page
    of a logged-in customer). Nothing is changed; a stale or foreign token sends the
    customer back to the recovery codes page, which says what to do."""
    customer = g.login_session.customer
    form = DownloadRecoveryCodesForm()
    codes = downloadable_codes(customer, form.codes_token.data) \
        if form.validate_on_submit() else None
    if codes is None:
        flash(str(DOWNLOAD_GONE))  # str: the session keeps plain text
        return redirect(url_for("factors.recovery_codes_page"), 303)
    text = download_text(format_for_people(customer.customer_id), codes)
    response = make_response(text)
    response.mimetype = "text/plain"
    response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_FILENAME}"'
    response.headers["Cache-Control"] = "no-store"
    return response
