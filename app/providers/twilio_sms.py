"""SMS through Twilio: the Messages API (`twilio`) or Twilio Verify (`twilio-verify`).

Every request is built and sent by the twilio SDK; this module only chooses the calls and
turns the SDK's failures into ProviderError with a message a customer may read. What went
wrong in detail (HTTP status, Twilio error code) is logged to "tessera.providers", never
the text of a message or a code, and only the last two digits of the number.

A 5xx answer is retried once after RETRY_BACKOFF_SECONDS: Twilio's 5xx answers are
usually momentary, and one retry turns most of them into a delivered code instead of a
customer pressing "resend". Timeouts are not retried: the request may have been acted on,
and the customer is already waiting TWILIO_TIMEOUT_SECONDS.

The SDK client (credentials, timeout, TWILIO_BASE_URL for the fakes) comes from
app/providers/twilio_client.py, shared with the Twilio phone lookup.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from flask_babel import lazy_gettext as _l
from twilio.rest import Client

from app.providers.base import (EXPIRED, INVALID_NUMBER, MAX_ATTEMPTS, RATE_LIMITED, REJECTED,
                                TIMEOUT, UNAVAILABLE, UNSUPPORTED, ProviderError, number_tail)
from app.providers.twilio_client import status_and_code, twilio_client

log = logging.getLogger("tessera.providers")

#: Wait before the one retry of a 5xx answer. Tests set it to 0.
RETRY_BACKOFF_SECONDS = 0.5

#: Twilio error codes meaning "this number cannot get our text": 21211 invalid To,
#: 21614 not a mobile number, 21612 cannot route, 21408 region not enabled, 21610 the
#: recipient replied STOP, 60205 (Verify) SMS is not supported by a landline.
INVALID_NUMBER_CODES = frozenset({21211, 21614, 21612, 21408, 21610, 60205})
#: Verify: 60202 too many checks, 60203 too many sends for this number.
MAX_ATTEMPTS_CODES = frozenset({60202, 60203})
RATE_LIMIT_CODE = 20429
NOT_FOUND_CODE = 20404

#: What the customer reads for each reason (lazy: ProviderError reads it in the
#: current language).
MESSAGES = {
    TIMEOUT: _l("The text message service did not answer. Try again in a minute."),
    UNAVAILABLE: _l("Text messages cannot be sent right now. Try again in a few minutes."),
    INVALID_NUMBER: _l("We cannot send a text message to this number."),
    RATE_LIMITED: _l("Too many text messages were sent. Wait a few minutes and try again."),
    MAX_ATTEMPTS: _l("Too many codes were sent or tried for this number. Wait 10 minutes and "
                     "ask for a new code."),
    EXPIRED: _l("This code has expired or was already used. Ask for a new code."),
    REJECTED: _l("Text messages cannot be sent right now."),
    UNSUPPORTED: _l("Text messages cannot be sent right now."),
}

T = TypeVar("T")


class TwilioSmsSender:
    """Texts through the Messages API; we make and check the codes ourselves."""

    holds_codes = False
    provider = "twilio"

    def __init__(self, client: Client, *, messaging_service_sid: str = "",
                 from_number: str = "") -> None:
        self.client = client
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number

    @classmethod
    def from_config(cls, config: Mapping) -> TwilioSmsSender:
        return cls(twilio_client(config),
                   messaging_service_sid=config["TWILIO_MESSAGING_SERVICE_SID"],
                   from_number=config["TWILIO_FROM_NUMBER"])

    def send(self, to: str, body: str) -> str:
        """Send `body` to the E.164 number `to`; return Twilio's message SID ("SM...").
        A messaging service, when configured, picks the sender number itself."""
        if not (self.messaging_service_sid or self.from_number):
            raise self._failure("send", to, UNSUPPORTED)
        sender = ({"messaging_service_sid": self.messaging_service_sid}
                  if self.messaging_service_sid else {"from_": self.from_number})
        message = self._call("send", to, lambda: self.client.api.account.messages.create(
            to=to, body=body, **sender))
        return self._sid("send", to, message.sid)

    def start_verification(self, to: str) -> str:
        """Not available: the Messages API does not hold codes (holds_codes is False)."""
        raise self._failure("start_verification", to, UNSUPPORTED)

    def check_verification(self, to: str, code: str) -> bool:
        """Not available: the Messages API does not hold codes (holds_codes is False)."""
        raise self._failure("check_verification", to, UNSUPPORTED)

    # ---- failures -----------------------------------------------------------------------

    def _call(self, operation: str, to: str, request: Callable[[], T]) -> T:
        """Run one SDK call; retry a 5xx answer once; turn every failure into ProviderError."""
        for attempt in (1, 2):
            try:
                return request()
            except (TwilioRestException, TwilioServiceException) as error:
                status, code = status_and_code(error)
                if status >= 500 and attempt == 1:
                    log.warning("%s %s to %s: HTTP %s (Twilio error %s); retrying once",
                                self.provider, operation, number_tail(to), status, code)
                    time.sleep(RETRY_BACKOFF_SECONDS)
                    continue
                raise self._failure(operation, to, self._reason(operation, status, code),
                                    status=status, code=code) from None
            except requests.Timeout:
                raise self._failure(operation, to, TIMEOUT) from None
            except requests.RequestException as error:
                raise self._failure(operation, to, UNAVAILABLE,
                                    detail=type(error).__name__) from None
            except (TwilioException, ValueError) as error:
                # An answer the SDK could not read (not JSON, or not what it expected).
                raise self._failure(operation, to, UNAVAILABLE,
                                    detail=type(error).__name__) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _reason(self, operation: str, status: int, code: int | None) -> str:
        if code in MAX_ATTEMPTS_CODES:
            return MAX_ATTEMPTS
        if operation == "check_verification" and (status == 404 or code == NOT_FOUND_CODE):
            # Verify forgets a verification once it is approved or expired.
            return EXPIRED
        if code in INVALID_NUMBER_CODES:
            return INVALID_NUMBER
        if status == 429 or code == RATE_LIMIT_CODE:
            return RATE_LIMITED
        if status >= 500:
            return UNAVAILABLE
        return REJECTED

    def _failure(self, operation: str, to: str, reason: str, *, status: int | None = None,
                 code: int | None = None, detail: str = "") -> ProviderError:
        """Log the failure (never the text or the code) and build the error to raise."""
        # REJECTED means our request or our credentials are wrong: someone must fix the
        # configuration, so it is logged as an error, the rest as warnings.
        level = logging.ERROR if reason in (REJECTED, UNSUPPORTED) else logging.WARNING
        log.log(level, "%s %s to %s failed: %s (HTTP %s, Twilio error %s%s)",
                self.provider, operation, number_tail(to), reason, status, code,
                f", {detail}" if detail else "")
        return ProviderError(MESSAGES[reason], reason, provider=self.provider,
                             status=status, code=code)

    def _sid(self, operation: str, to: str, sid: str | None) -> str:
        if not sid:
            raise self._failure(operation, to, UNAVAILABLE, detail="answer without a sid")
        return sid


class TwilioVerifySender(TwilioSmsSender):
    """Twilio Verify makes, sends and checks the codes (holds_codes). Free text (notices)
    goes through the Messages API when a messaging service or from-number is set."""

    holds_codes = True
    provider = "twilio-verify"

    def __init__(self, client: Client, *, verify_service_sid: str,
                 messaging_service_sid: str = "", from_number: str = "") -> None:
        super().__init__(client, messaging_service_sid=messaging_service_sid,
                         from_number=from_number)
        self.verify_service_sid = verify_service_sid

    @classmethod
    def from_config(cls, config: Mapping) -> TwilioVerifySender:
        return cls(twilio_client(config),
                   verify_service_sid=config["TWILIO_VERIFY_SERVICE_SID"],
                   messaging_service_sid=config["TWILIO_MESSAGING_SERVICE_SID"],
                   from_number=config["TWILIO_FROM_NUMBER"])

    def _service(self):
        return self.client.verify.v2.services(self.verify_service_sid)

    def start_verification(self, to: str) -> str:
        """Ask Verify to text a code to `to`; return the verification SID ("VE...")."""
        verification = self._call("start_verification", to,
                                  lambda: self._service().verifications.create(
                                      to=to, channel="sms"))
        return self._sid("start_verification", to, verification.sid)

    def check_verification(self, to: str, code: str) -> bool:
        """True only if Verify approves `code` for the pending verification of `to`. A
        wrong code is False; no pending verification (expired, already approved) raises
        ProviderError EXPIRED, too many checks MAX_ATTEMPTS."""
        check = self._call("check_verification", to,
                           lambda: self._service().verification_checks.create(
                               to=to, code=code))
        return check.status == "approved"
