"""Account pages for second factors: adding and removing an authenticator app (TOTP) and
renewing recovery codes, plus the "Sign-in security" summary the account page includes.

Each change needs a recent login (app/web/reauth.py); removing the app also needs that
login to have used two factors, so a stolen password alone cannot strip the second one.
Recovery codes are shown once, on the response that made them (never cached: see
add_security_headers), and exist afterwards only as hashes.

Pages that change something are POSTs; each also answers GET with a confirmation page,
because re-authentication returns the customer to the page's URL with a GET.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth import recovery_codes, support, totp
from app.extensions import db
from app.models import Customer
from app.web.login_session import request_origin
from app.web.reauth import fresh_login_required

bp = Blueprint("factors", __name__)


class TotpConfirmForm(FlaskForm):
    """The first code from the authenticator app, proving it holds the secret."""

    code = StringField("Code from the app", validators=[
        DataRequired("Enter the 6-digit code your authenticator app shows."),
        Length(max=32, message=totp.WRONG_CODE)])
    submit = SubmitField("Turn on")


class RemoveTotpForm(FlaskForm):
    """Only a CSRF token: removal is a POST so other sites cannot trigger it."""

    submit = SubmitField("Remove the authenticator app")


class RenewRecoveryCodesForm(FlaskForm):
    """Only a CSRF token."""

    submit = SubmitField("Make new recovery codes")


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
        flash("An authenticator app is already set up.")
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
            return render_template("web/totp_confirmed.html", codes=codes)
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
            flash("The authenticator app was removed. Your recovery codes no longer work.")
        return redirect(url_for("web.account"), 303)
    if not totp.has_totp(customer):
        flash("No authenticator app is set up.")
        return redirect(url_for("web.account"), 303)
    return render_template("web/totp_remove.html", form=form)


@bp.route("/account/security/recovery-codes", methods=["GET", "POST"])
@fresh_login_required()
def recovery_codes_page():
    """GET: how many codes remain, and a button to renew; POST: a new set, shown once."""
    customer = g.login_session.customer
    form = RenewRecoveryCodesForm()
    if form.validate_on_submit():
        try:
            codes = recovery_codes.renew(customer, request_origin())
        except recovery_codes.RecoveryCodeError as error:
            return render_template("web/recovery_codes.html", form=form, codes=None,
                                   error=str(error), remaining=0), 400
        db.session.commit()
        return render_template("web/recovery_codes.html", form=form, codes=codes,
                               error=None, remaining=len(codes))
    summary = factor_summary(customer)
    error = None if summary.totp_enrolled else (
        "Recovery codes stand in for an authenticator app. Set up an authenticator app first.")
    return render_template("web/recovery_codes.html", form=form, codes=None, error=error,
                           remaining=summary.recovery_codes_remaining)
