"""The OpenID Provider's own page form: the consent page (app/oidc/endpoints.py).
Flask-WTF adds and checks its CSRF token."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired, Length


class ConsentForm(FlaskForm):
    """Allow or deny a client; carries the authorization request to resume."""

    request_query = HiddenField(validators=[DataRequired(), Length(max=8000)])
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))
