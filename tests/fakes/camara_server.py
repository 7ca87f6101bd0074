"""A fake CAMARA operator on 127.0.0.1: an OAuth token endpoint and the SIM Swap and Number
Recycling APIs, for the real `requests` calls of app/providers/camara.py.

- POST /oauth2/token (client credentials, HTTP Basic) -> a fresh bearer token
  ``token-1``, ``token-2`` ... with expires_in 3600. A wrong client id or secret gets 401
  ``invalid_client``.
- POST /camara/sim-swap/v1/check          -> ``{"swapped": false}``
- POST /camara/sim-swap/v1/retrieve-date  -> ``{"latestSimChange": "2020-01-01T00:00:00Z"}``
- POST /camara/number-recycling/v0.2/check -> ``{"phoneNumberRecycled": false}``

API calls need ``Authorization: Bearer <a token it issued and has not expired>``, or get
401 UNAUTHENTICATED; `expire_tokens()` makes every issued token stale, as an operator may.

Scripting is per path, so one lookup's several calls can each get their own answer:
`fake.reply(fake.CHECK, 200, {...})`, `fake.error(fake.CHECK, 422, "SERVICE_NOT_APPLICABLE")`,
`fake.reply_raw(path, status, text)`, `fake.hang(path)` (no answer until the fake stops).
Every request is recorded in `fake.requests`.
"""
from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

CLIENT_ID = "tessera-client"
CLIENT_SECRET = "camara-client-secret-0123456789"


@dataclass
class CamaraRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict | None = None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        return value[7:] if value.startswith("Bearer ") else None

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class _Scripted:
    status: int = 200
    body: object = None
    raw: str | None = None
    hang: bool = False


class FakeCamara:
    """Start with `start()` (or the `fake_camara` fixture); stop with `stop()`."""

    TOKEN = "/oauth2/token"
    CHECK = "/camara/sim-swap/v1/check"
    RETRIEVE_DATE = "/camara/sim-swap/v1/retrieve-date"
    RECYCLING = "/camara/number-recycling/v0.2/check"

    def __init__(self) -> None:
        self.requests: list[CamaraRequest] = []
        self._script: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._issued: list[str] = []
        self._valid: set[str] = set()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting ---------------------------------------------------------------------

    def reply(self, path: str, status: int, body: object = None) -> None:
        """Answer the next request to `path` with this status and JSON body."""
        self._script[path].append(_Scripted(status, body))

    def error(self, path: str, status: int, code: str, message: str = "") -> None:
        """Answer the next request to `path` with a CAMARA error document."""
        self.reply(path, status, {"status": status, "code": code,
                                  "message": message or f"{code} (fake)"})

    def reply_raw(self, path: str, status: int, text: str) -> None:
        """Answer the next request to `path` with this body as it is."""
        self._script[path].append(_Scripted(status, raw=text))

    def hang(self, path: str) -> None:
        """Never answer the next request to `path` (until the fake stops)."""
        self._script[path].append(_Scripted(hang=True))

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (401)."""
        with self._lock:
            self._valid.clear()

    # ---- what it saw -------------------------------------------------------------------

    def calls(self, path: str) -> list[CamaraRequest]:
        """The requests made to `path`, in order."""
        return [request for request in self.requests if request.path == path]

    @property
    def issued(self) -> list[str]:
        """The tokens issued, in order."""
        return list(self._issued)

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeCamara:
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

    def _record_and_answer(self, request: CamaraRequest) -> _Scripted:
        with self._lock:
            self.requests.append(request)
            if self._script[request.path]:
                return self._script[request.path].popleft()
            return self._default_answer(request)

    def _default_answer(self, request: CamaraRequest) -> _Scripted:
        if request.method != "POST":
            return _error(405, "METHOD_NOT_ALLOWED")
        if request.path == self.TOKEN:
            if request.basic_auth != (CLIENT_ID, CLIENT_SECRET):
                return _Scripted(401, {"error": "invalid_client"})
            if request.form.get("grant_type") != "client_credentials":
                return _Scripted(400, {"error": "unsupported_grant_type"})
            token = f"token-{len(self._issued) + 1}"
            self._issued.append(token)
            self._valid.add(token)
            return _Scripted(200, {"access_token": token, "token_type": "Bearer",
                                   "expires_in": 3600})
        answers = {self.CHECK: {"swapped": False},
                   self.RETRIEVE_DATE: {"latestSimChange": "2020-01-01T00:00:00Z"},
                   self.RECYCLING: {"phoneNumberRecycled": False}}
        if request.path not in answers:
            return _error(404, "NOT_FOUND")
        if request.bearer not in self._valid:
            return _error(401, "UNAUTHENTICATED")
        if not isinstance(request.json, dict) or "phoneNumber" not in request.json:
            return _error(422, "MISSING_IDENTIFIER")
        return _Scripted(200, answers[request.path])


def _error(status: int, code: str) -> _Scripted:
    return _Scripted(status, {"status": status, "code": code, "message": f"{code} (fake)"})


class _Handler(BaseHTTPRequestHandler):
    owner: FakeCamara
    # HTTP/1.0: one request per connection, so a hung request cannot hold up another.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        headers = dict(self.headers.items())
        request = CamaraRequest(method=self.command, path=self.path, headers=headers)
        if headers.get("Content-Type", "").startswith("application/json"):
            try:
                request.json = json.loads(raw)
            except ValueError:
                request.json = None
        else:
            request.form = {key: values[-1] for key, values in
                            parse_qs(raw, keep_blank_values=True).items()}
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
