"""A fake Twilio REST API on 127.0.0.1, for the real twilio SDK to talk to.

Point the app at it with TWILIO_BASE_URL=fake.url: the SDK's requests arrive here with
their real paths (/2010-04-01/Accounts/AC.../Messages.json, /v2/Services/VA.../...), and
the host the SDK meant in X-Original-Host. The fake records every request and answers from
a queue of scripted responses; with nothing queued it answers like Twilio on success:

- POST .../Messages.json            -> 201, a message resource with a fresh "SM..." sid
- POST /v2/Services/VA.../Verifications     -> 201, a verification "VE..." status "pending"
- POST /v2/Services/VA.../VerificationCheck -> 200, status "approved"
- GET /v2/PhoneNumbers/{number}?Fields=...  -> 200, a Lookup v2 answer in Twilio's documented
  shape with every package named in Fields filled in (`lookup_json`), the others null

Script failures with `fake.error(400, 21211)`, any answer with `fake.reply(status, json)`,
a body that is not JSON with `fake.reply_raw(status, text)`, and a request that never gets
an answer with `fake.hang()` (released when the fake stops).
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)

    @property
    def original_host(self) -> str:
        return self.headers.get("X-Original-Host", "")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from the Authorization header, or None."""
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class _Scripted:
    status: int = 200
    body: dict | None = None
    hang: bool = False
    raw: str | None = None


class FakeTwilio:
    """Start with `start()` (or use the `fake_twilio` fixture); stop with `stop()`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting ---------------------------------------------------------------------

    def reply(self, status: int, body: dict | None = None) -> None:
        """Answer the next unanswered request with this status and JSON body."""
        self._script.append(_Scripted(status, body))

    def error(self, status: int, code: int | None = None, message: str = "") -> None:
        """Answer the next request with a Twilio error document."""
        self.reply(status, error_json(status, code, message))

    def reply_raw(self, status: int, text: str) -> None:
        """Answer the next request with this body as it is (e.g. JSON that is broken)."""
        self._script.append(_Scripted(status, raw=text))

    def hang(self) -> None:
        """Never answer the next request (until the fake stops)."""
        self._script.append(_Scripted(hang=True))

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)

    # ---- answering ---------------------------------------------------------------------

    def _record_and_answer(self, request: RecordedRequest) -> _Scripted:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
        return _default_answer(request)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeTwilio
    # HTTP/1.0: one request per connection, so a hung request cannot hold up another.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command, path=parts.path, headers=dict(self.headers.items()),
            form={key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()},
            query={key: values[-1] for key, values in parse_qs(parts.query).items()})
        answer = self.owner._record_and_answer(request)
        if answer.hang:
            self.owner._released.wait(timeout=60)
            return
        if answer.raw is not None:
            payload = answer.raw.encode()
        else:
            payload = json.dumps(answer.body).encode() if answer.body is not None else b""
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to tell it

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
        """Quiet: the tests read `requests` instead."""


# ---- Twilio's JSON --------------------------------------------------------------------

def sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def error_json(status: int, code: int | None, message: str = "") -> dict:
    """An error document as Twilio's REST API returns it."""
    body: dict = {"status": status, "message": message or f"Twilio error {code}"}
    if code is not None:
        body["code"] = code
        body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
    return body


def message_json(request: RecordedRequest, account_sid: str) -> dict:
    return {
        "sid": sid("SM"), "account_sid": account_sid, "to": request.form.get("To"),
        "from": request.form.get("From"),
        "messaging_service_sid": request.form.get("MessagingServiceSid"),
        "body": request.form.get("Body"), "status": "queued", "num_segments": "1",
        "direction": "outbound-api", "api_version": "2010-04-01", "price": None,
        "error_code": None, "error_message": None,
        "date_created": "Thu, 01 Jan 2026 00:00:00 +0000",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages.json",
    }


def verification_json(request: RecordedRequest, service_sid: str,
                      status: str = "pending") -> dict:
    return {
        "sid": sid("VE"), "service_sid": service_sid, "account_sid": sid("AC"),
        "to": request.form.get("To"), "channel": request.form.get("Channel", "sms"),
        "status": status, "valid": status == "approved", "amount": None, "payee": None,
        "date_created": "2026-01-01T00:00:00Z", "date_updated": "2026-01-01T00:00:00Z",
    }


#: The Lookup v2 data packages, each as Twilio documents a successful answer.
LOOKUP_PACKAGES: dict[str, dict] = {
    "line_type_intelligence": {
        "mobile_country_code": "310", "mobile_network_code": "260",
        "carrier_name": "T-Mobile USA, Inc.", "type": "mobile", "error_code": None},
    "sim_swap": {
        "last_sim_swap": {"last_sim_swap_date": "2020-11-05T20:52:09Z",
                          "swapped_period": "PT48H", "swapped_in_period": False},
        "carrier_name": "T-Mobile USA, Inc.", "mobile_country_code": "310",
        "mobile_network_code": "260", "error_code": None},
    "call_forwarding": {"call_forwarding_enabled": False, "error_code": None},
    "line_status": {"status": "active", "error_code": None},
    "reassigned_number": {"last_verified_date": None, "is_number_reassigned": "no",
                          "error_code": None},
    "sms_pumping_risk": {
        "carrier_risk_category": "low", "number_blocked": False,
        "number_blocked_date": None, "number_blocked_last_3_months": False,
        "sms_pumping_risk_score": 12, "error_code": None},
}


def lookup_json(number: str, fields: str = "", last_verified_date: str | None = None,
                **packages: dict | None) -> dict:
    """A Lookup v2 answer for `number`: the packages named in `fields` as in
    LOOKUP_PACKAGES (reassigned_number answering for `last_verified_date`, YYYYMMDD),
    overridden by `packages` (package name -> its object, or None)."""
    requested = {name for name in fields.split(",") if name}
    body: dict = {
        "calling_country_code": "1", "country_code": "US", "phone_number": number,
        "national_format": number, "valid": True, "validation_errors": None,
        "caller_name": None, "identity_match": None, "phone_number_quality_score": None,
        "pre_fill": None, "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{number}",
    }
    for name, package in LOOKUP_PACKAGES.items():
        body[name] = json.loads(json.dumps(package)) if name in requested else None
    if body["reassigned_number"] is not None and last_verified_date:
        day = last_verified_date
        body["reassigned_number"]["last_verified_date"] = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    body.update(packages)
    return body


def _default_answer(request: RecordedRequest) -> _Scripted:
    parts = request.path.strip("/").split("/")
    if parts[:2] == ["v2", "PhoneNumbers"] and len(parts) == 3 and request.method == "GET":
        return _Scripted(200, lookup_json(unquote(parts[2]), request.query.get("Fields", ""),
                                          request.query.get("LastVerifiedDate")))
    if request.path.endswith("/Messages.json") and len(parts) >= 3:
        return _Scripted(201, message_json(request, parts[2]))
    if parts[:2] == ["v2", "Services"] and len(parts) == 4:
        if parts[3] == "Verifications":
            return _Scripted(201, verification_json(request, parts[2]))
        if parts[3] == "VerificationCheck":
            return _Scripted(200, verification_json(request, parts[2], "approved"))
    return _Scripted(404, error_json(404, 20404, "The requested resource was not found"))
