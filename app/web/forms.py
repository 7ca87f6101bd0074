"""The hosted pages' forms. Flask-WTF adds and checks a CSRF token on every one."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.directory.communication_consents import WORDINGS, wordings_tag
from app.directory.customers import CustomerError, normalize_name

# Generous caps against oversized posts; the services apply the real rules and messages.
IDENTIFIER_MAX = 320
PASSWORD_FIELD_MAX = 1024
#: The sign-up form's cap on names (the directory's NAME_MAX applies the real rule).
SIGNUP_NAME_MAX = 100


def valid_name(form, field) -> None:
    """Apply the directory's name rules here, so the error shows at the name field."""
    try:
        normalize_name(field.data)
    except CustomerError as error:
        raise ValidationError(str(error)) from None


def shown_current_wordings(form, field) -> None:
    """The page showed the wordings in force now: if they changed while it was open (a
    deploy), ask again rather than record an agreement to words the customer never saw.
    Only when a box is ticked at sign-up; always on the consents page."""
    if field.data == wordings_tag():
        return
    if isinstance(form, SignupForm) and not form.communication_consents():
        return
    # The re-rendered page shows the new words: carry their tag on this time.
    field.data = wordings_tag()
    raise ValidationError(_("The wording of these choices changed while the page was "
                            "open. Read it again, then choose."))


class SignupForm(FlaskForm):
    """Email or phone, a password, and optional names."""

    identifier = StringField(_l("Email or phone number"), validators=[
        DataRequired(_l("Enter an email address or a phone number.")),
        Length(max=IDENTIFIER_MAX,
               message=_l("That is too long to be an email or phone number."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Choose a password.")),
        Length(max=PASSWORD_FIELD_MAX, message=_l("Use at most 256 characters."))])
    given_name = StringField(_l("Given name (optional)"), validators=[
        Optional(), Length(max=SIGNUP_NAME_MAX, message=_l(
            "Names have at most %(count)d characters.", count=SIGNUP_NAME_MAX)), valid_name])
    family_name = StringField(_l("Family name (optional)"), validators=[
        Optional(), Length(max=SIGNUP_NAME_MAX, message=_l(
            "Names have at most %(count)d characters.", count=SIGNUP_NAME_MAX)), valid_name])
    # Optional and unticked: labelled with the very words the customer agrees to.
    email_marketing = BooleanField(WORDINGS[("email", "marketing")].text)
    sms_marketing = BooleanField(WORDINGS[("sms", "marketing")].text)
    wordings_shown = HiddenField(default=wordings_tag, validators=[shown_current_wordings])
    submit = SubmitField(_l("Create account"))

    def communication_consents(self) -> list[tuple[str, str]]:
        """The (channel, purpose) of each box ticked."""
        boxes = {("email", "marketing"): self.email_marketing,
                 ("sms", "marketing"): self.sms_marketing}
        return [pair for pair, box in boxes.items() if box.data]


class CommunicationChoicesForm(FlaskForm):
    """Messages we may send: one box per channel and purpose, labelled with the words the
    customer agrees to (app/communication_consents.WORDINGS). Ticking gives, unticking
    withdraws: both take effect on Save."""

    email_marketing = BooleanField(WORDINGS[("email", "marketing")].text)
    email_service = BooleanField(WORDINGS[("email", "service")].text)
    sms_marketing = BooleanField(WORDINGS[("sms", "marketing")].text)
    sms_service = BooleanField(WORDINGS[("sms", "service")].text)
    wordings_shown = HiddenField(default=wordings_tag, validators=[shown_current_wordings])
    submit = SubmitField(_l("Save"))

    def field_of(self, channel: str, purpose: str):
        """The box of one channel and purpose."""
        return self[f"{channel}_{purpose}"]

    def choices(self) -> dict[tuple[str, str], bool]:
        """(channel, purpose) -> ticked, for every box."""
        return {pair: bool(self.field_of(*pair).data) for pair in WORDINGS}


class VerifyCodeForm(FlaskForm):
    """The one-time code sent to prove an email or phone."""

    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Enter the 6-digit code we sent you.")),
        Length(max=16, message=_l("Enter the 6-digit code we sent you."))])
    submit = SubmitField(_l("Confirm"))


class LoginForm(FlaskForm):
    """Identifier and password."""

    identifier = StringField(_l("Email, phone number or username"), validators=[
        DataRequired(_l("Enter your email, phone number or username.")),
        Length(max=IDENTIFIER_MAX,
               message=_l("That is too long to be an email, phone or username."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")),
        Length(max=PASSWORD_FIELD_MAX,
               message=_l("The identifier or password is not right."))])
    submit = SubmitField(_l("Log in"))


class LogoutForm(FlaskForm):
    """Only a CSRF token: logging out is a POST so other sites cannot trigger it."""

    submit = SubmitField(_l("Log out"))


class PhoneForm(FlaskForm):
    """A phone number to text a code to."""

    phone = StringField(_l("Phone number"), validators=[
        DataRequired(_l("Enter your phone number.")),
        Length(max=64, message=_l("That is too long to be a phone number."))])
    submit = SubmitField(_l("Text me a code"))


class RecoverForm(FlaskForm):
    """"Forgot your password?": the email address or phone number to send a code to."""

    identifier = StringField(_l("Email address or phone number"), validators=[
        DataRequired(_l("Enter the email address or phone number on your account.")),
        Length(max=320,
               message=_l("That is too long to be an email address or phone number."))])
    submit = SubmitField(_l("Send me a code"))


class OneTimeCodeForm(FlaskForm):
    """A code: from a text message or an authenticator app."""

    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Enter the code.")),
        Length(max=32, message=_l("That is too long to be a code."))])
    submit = SubmitField(_l("Continue"))


class RecoveryCodeForm(FlaskForm):
    """One of the customer's recovery codes."""

    code = StringField(_l("Recovery code"), validators=[
        DataRequired(_l("Enter one of your recovery codes.")),
        Length(max=64, message=_l("That is too long to be a recovery code."))])
    submit = SubmitField(_l("Use recovery code"))


class PasswordOnlyForm(FlaskForm):
    """The password, when the customer is already known (second factor, re-login)."""

    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")),
        Length(max=PASSWORD_FIELD_MAX, message=_l("The password is not right."))])
    submit = SubmitField(_l("Continue"))


class PasskeyForm(FlaskForm):
    """The browser's answer to a passkey prompt (app/web/static/passkeys.js fills it)."""

    credential = HiddenField()


class ButtonForm(FlaskForm):
    """A button and its CSRF token (send a code, resend)."""

    submit = SubmitField(_l("Send"))
