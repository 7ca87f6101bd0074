"""Twilio Messages and Verify through the real twilio SDK, against a fake Twilio on
127.0.0.1: the exact requests the SDK makes, and what each kind of failure becomes."""
import logging

import pytest

from app.providers import sms_sender
from app.providers.base import (EXPIRED, INVALID_NUMBER, MAX_ATTEMPTS, RATE_LIMITED, REJECTED,
                                TIMEOUT, UNAVAILABLE, UNSUPPORTED, ProviderError)
from app.providers.twilio_sms import TwilioSmsSender, TwilioVerifySender
from tests.fakes.twilio_server import verification_json
from tests.postgres import free_port
from tests.providers.helpers import (ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, MESSAGING_SERVICE_SID,
                                     VERIFY_SERVICE_SID)

TO = "+14155552671"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
VERIFICATIONS_PATH = f"/v2/Services/{VERIFY_SERVICE_SID}/Verifications"
CHECK_PATH = f"/v2/Services/{VERIFY_SERVICE_SID}/VerificationCheck"


def sender_for(app):
    with app.app_context():
        return sms_sender()


@pytest.fixture
def messages(twilio_app):
    """The `twilio` sender (Messages API, from-number) talking to the fake."""
    return sender_for(twilio_app())


@pytest.fixture
def verify(twilio_app):
    """The `twilio-verify` sender talking to the fake, with no Messages settings."""
    return sender_for(twilio_app(SMS_PROVIDER="twilio-verify", TWILIO_FROM_NUMBER="",
                                 TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))


# ---- the requests ------------------------------------------------------------------------

def test_a_message_is_posted_to_the_messages_api_with_the_from_number(messages, fake_twilio):
    assert isinstance(messages, TwilioSmsSender) and messages.holds_codes is False

    message_id = messages.send(TO, "Your Tessera code is 123456")

    assert message_id.startswith("SM") and len(message_id) == 34
    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.original_host == "api.twilio.com"
    assert request.form == {"To": TO, "Body": "Your Tessera code is 123456",
                            "From": FROM_NUMBER}
    assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)


def test_a_messaging_service_is_used_instead_of_the_from_number(twilio_app, fake_twilio):
    sender = sender_for(twilio_app(TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID))

    sender.send(TO, "hello")

    [request] = fake_twilio.requests
    assert request.form == {"To": TO, "Body": "hello",
                            "MessagingServiceSid": MESSAGING_SERVICE_SID}


def test_an_api_key_authenticates_instead_of_the_auth_token(twilio_app, fake_twilio):
    key_sid, key_secret = "SK" + "3" * 32, "api-key-secret-abcdef"
    sender = sender_for(twilio_app(TWILIO_AUTH_TOKEN="", TWILIO_API_KEY_SID=key_sid,
                                   TWILIO_API_KEY_SECRET=key_secret))

    sender.send(TO, "hello")

    [request] = fake_twilio.requests
    assert request.basic_auth == (key_sid, key_secret)
    assert request.path == MESSAGES_PATH  # still the account's resources


def test_verify_start_creates_an_sms_verification(verify, fake_twilio):
    assert isinstance(verify, TwilioVerifySender) and verify.holds_codes is True

    verification_id = verify.start_verification(TO)

    assert verification_id.startswith("VE") and len(verification_id) == 34
    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == VERIFICATIONS_PATH
    assert request.original_host == "verify.twilio.com"
    assert request.form == {"To": TO, "Channel": "sms"}
    assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)


def test_verify_check_is_true_only_when_approved(verify, fake_twilio):
    assert verify.check_verification(TO, "123456") is True   # the fake approves by default
    fake_twilio.reply(200, verification_json(fake_twilio.requests[0], VERIFY_SERVICE_SID,
                                             "pending"))
    assert verify.check_verification(TO, "654321") is False  # a wrong code stays pending

    first, second = fake_twilio.requests
    assert (first.path, first.original_host) == (CHECK_PATH, "verify.twilio.com")
    assert first.form == {"To": TO, "Code": "123456"}
    assert second.form == {"To": TO, "Code": "654321"}


def test_verify_check_without_a_status_is_not_approved(verify, fake_twilio):
    fake_twilio.reply(200, {"sid": "VE" + "4" * 32})
    assert verify.check_verification(TO, "123456") is False


def test_verify_sends_free_text_through_messages_when_a_sender_is_configured(
        twilio_app, fake_twilio):
    sender = sender_for(twilio_app(SMS_PROVIDER="twilio-verify",
                                   TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))

    assert sender.send(TO, "A phone number was added").startswith("SM")

    [request] = fake_twilio.requests
    assert request.path == MESSAGES_PATH
    assert request.form == {"To": TO, "Body": "A phone number was added", "From": FROM_NUMBER}


def test_verify_without_a_messages_sender_refuses_free_text(verify, fake_twilio):
    with pytest.raises(ProviderError) as caught:
        verify.send(TO, "A phone number was added")
    assert caught.value.reason == UNSUPPORTED
    assert fake_twilio.requests == []


def test_the_messages_sender_does_not_hold_codes(messages, fake_twilio):
    for call in (lambda: messages.start_verification(TO),
                 lambda: messages.check_verification(TO, "123456")):
        with pytest.raises(ProviderError) as caught:
            call()
        assert caught.value.reason == UNSUPPORTED
    assert fake_twilio.requests == []


# ---- failures ----------------------------------------------------------------------------

def _run(sender, operation):
    if operation == "send":
        return sender.send(TO, "Your Tessera code is 123456")
    if operation == "start":
        return sender.start_verification(TO)
    return sender.check_verification(TO, "123456")


@pytest.mark.parametrize(("operation", "status", "code", "reason"), [
    ("send", 400, 21211, INVALID_NUMBER),     # invalid To
    ("send", 400, 21614, INVALID_NUMBER),     # not a mobile number
    ("send", 400, 21612, INVALID_NUMBER),     # cannot route
    ("send", 400, 21408, INVALID_NUMBER),     # region not enabled
    ("send", 400, 21610, INVALID_NUMBER),     # the recipient unsubscribed
    ("start", 400, 21211, INVALID_NUMBER),
    ("send", 429, 20429, RATE_LIMITED),
    ("send", 429, None, RATE_LIMITED),
    ("start", 429, 60203, MAX_ATTEMPTS),      # max send attempts
    ("check", 429, 60202, MAX_ATTEMPTS),      # max check attempts
    ("check", 404, 20404, EXPIRED),           # no pending verification
    ("check", 404, None, EXPIRED),
    ("start", 404, 20404, REJECTED),          # a wrong Verify service SID: configuration
    ("send", 401, 20003, REJECTED),           # bad credentials
    ("send", 403, 20003, REJECTED),
    ("send", 400, 21602, REJECTED),           # any other 4xx
])
def test_twilio_errors_become_provider_errors(twilio_app, fake_twilio, provider_log,
                                              operation, status, code, reason):
    sender = sender_for(twilio_app(SMS_PROVIDER="twilio-verify",
                                   TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))
    fake_twilio.error(status, code, "As Twilio says it")

    with pytest.raises(ProviderError) as caught:
        _run(sender, operation)

    error = caught.value
    assert (error.reason, error.status, error.provider) == (reason, status, "twilio-verify")
    assert error.code == (code if code is not None else status)  # the SDK's fallback
    assert "Twilio" not in error.message and str(code) not in error.message
    assert len(fake_twilio.requests) == 1  # 4xx is never retried
    [record] = provider_log.records
    assert str(status) in record.getMessage() and str(error.code) in record.getMessage()
    # Configuration problems are logged as errors, a customer's number as a warning.
    assert record.levelno == (logging.ERROR if reason == REJECTED else logging.WARNING)


def test_an_invalid_number_gets_a_message_for_the_customer(messages, fake_twilio):
    fake_twilio.error(400, 21211, "The 'To' number +1415555267 is not a valid phone number.")
    with pytest.raises(ProviderError) as caught:
        messages.send(TO, "hello")
    assert caught.value.message == "We cannot send a text message to this number."


def test_a_5xx_is_retried_once_and_then_succeeds(messages, fake_twilio):
    fake_twilio.error(500, 20500, "Internal Server Error")

    assert messages.send(TO, "hello").startswith("SM")

    assert [r.path for r in fake_twilio.requests] == [MESSAGES_PATH, MESSAGES_PATH]
    assert fake_twilio.requests[1].form == fake_twilio.requests[0].form


@pytest.mark.parametrize("operation", ["send", "start", "check"])
def test_two_5xx_in_a_row_are_unavailable_after_exactly_two_requests(
        twilio_app, fake_twilio, operation):
    sender = sender_for(twilio_app(SMS_PROVIDER="twilio-verify",
                                   TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))
    fake_twilio.error(500, 20500)
    fake_twilio.error(503, None)

    with pytest.raises(ProviderError) as caught:
        _run(sender, operation)

    assert (caught.value.reason, caught.value.status) == (UNAVAILABLE, 503)
    assert len(fake_twilio.requests) == 2


def test_no_answer_within_the_timeout_is_a_timeout(twilio_app, fake_twilio):
    sender = sender_for(twilio_app(TWILIO_TIMEOUT_SECONDS=1))
    fake_twilio.hang()

    with pytest.raises(ProviderError) as caught:
        sender.send(TO, "hello")

    assert caught.value.reason == TIMEOUT
    assert caught.value.message == ("The text message service did not answer. "
                                    "Try again in a minute.")
    assert len(fake_twilio.requests) == 1  # a timeout is not retried


def test_a_refused_connection_is_unavailable(twilio_app, provider_log):
    sender = sender_for(twilio_app(TWILIO_BASE_URL=f"http://127.0.0.1:{free_port()}"))

    with pytest.raises(ProviderError) as caught:
        sender.send(TO, "hello")

    assert caught.value.reason == UNAVAILABLE
    assert "ConnectionError" in provider_log.text


@pytest.mark.parametrize("answer", [{}, {"status": "queued"}])
def test_an_answer_without_a_sid_is_unavailable(messages, fake_twilio, answer):
    fake_twilio.reply(201, answer)
    with pytest.raises(ProviderError) as caught:
        messages.send(TO, "hello")
    assert caught.value.reason == UNAVAILABLE


def test_the_log_never_holds_the_text_the_code_or_the_number(twilio_app, fake_twilio,
                                                             provider_log):
    sender = sender_for(twilio_app(SMS_PROVIDER="twilio-verify",
                                   TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))
    fake_twilio.error(400, 21211)
    fake_twilio.error(404, 20404)
    with pytest.raises(ProviderError):
        sender.send(TO, "Your Tessera code is 731946")
    with pytest.raises(ProviderError):
        sender.check_verification(TO, "582013")

    assert len(provider_log.records) == 2
    assert "21211" in provider_log.text and "20404" in provider_log.text
    for secret in ("731946", "582013", "Your Tessera code", TO, TO[1:]):
        assert secret not in provider_log.text


def test_the_factory_returns_the_configured_sender(provider_app, twilio_app):
    assert type(sender_for(provider_app())).__name__ == "ConsoleSmsSender"
    assert type(sender_for(twilio_app())) is TwilioSmsSender
    assert type(sender_for(twilio_app(SMS_PROVIDER="twilio-verify",
                                      TWILIO_VERIFY_SERVICE_SID=VERIFY_SERVICE_SID))
                ) is TwilioVerifySender
