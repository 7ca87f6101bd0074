"""The login pages: each step of the login flow (app/auth/flow.py) is one page.

    /login                    password (first factor)
    /login/sms                phone number -> a code is texted (first factor)
    /login/code               the texted code (first or second factor), resend
    /login/second-factor      passkey, authenticator code, recovery code, SMS code or password
    /login/passkey            a passkey's answer (first or second factor); its prompt's
                              options come from /login/passkey/options (app/web/static/
                              passkeys.js: the button, and autofill in the identifier field)

The browser keeps the flow's token in its signed Flask session; every first factor starts
a new flow. Query parameters: `next` (a local path to return to), `login_hint` (pre-fills
the form), `acr=2fa|phr` (the app asked for two factors; phr: one of them a passkey),
`reauth=1|mfa` (a logged-in customer confirms it is them before a sensitive change; mfa:
with two factors).
"""
from __future__ import annotations

from flask import (Blueprint, Response, after_this_request, current_app, flash, g, jsonify,
                   redirect, render_template, request, session, url_for)
from flask_babel import gettext as _

from app.auth import devices, passkeys, recovery
from app.auth import flow as login_flow
from app.auth.levels import ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_SINGLE_FACTOR
from app.auth.login import LoginRefused
from app.auth.passwords import PasswordRejected
from app.auth.code_sender import CodeError
from app.auth.sms_codes import SmsCodeError
from app.extensions import db, limiter
from app.oidc.logout import forget_login
from app.web.forms import (ButtonForm, LoginForm, OneTimeCodeForm, PasskeyForm, PasswordOnlyForm,
                           PhoneForm, RecoverForm, RecoveryCodeForm)
from app.web.login_session import (keep_next, request_origin, safe_next, start_logged_in,
                                   take_next)
from app.web.which_app import requesting_app

bp = Blueprint("login", __name__)

FLOW_KEY = "login_flow"


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _flow_args() -> dict:
    """The query parameters that shape a new flow, kept across the login pages."""
    wanted = request.args.get("next")
    args = {"next": wanted if wanted and safe_next(wanted) == wanted else None,
            "acr": request.args.get("acr") if request.args.get("acr") in ("2fa", "phr")
            else None,
            "reauth": request.args.get("reauth") if request.args.get("reauth") in ("1", "mfa")
            else None}
    return {k: v for k, v in args.items() if v}


def _begin_flow(key: str = FLOW_KEY):
    """A new flow for a first factor, shaped by the query parameters; its token goes in
    the browser's session under `key`."""
    reauth = request.args.get("reauth")
    wants_mfa = request.args.get("acr") == "2fa" or reauth == "mfa"
    required = (ACR_PHISHING_RESISTANT if request.args.get("acr") == "phr"
                else ACR_MULTI_FACTOR if wants_mfa else ACR_SINGLE_FACTOR)
    customer = g.login_session.customer if (reauth and g.login_session) else None
    started = login_flow.begin(
        request_origin(), required_acr=required,
        next_path=safe_next(request.args.get("next")), customer=customer)
    session[key] = started.token
    return started.flow


def _current_flow():
    return login_flow.load(session.get(FLOW_KEY))


def _after_step(flow, state):
    """Go where the flow's state says: finish, or the second-factor page; either way the
    request's changes (the factor proved, the session started) are committed here."""
    if state.step == login_flow.DONE:
        device = _device_token() or devices.new_token()
        token = login_flow.finish(flow, request_origin(), device_token=device)
        # start_logged_in ends the browser's previous session.
        response = start_logged_in(redirect(flow.next_path or url_for("web.account"), 303),
                                    token)
        config = current_app.config
        response.set_cookie(devices.COOKIE_NAME, device, httponly=True, samesite="Lax",
                            secure=config["SESSION_COOKIE_SECURE"], path="/",
                            max_age=int(config["DEVICE_COOKIE_DAYS"]) * 86400)
    else:
        response = redirect(url_for("login.login_second_factor"), 303)
    db.session.commit()
    return response


def _device_token() -> str | None:
    """This browser's device cookie (app/auth/devices.py), if it has one."""
    return request.cookies.get(devices.COOKIE_NAME)


def _after_response(job) -> None:
    """Run `job` (app/auth/flow.py's deferred SMS work) once this response has been sent,
    in a fresh app context: when the server has taken the body's last byte, or closes the
    response, whichever comes first (Werkzeug's dev server skips close() when the client
    resets the connection; gunicorn always calls it). Flask has set Content-Length, so
    the client has the whole answer before the job starts.

    This is what makes /login/sms and /recover cost the same for a number with an
    account: its phone-risk decision and its text run here, off the request. A failure
    here reaches nobody: it was audited (sms.limited, sms.failed) or is logged, and the
    code stays unusable (code_sender.open_code)."""
    app = current_app._get_current_object()
    pending = [job]

    def run() -> None:
        if not pending:
            return
        pending.pop()
        with app.app_context():
            try:
                job()
            except CodeError:
                pass  # audited where it happened; the customer can ask for a new code
            except Exception:  # noqa: BLE001  (the response is gone: log, never raise)
                db.session.rollback()
                app.logger.exception("SMS work after the response failed; nothing was sent")

    @after_this_request
    def register(response):
        response.response = _body_then(response.response, run)
        response.call_on_close(run)
        return response


def _body_then(body, run):
    """The response body, then `run`: after its last item is handed to the server, or
    when the server stops early and closes it."""
    try:
        yield from body
    finally:
        run()


def _expired():
    flash(_("Your login took too long or was already completed. Start again."))
    return redirect(url_for("login.login"), 303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Password login (first factor). Every failure reads the same, whatever the
    identifier."""
    form = LoginForm()
    if request.method == "GET" and request.args.get("login_hint"):
        # OpenID login_hint: pre-fill what the app already knows.
        form.identifier.data = request.args["login_hint"][:320]
    if form.validate_on_submit():
        flow = _begin_flow()
        try:
            state = login_flow.prove_password(flow, form.identifier.data, form.password.data,
                                              request_origin())
        except LoginRefused as error:
            form.password.errors.append(error.message)
            return _render_login(form), 401
        return _after_step(flow, state)
    return _render_login(form), 400 if form.errors else 200


def _render_login(form, passkey_error: str | None = None):
    return render_template("web/login.html", form=form, flow_args=_flow_args(),
                           reauth=bool(request.args.get("reauth") and g.login_session),
                           app_client=requesting_app(_flow_args().get("next")),
                           passkeys_on=passkeys.available(), passkey_error=passkey_error)


#: The session key of a flow begun for a passkey's first factor. Apart from FLOW_KEY: the
#: login page asks for passkey options as it loads (autofill), and that must not replace
#: the flow of a password typed in meanwhile.
PASSKEY_FLOW_KEY = "passkey_flow"


@bp.post("/login/passkey/options")
@limiter.limit(_login_limit)
def login_passkey_options():
    """The options of the browser's passkey prompt, as JSON, with a challenge bound to a
    login flow: a new flow for a first factor (shaped by the query parameters, like the
    other first factors), or, with ?second=1, the flow waiting for its second factor.
    Called by passkeys.js with the page's CSRF token in a header."""
    flow = _current_flow() if request.args.get("second") else _begin_flow(PASSKEY_FLOW_KEY)
    if flow is None:
        return jsonify(error=_("Your login took too long or was already completed. "
                               "Start again.")), 400
    return passkey_options_response(lambda: login_flow.passkey_options(flow))


def passkey_options_response(make_options):
    """The JSON options `make_options()` makes for the browser's passkey prompt, its
    challenge committed; {"error": why} with 400 when no passkey may answer here, for
    passkeys.js to show (nothing is kept then)."""
    try:
        options = make_options()
    except passkeys.PasskeyError as error:
        db.session.rollback()
        return jsonify(error=error.message), 400
    db.session.commit()
    return Response(options, mimetype="application/json")


@bp.post("/login/passkey")
@limiter.limit(_login_limit)
def login_passkey():
    """A passkey's answer (first factor; with ?second=1 the second). Every failure reads
    the same, whoever the passkey belongs to, and is answered on the page it came from."""
    second = bool(request.args.get("second"))
    token = session.get(FLOW_KEY if second else PASSKEY_FLOW_KEY)
    flow = login_flow.load(token)
    form = PasskeyForm()
    if flow is None or not form.validate_on_submit():
        return _expired()
    try:
        state = login_flow.prove_passkey(flow, form.credential.data, request_origin())
    except LoginRefused as error:
        if second:
            return _render_second(login_flow.state(flow), login_flow.METHOD_PASSKEY,
                                  error=error.message), 401
        return _render_login(LoginForm(formdata=None), passkey_error=error.message), 401
    session[FLOW_KEY] = session.pop(PASSKEY_FLOW_KEY, token)  # this flow goes on
    return _after_step(flow, state)


@bp.route("/login/sms", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_sms():
    """Passwordless login: the phone number to text a code to. The next page reads the
    same whether or not the number has an account."""
    form = PhoneForm()
    if request.method == "GET" and request.args.get("login_hint", "").startswith("+"):
        form.phone.data = request.args["login_hint"][:64]
    if form.validate_on_submit():
        flow = _begin_flow()
        try:
            sent = login_flow.start_sms_login(flow, form.phone.data, request_origin(),
                                              device_token=_device_token(),
                                              later=_after_response)
        except SmsCodeError as error:
            form.phone.errors.append(error.message)
            return render_template("web/login_sms.html", form=form,
                                   flow_args=_flow_args()), 400
        session["login_phone_hint"] = login_flow.mask_phone(sent.phone)
        return redirect(url_for("login.login_code"), 303)
    return render_template("web/login_sms.html", form=form, flow_args=_flow_args()), \
        400 if form.errors else 200


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_code():
    """The code from the text message (first or second factor)."""
    flow = _current_flow()
    if flow is None or flow.verification_code_id is None:
        return _expired()
    form = OneTimeCodeForm()
    if form.validate_on_submit():
        try:
            state = login_flow.prove_sms(flow, form.code.data, request_origin())
        except (SmsCodeError, LoginRefused) as error:
            form.code.errors.append(error.message)
        else:
            return _after_step(flow, state)
    return render_template("web/login_code.html", form=form,
                           phone_hint=session.get("login_phone_hint"),
                           second=bool(flow.factors)), 400 if form.errors else 200


@bp.post("/login/code/resend")
@limiter.limit(_login_limit)
def login_code_resend():
    """Text a new code (the failure count of the number is not reset by this)."""
    flow = _current_flow()
    form = ButtonForm()
    if flow is None or flow.verification_code_id is None or not form.validate_on_submit():
        return _expired()
    try:
        if flow.factors:
            login_flow.start_sms_second_factor(flow, request_origin(),
                                               device_token=_device_token())
        else:
            from app.models import VerificationCode
            previous = db.session.get(VerificationCode, flow.verification_code_id)
            login_flow.start_sms_login(flow, previous.destination, request_origin(),
                                       device_token=_device_token(), later=_after_response)
    except SmsCodeError as error:
        flash(str(error.message))  # str: the session keeps plain text
    else:
        db.session.commit()
        flash(_("We sent a new code."))
    return redirect(url_for("login.login_code"), 303)


#: The second-factor methods from the strongest to the weakest: the page opens on the first
#: the customer has, and links to the others ("Use another method").
SECOND_FACTOR_ORDER = (login_flow.METHOD_PASSKEY, login_flow.METHOD_TOTP, login_flow.METHOD_SMS,
                       login_flow.METHOD_PASSWORD, login_flow.METHOD_RECOVERY)
#: The form of each method that takes a secret (sms only has a button: ButtonForm).
SECOND_FACTOR_FORMS = {login_flow.METHOD_PASSKEY: PasskeyForm,
                       login_flow.METHOD_TOTP: OneTimeCodeForm,
                       login_flow.METHOD_RECOVERY: RecoveryCodeForm,
                       login_flow.METHOD_PASSWORD: PasswordOnlyForm}


@bp.get("/login/second-factor")
def login_second_factor():
    """One second factor at a time: the one asked for (?method=...), else the strongest
    the customer has, with links to the others."""
    flow = _current_flow()
    if flow is None or not flow.factors:
        return _expired()
    state = login_flow.state(flow)
    if state.step == login_flow.DONE:
        return _after_step(flow, state)
    return _render_second(state, request.args.get("method")), 200


def _second_factor_choice(methods: tuple[str, ...], wanted: str | None) -> tuple[str | None,
                                                                               list[str]]:
    """The method to show (`wanted` when the customer has it, else the strongest) and the
    others, strongest first."""
    ordered = [m for m in SECOND_FACTOR_ORDER if m in methods]
    shown = wanted if wanted in ordered else (ordered[0] if ordered else None)
    return shown, [m for m in ordered if m != shown]


def _render_second(state, wanted: str | None, form=None, error: str | None = None):
    """The second-factor page with one method's form; `form` is the one that failed
    (`error`: why the passkey did not do)."""
    method, others = _second_factor_choice(state.methods, wanted)
    if form is None and method is not None:
        form = SECOND_FACTOR_FORMS.get(method, ButtonForm)()
    return render_template("web/login_second_factor.html", state=state, method=method,
                           others=others, form=form, passkey_error=error)


@bp.post("/login/second-factor/<method>")
@limiter.limit(_login_limit)
def login_second_factor_submit(method: str):
    """One second factor: totp, recovery, pwd, or sms (which texts a code)."""
    flow = _current_flow()
    if flow is None or not flow.factors:
        return _expired()
    origin = request_origin()
    if method == "sms":
        if not ButtonForm().validate_on_submit():
            return _expired()
        try:
            sent = login_flow.start_sms_second_factor(flow, origin,
                                                      device_token=_device_token())
        except SmsCodeError as error:
            flash(str(error.message))  # str: the session keeps plain text
            return redirect(url_for("login.login_second_factor", method="sms"), 303)
        db.session.commit()
        session["login_phone_hint"] = login_flow.mask_phone(sent.phone)
        return redirect(url_for("login.login_code"), 303)
    # Each method has its own endpoint, so the forms may share field names. A passkey
    # answers at /login/passkey.
    if method not in SECOND_FACTOR_FORMS or method == login_flow.METHOD_PASSKEY:
        return _expired()
    form = SECOND_FACTOR_FORMS[method]()
    if form.validate_on_submit():
        try:
            if method == "totp":
                state = login_flow.prove_totp(flow, form.code.data, origin)
            elif method == "recovery":
                state = login_flow.prove_recovery_code(flow, form.code.data, origin)
            else:
                state = login_flow.prove_password(flow, "", form.password.data, origin)
        except LoginRefused as error:
            (form.password if method == "pwd" else form.code).errors.append(error.message)
        else:
            return _after_step(flow, state)
    return _render_second(login_flow.state(flow), method, form), 400


# ---- account recovery (app/auth/recovery.py) ----------------------------------------------

RECOVERY_KEY = "recovery_flow"
#: The `next` a password reset started with (login_session.keep_next), for the login after it.
RESET_NEXT_KEY = "reset_next"


def _render_recovery(step: str, form, status: int = 200, **context):
    context.setdefault("passkeys_on", passkeys.available())
    return render_template("web/recover.html", step=step, form=form, **context), status


@bp.route("/recover", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def recover():
    """Forgot your password: a code to the email address or phone on the account. The
    next page reads the same whether or not the address or number has an account, or can
    be trusted."""
    if request.method == "GET":
        keep_next(RESET_NEXT_KEY)  # where the login after the reset goes (an app's request)
    form = RecoverForm()
    if form.validate_on_submit():
        try:
            started, sent = recovery.start(form.identifier.data, request_origin(),
                                           device_token=_device_token(),
                                           later=_after_response)
        except CodeError as error:
            form.identifier.errors.append(error.message)
            return _render_recovery("identifier", form, 400)
        session[RECOVERY_KEY] = started.token
        session["recovery_hint"] = recovery.destination_hint(sent)
        return redirect(url_for("login.recover_code"), 303)
    return _render_recovery("identifier", form, 400 if form.errors else 200)


def _recovery_flow():
    return recovery.load(session.get(RECOVERY_KEY))


def _recovery_expired():
    flash(_("Your password reset took too long or was already completed. Start again."))
    return redirect(url_for("login.recover"), 303)


def _recovery_next(state):
    target = {recovery.CODE: "login.recover_code", recovery.SECOND: "login.recover_second",
              recovery.STUCK: "login.recover_second",
              recovery.NEW_PASSWORD: "login.recover_password"}[state.step]
    return redirect(url_for(target), 303)


@bp.route("/recover/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def recover_code():
    flow = _recovery_flow()
    if flow is None:
        return _recovery_expired()
    form = OneTimeCodeForm()
    if form.validate_on_submit():
        try:
            proved = recovery.prove_code(flow, form.code.data, request_origin())
        except CodeError as error:
            form.code.errors.append(error.message)
        else:
            db.session.commit()
            return _recovery_next(proved)
    return _render_recovery("code", form, 400 if form.errors else 200,
                            hint=session.get("recovery_hint"),
                            by_email=recovery.by_email(flow),
                            no_text_next_steps=recovery.NO_TEXT_NEXT_STEPS)


@bp.route("/recover/second-factor", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def recover_second():
    flow = _recovery_flow()
    if flow is None or not flow.factors:
        return _recovery_expired()
    state = recovery.state(flow)
    if state.step == recovery.STUCK:
        return _render_recovery("stuck", None, 200, message=recovery.STUCK_MESSAGE)
    form = OneTimeCodeForm()
    method = request.args.get("method") or state.methods[0]
    if method not in state.methods:
        method = state.methods[0]
    if method == login_flow.METHOD_PASSKEY and request.method == "POST":
        return _recovery_expired()  # a passkey answers at /recover/passkey
    if form.validate_on_submit():
        try:
            proved = recovery.prove_second(flow, method, form.code.data, request_origin())
        except LoginRefused as error:
            form.code.errors.append(error.message)
        else:
            db.session.commit()
            return _recovery_next(proved)
    return _render_recovery("second", form, 400 if form.errors else 200, state=state,
                            method=method)


@bp.post("/recover/passkey/options")
@limiter.limit(_login_limit)
def recover_passkey_options():
    """The passkey prompt's options for the recovery's second step, as JSON."""
    flow = _recovery_flow()
    if flow is None or not flow.factors:
        return jsonify(error=_("Your password reset took too long or was already "
                               "completed. Start again.")), 400
    return passkey_options_response(lambda: recovery.passkey_options(flow))


@bp.post("/recover/passkey")
@limiter.limit(_login_limit)
def recover_passkey():
    """The customer's passkey as the recovery's second factor."""
    flow = _recovery_flow()
    form = PasskeyForm()
    if flow is None or not flow.factors or not form.validate_on_submit():
        return _recovery_expired()
    try:
        proved = recovery.prove_passkey(flow, form.credential.data, request_origin())
    except LoginRefused as error:
        return _render_recovery("second", OneTimeCodeForm(formdata=None), 401,
                                state=recovery.state(flow), method=login_flow.METHOD_PASSKEY,
                                passkey_error=error.message)
    db.session.commit()
    return _recovery_next(proved)


@bp.route("/recover/password", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def recover_password():
    flow = _recovery_flow()
    if flow is None or recovery.state(flow).step != recovery.NEW_PASSWORD:
        return _recovery_expired()
    form = PasswordOnlyForm()
    form.password.label.text = _("New password")
    if form.validate_on_submit():
        try:
            recovery.set_new_password(flow, form.password.data, request_origin())
        except PasswordRejected as error:
            form.password.errors.append(str(error))
        else:
            db.session.commit()
            # forget_login clears the Flask session (the recovery's token with it), so
            # the message is flashed after it, or it would be cleared too.
            response = forget_login(redirect(url_for("login.login",
                                                     next=take_next(RESET_NEXT_KEY)), 303))
            flash(_("Your password was changed, and you were logged out everywhere. "
                    "Log in with your new password."))
            return response
    return _render_recovery("password", form, 400 if form.errors else 200)
