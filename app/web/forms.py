"""The hosted pages' forms. Flask-WTF adds and checks a CSRF token on every one."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.customers import CustomerError, normalize_name

# Generous caps against oversized posts; the services apply the real rules and messages.
IDENTIFIER_MAX = 320
PASSWORD_FIELD_MAX = 1024


def valid_name(form, field) -> None:
    """Apply the directory's name rules here, so the error shows at the name field."""
    try:
        normalize_name(field.data)
    except CustomerError as error:
        raise ValidationError(str(error)) from None


class SignupForm(FlaskForm):
    """Email or phone, a password, and optional names."""

    identifier = StringField("Email or phone number", validators=[
        DataRequired("Enter an email address or a phone number."),
        Length(max=IDENTIFIER_MAX, message="That is too long to be an email or phone number.")])
    password = PasswordField("Password", validators=[
        DataRequired("Choose a password."),
        Length(max=PASSWORD_FIELD_MAX, message="Use at most 256 characters.")])
    given_name = StringField("Given name (optional)", validators=[
        Optional(), Length(max=100, message="Names have at most 100 characters."), valid_name])
    family_name = StringField("Family name (optional)", validators=[
        Optional(), Length(max=100, message="Names have at most 100 characters."), valid_name])
    submit = SubmitField("Create account")


class VerifyCodeForm(FlaskForm):
    """The one-time code sent to prove an email or phone."""

    code = StringField("Code", validators=[
        DataRequired("Enter the 6-digit code we sent you."),
        Length(max=16, message="Enter the 6-digit code we sent you.")])
    submit = SubmitField("Confirm")


class LoginForm(FlaskForm):
    """Identifier and password."""

    identifier = StringField("Email, phone number or username", validators=[
        DataRequired("Enter your email, phone number or username."),
        Length(max=IDENTIFIER_MAX, message="That is too long to be an email, phone or username.")])
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."),
        Length(max=PASSWORD_FIELD_MAX, message="The identifier or password is not right.")])
    submit = SubmitField("Log in")


class LogoutForm(FlaskForm):
    """Only a CSRF token: logging out is a POST so other sites cannot trigger it."""

    submit = SubmitField("Log out")


class ConsentForm(FlaskForm):
    """Allow or deny a client; carries the authorization request to resume."""

    request_query = HiddenField(validators=[DataRequired(), Length(max=8000)])
    allow = SubmitField("Allow")
    deny = SubmitField("Deny")


class PhoneForm(FlaskForm):
    """A phone number to text a code to."""

    phone = StringField("Phone number", validators=[
        DataRequired("Enter your phone number."),
        Length(max=64, message="That is too long to be a phone number.")])
    submit = SubmitField("Text me a code")


class OneTimeCodeForm(FlaskForm):
    """A code: from a text message or an authenticator app."""

    code = StringField("Code", validators=[
        DataRequired("Enter the code."),
        Length(max=32, message="That is too long to be a code.")])
    submit = SubmitField("Continue")


class RecoveryCodeForm(FlaskForm):
    """One of the customer's recovery codes."""

    code = StringField("Recovery code", validators=[
        DataRequired("Enter one of your recovery codes."),
        Length(max=64, message="That is too long to be a recovery code.")])
    submit = SubmitField("Use recovery code")


class PasswordOnlyForm(FlaskForm):
    """The password, when the customer is already known (second factor, re-login)."""

    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."),
        Length(max=PASSWORD_FIELD_MAX, message="The password is not right.")])
    submit = SubmitField("Continue")


class ButtonForm(FlaskForm):
    """A button and its CSRF token (send a code, resend)."""

    submit = SubmitField("Send")
