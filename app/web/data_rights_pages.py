"""The customer's own data rights: download my data, delete my account (and change my mind).

    /account/data             what we hold and what the customer can do (login needed)
    /account/data/export      GET: confirm; POST: the JSON download   (recent login needed)
    /account/delete           GET: confirm; POST: schedule the deletion (recent login needed)
    /account/delete/cancel    POST: cancel a pending deletion (login needed)

Deleting is not immediate: the erasure is scheduled ACCOUNT_DELETION_GRACE_DAYS ahead and
done by `flask customers erase-due` (app/directory/erasure.py). Until then nothing changes: the
customer logs in as before, the account page shows the date with a button to cancel, and a
notice goes to their verified email addresses and trusted phones either way.

Pages that act also answer GET with a confirmation page, because re-authentication returns
the customer to the page's URL with a GET (as in app/web/factors.py).
"""
from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from app.directory import data_export, erasure
from app.extensions import db
from app.platform.audit import record_event
from app.platform.i18n import customer_locale, speaking
from app.platform.notifications import notify_support_action
from app.web.login_session import login_required, request_origin
from app.web.reauth import fresh_login_required

bp = Blueprint("data_rights", __name__)

#: What the customer types to confirm: the same word in every language (the page quotes
#: it), so a page opened in one language and sent in another still matches.
CONFIRMATION_WORD = "DELETE"


class ExportForm(FlaskForm):
    """Only a CSRF token: the download is a POST after a recent login."""

    submit = SubmitField(_l("Download my data"))


class DeleteAccountForm(FlaskForm):
    """The customer types DELETE to confirm."""

    confirmation = StringField(
        _l("Type %(word)s to confirm", word=CONFIRMATION_WORD), validators=[
            DataRequired(_l("Type %(word)s to confirm.", word=CONFIRMATION_WORD)),
            Length(max=32, message=_l("Type %(word)s to confirm.", word=CONFIRMATION_WORD))])
    submit = SubmitField(_l("Delete my account"))

    def validate_confirmation(self, field) -> None:
        if (field.data or "").strip() != CONFIRMATION_WORD:
            raise ValidationError(_("Type %(word)s, in capital letters, to confirm.",
                                    word=CONFIRMATION_WORD))


class CancelDeletionForm(FlaskForm):
    """Only a CSRF token."""

    submit = SubmitField(_l("Cancel the deletion"))


@bp.app_template_filter("long_date")
def long_date(moment) -> str:
    """A date as people read it in the page's language ("21 January 2030", "21. Januar
    2030"), for the pages and the banner. The day is the stored (UTC) one, as the
    erasure counts it."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return erasure.deletion_date(moment)
    return format_date(moment, "long", rebase=False)


@bp.get("/account/data")
@login_required
def data_page():
    """What the customer can do with their data: download it, or delete the account."""
    customer = g.login_session.customer
    # Two forms on one page: they carry the CSRF token as a plain hidden input, so the
    # page has no duplicate element ids.
    return render_template("web/data_rights.html", customer=customer,
                           grace_days=erasure.grace_days())


@bp.route("/account/data/export", methods=["GET", "POST"])
@fresh_login_required()
def export_data():
    """GET: a button to download; POST: the customer's data as a JSON file, audited."""
    customer = g.login_session.customer
    form = ExportForm()
    if form.validate_on_submit():
        document = data_export.export(customer)
        record_event("data.exported", request_origin(), customer.customer_id,
                     format=data_export.FORMAT)
        db.session.commit()
        return Response(data_export.to_json(document), mimetype="application/json",
                        headers={"Content-Disposition":
                                 data_export.content_disposition(customer)})
    return render_template("web/data_export.html", form=form), 400 if form.errors else 200


@bp.route("/account/delete", methods=["GET", "POST"])
@fresh_login_required()
def delete_account():
    """GET: what deleting means and the form; POST (with DELETE typed): schedule it."""
    customer = g.login_session.customer
    if customer.deletion_due_at is not None:
        flash(_("Your account will be deleted on %(date)s.",
                date=long_date(customer.deletion_due_at)))
        return redirect(url_for("web.account"), 303)
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            due = erasure.request_deletion(customer, request_origin())
        except erasure.DeletionError as error:
            db.session.rollback()
            flash(str(error))
            return redirect(url_for("web.account"), 303)
        db.session.commit()
        # The notice is in the customer's language, and so is its date.
        with speaking(customer_locale(customer.locale)):
            due_text = long_date(due)
        notify_support_action(customer, "deletion_scheduled", due_text)
        # The account page's banner says when, with the button to cancel.
        return redirect(url_for("web.account"), 303)
    return render_template("web/data_delete.html", form=form,
                           grace_days=erasure.grace_days()), 400 if form.errors else 200


@bp.post("/account/delete/cancel")
@login_required
def cancel_deletion():
    """Cancel a pending deletion (CSRF-checked like every POST)."""
    customer = g.login_session.customer
    if CancelDeletionForm().validate_on_submit() and \
            erasure.cancel_deletion(customer, request_origin()):
        db.session.commit()
        notify_support_action(customer, "deletion_cancelled")
        flash(_("The deletion of your account was cancelled."))
    else:
        flash(_("Your account is not scheduled for deletion."))
    return redirect(url_for("web.account"), 303)
