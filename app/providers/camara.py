"""Phone facts from a mobile operator's CAMARA APIs (`PHONE_LOOKUP = "camara"`).

Three calls per lookup, each a JSON POST under CAMARA_BASE_URL with a bearer token:

- SIM Swap 1.0 ``POST {base}/sim-swap/v1/check`` ``{"phoneNumber", "maxAge"}`` ->
  ``{"swapped": bool}``: a SIM change in the last maxAge hours (1 to 2400)?
- SIM Swap 1.0 ``POST {base}/sim-swap/v1/retrieve-date`` ``{"phoneNumber"}`` ->
  ``{"latestSimChange": date-time or null}``. null means the operator may not say (local
  rules limit how long it keeps the date); from SIM Swap 2.x an optional
  ``monitoredPeriod`` (days) turns that null into "no change in that many days".
- Number Recycling 0.2 ``POST {base}/number-recycling/v0.2/check``
  ``{"phoneNumber", "specifiedDate": "YYYY-MM-DD"}`` -> ``{"phoneNumberRecycled": bool}``:
  has the number changed subscriber since that date? Asked only when the caller gives
  `last_verified`.

The two SIM swap answers must agree: "not swapped in 240 h" next to a latestSimChange two
days ago is not an answer we can trust either way, so `sim_swap` is unknown, with a reason.

Tokens: OAuth 2.0 client credentials (RFC 6749 section 4.4) at CAMARA_TOKEN_URL, the client
authenticated with HTTP Basic, CAMARA_SCOPE asked for when set. A token is cached in this
process until shortly before it expires (the cache is an optimisation only: each process
fetches its own); an API answering 401 gets one fresh token and one retry.

Time: PHONE_LOOKUP_TIMEOUT_SECONDS bounds the whole lookup, token included. Each request
gets what is left of it, and calls that find nothing left are not made.

Errors (CAMARA's `{"status", "code", "message"}`: 422 SERVICE_NOT_APPLICABLE for a number the
operator does not serve, 404, 429, 5xx ...), timeouts, refused connections and answers we
cannot read leave the facts they concern unknown with a reason; nothing raises.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import requests

from app.providers.base import number_tail
from app.providers.phone_facts import (NOT_REASSIGNED, NOT_SWAPPED, REASSIGNED, SWAPPED, UNKNOWN,
                                       PhoneFacts, offline_facts, utcnow)

log = logging.getLogger("tessera.providers")

#: API paths under CAMARA_BASE_URL (the released versions we speak).
SIM_SWAP_CHECK = "/sim-swap/v1/check"
SIM_SWAP_RETRIEVE_DATE = "/sim-swap/v1/retrieve-date"
NUMBER_RECYCLING_CHECK = "/number-recycling/v0.2/check"

#: The maxAge range the SIM Swap API accepts, in hours.
MAX_AGE_RANGE = range(1, 2401)
#: A token is replaced this long before it expires, so it cannot expire in flight.
TOKEN_EXPIRY_MARGIN = 30.0
#: How long to keep a token whose answer gave no expires_in (RFC 6749 only recommends it).
TOKEN_SECONDS_WITHOUT_EXPIRY = 60.0
#: A clock difference we accept before calling a SIM change date "in the future".
CLOCK_SKEW = timedelta(minutes=5)

#: Facts CAMARA's APIs do not give.
NOT_OFFERED = ("line_status: not offered by the camara provider",
               "call_forwarding: not offered by the camara provider",
               "sms_pumping_risk: not offered by the camara provider")

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.]{1,60}$")


# ---- tokens ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float  # time.monotonic()


class _TokenCache:
    """Access tokens by (token URL, client id, scope), shared by the threads of one
    process. Fetching happens outside the lock: at expiry a few threads may each fetch a
    token, which is cheaper than making every login wait behind one slow token request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token and token.expires_at - TOKEN_EXPIRY_MARGIN > time.monotonic():
                return token.value
            return None

    def put(self, key: tuple[str, str, str], value: str, lifetime: float) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, time.monotonic() + lifetime)

    def drop(self, key: tuple[str, str, str], value: str) -> None:
        """Forget `value` (refused with a 401), unless another thread already replaced it."""
        with self._lock:
            token = self._tokens.get(key)
            if token and token.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


_tokens = _TokenCache()


def forget_tokens() -> None:
    """Drop every cached token (after rotating the client secret; between tests)."""
    _tokens.clear()


class _Failure(Exception):
    """One call failed; `why` goes into unknown_reasons."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# ---- the provider ---------------------------------------------------------------------

class CamaraPhoneLookup:
    """SIM Swap and Number Recycling from the operator's CAMARA APIs."""

    name = "camara"

    def __init__(self, *, base_url: str, token_url: str, client_id: str, client_secret: str,
                 scope: str = "", timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.timeout = float(timeout)

    @classmethod
    def from_config(cls, config: Mapping) -> CamaraPhoneLookup:
        return cls(base_url=str(config["CAMARA_BASE_URL"]),
                   token_url=str(config["CAMARA_TOKEN_URL"]),
                   client_id=str(config["CAMARA_CLIENT_ID"]),
                   client_secret=str(config["CAMARA_CLIENT_SECRET"]),
                   scope=str(config["CAMARA_SCOPE"]),
                   timeout=float(config["PHONE_LOOKUP_TIMEOUT_SECONDS"]))

    def lookup(self, e164: str, *, last_verified: date | None = None,
               sim_swap_max_age_hours: int = 240) -> PhoneFacts:
        """Facts about `e164`: validity, type and region from phonenumbers; SIM swap and
        recycling from the operator. Never raises for operator trouble."""
        base = offline_facts(e164, self.name)
        if not base.valid:
            return replace(base, unknown_reasons=(
                "invalid number: not sent to the CAMARA APIs",) + NOT_OFFERED)
        missing = [key for key, value in (("CAMARA_BASE_URL", self.base_url),
                                          ("CAMARA_TOKEN_URL", self.token_url),
                                          ("CAMARA_CLIENT_ID", self.client_id)) if not value]
        if missing:
            log.error("camara: %s not set: phone numbers cannot be checked", ", ".join(missing))
            why = f"{', '.join(missing)} not set"
            return replace(base, unknown_reasons=(f"sim_swap: {why}", f"reassigned: {why}")
                           + NOT_OFFERED)

        with requests.Session() as session:
            calls = _Calls(self, session, e164, deadline=time.monotonic() + self.timeout)
            window = sim_swap_max_age_hours
            if window in MAX_AGE_RANGE:
                check = calls.post(SIM_SWAP_CHECK, {"phoneNumber": e164, "maxAge": window})
            else:
                check = _Failure(f"the SIM Swap check answers for 1 to 2400 h, not {window}")
            retrieved = calls.post(SIM_SWAP_RETRIEVE_DATE, {"phoneNumber": e164})
            recycling = (calls.post(NUMBER_RECYCLING_CHECK,
                                    {"phoneNumber": e164,
                                     "specifiedDate": last_verified.isoformat()})
                         if last_verified else None)

        updates: dict[str, object] = {}
        problems: list[str] = []
        _read_sim_swap(check, retrieved, window, updates, problems)
        if recycling is None:
            problems.append("reassigned: no last verified date to ask about")
        else:
            _read_recycling(recycling, updates, problems)
        if calls.failed:
            log.warning("camara %s: %s", number_tail(e164), "; ".join(calls.failed))
        return replace(base, **updates, unknown_reasons=tuple(problems) + NOT_OFFERED)


class _Calls:
    """The requests of one lookup: one session, one deadline, the token, the 401 retry."""

    def __init__(self, provider: CamaraPhoneLookup, session: requests.Session, e164: str,
                 *, deadline: float) -> None:
        self.provider = provider
        self.session = session
        self.e164 = e164
        self.deadline = deadline
        self.key = (provider.token_url, provider.client_id, provider.scope)
        self.token_failure: _Failure | None = None
        self.failed: list[str] = []  # for the log line

    def post(self, path: str, body: dict) -> dict | _Failure:
        """The JSON object answered to `body` at `path`, or the _Failure that stopped it."""
        try:
            return self._post(path, body)
        except _Failure as failure:
            self.failed.append(f"{path}: {failure.why}")
            return failure

    def _post(self, path: str, body: dict) -> dict:
        token = self._token()
        response = self._send(path, body, token)
        if response.status_code == 401:
            # The operator may revoke or expire a token before expires_in says: one fresh
            # token and one retry; a second 401 means our credentials or scope are wrong.
            _tokens.drop(self.key, token)
            response = self._send(path, body, self._token())
            if response.status_code == 401:
                log.error("camara: %s refused a fresh token (401): check CAMARA_CLIENT_ID, "
                          "CAMARA_CLIENT_SECRET and CAMARA_SCOPE", path)
        if response.status_code != 200:
            raise _Failure(f"CAMARA answered HTTP {response.status_code}"
                           + _error_code(response))
        answer = _json_object(response)
        if answer is None:
            raise _Failure("unreadable answer from CAMARA")
        return answer

    def _send(self, path: str, body: dict, token: str) -> requests.Response:
        remaining = self._remaining()
        # x-correlator lets the operator's support find this request; it names no one.
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "x-correlator": str(uuid.uuid4())}
        try:
            return self.session.post(self.provider.base_url + path, json=body,
                                     headers=headers, timeout=remaining,
                                     allow_redirects=False)
        except requests.Timeout:
            raise _Failure("CAMARA did not answer in time") from None
        except requests.RequestException as error:
            raise _Failure(f"CAMARA unreachable ({type(error).__name__})") from None

    def _token(self) -> str:
        """A cached token, or a new one from the token endpoint."""
        cached = _tokens.get(self.key)
        if cached:
            return cached
        if self.token_failure:
            raise self.token_failure  # do not ask a failing endpoint again in one lookup
        try:
            value, lifetime = self._fetch_token()
        except _Failure as failure:
            self.token_failure = failure
            raise
        _tokens.put(self.key, value, lifetime)
        return value

    def _fetch_token(self) -> tuple[str, float]:
        provider = self.provider
        data = {"grant_type": "client_credentials"}
        if provider.scope:
            data["scope"] = provider.scope
        try:
            response = self.session.post(
                provider.token_url, data=data, timeout=self._remaining(),
                auth=(provider.client_id, provider.client_secret),
                headers={"Accept": "application/json"}, allow_redirects=False)
        except requests.Timeout:
            raise _Failure("the token endpoint did not answer in time") from None
        except requests.RequestException as error:
            raise _Failure(f"token endpoint unreachable ({type(error).__name__})") from None
        answer = _json_object(response)
        if response.status_code != 200:
            oauth_error = answer.get("error") if answer else None
            detail = (f" ({oauth_error})" if isinstance(oauth_error, str)
                      and _ERROR_CODE.match(oauth_error) else "")
            if response.status_code in (400, 401):
                # invalid_client, invalid_scope ...: the configuration must be fixed.
                log.error("camara: the token endpoint refused our client (HTTP %s%s)",
                          response.status_code, detail)
            raise _Failure(f"token endpoint answered HTTP {response.status_code}{detail}")
        value = answer.get("access_token") if answer else None
        token_type = answer.get("token_type", "Bearer") if answer else None
        if not (isinstance(value, str) and value
                and isinstance(token_type, str) and token_type.lower() == "bearer"):
            raise _Failure("unreadable answer from the token endpoint")
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) \
                or expires_in <= 0:
            expires_in = TOKEN_SECONDS_WITHOUT_EXPIRY
        return value, float(expires_in)

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure("no time left (PHONE_LOOKUP_TIMEOUT_SECONDS)")
        return remaining


# ---- reading the answers --------------------------------------------------------------

def _read_sim_swap(check: dict | _Failure, retrieved: dict | _Failure, window: int,
                   updates: dict, problems: list[str]) -> None:
    """Fill the sim_swap facts from the two answers, or say why they stay unknown."""
    now = utcnow()
    check_verdict = None
    if isinstance(check, _Failure):
        problems.append(f"sim_swap: check: {check.why}")
    elif isinstance(check.get("swapped"), bool):
        check_verdict = SWAPPED if check["swapped"] else NOT_SWAPPED
    else:
        problems.append("sim_swap: check: unreadable answer (no boolean 'swapped')")

    changed_at, date_verdict = None, None
    if isinstance(retrieved, _Failure):
        problems.append(f"sim_swap: retrieve-date: {retrieved.why}")
    else:
        changed_at, date_verdict, why = _read_latest_change(retrieved, window, now)
        if why:
            problems.append(f"sim_swap: retrieve-date: {why}")

    if check_verdict and date_verdict and check_verdict != date_verdict:
        shown = (f"latestSimChange {changed_at:%Y-%m-%dT%H:%MZ}" if changed_at
                 else f"no change in monitoredPeriod {retrieved.get('monitoredPeriod')} days")
        problems.append(f"sim_swap: contradictory answers (check swapped="
                        f"{str(check_verdict == SWAPPED).lower()} for {window} h, {shown})")
        return
    updates["sim_swapped_at"] = changed_at
    updates["sim_swapped_within"] = window if check_verdict == SWAPPED else None
    updates["sim_swap"] = check_verdict or date_verdict or UNKNOWN


def _read_latest_change(answer: dict, window: int, now: datetime
                        ) -> tuple[datetime | None, str | None, str | None]:
    """(latestSimChange, its verdict for the window, why it gives none)."""
    if "latestSimChange" not in answer:
        return None, None, "unreadable answer (no latestSimChange)"
    value = answer["latestSimChange"]
    if value is None:
        monitored = answer.get("monitoredPeriod")
        if isinstance(monitored, int) and not isinstance(monitored, bool) and monitored > 0:
            # "No SIM change in the last `monitored` days."
            if monitored * 24 >= window:
                return None, NOT_SWAPPED, None
            return None, None, (f"no change in {monitored} days does not cover the last "
                                f"{window} h")
        return None, None, "the operator does not give the date (latestSimChange null)"
    changed_at = _parse_datetime(value)
    if changed_at is None or changed_at > now + CLOCK_SKEW:
        return None, None, "unreadable latestSimChange"
    verdict = SWAPPED if now - changed_at <= timedelta(hours=window) else NOT_SWAPPED
    return changed_at, verdict, None


def _read_recycling(answer: dict | _Failure, updates: dict, problems: list[str]) -> None:
    if isinstance(answer, _Failure):
        problems.append(f"reassigned: {answer.why}")
    elif isinstance(answer.get("phoneNumberRecycled"), bool):
        updates["reassigned"] = REASSIGNED if answer["phoneNumberRecycled"] else NOT_REASSIGNED
    else:
        problems.append("reassigned: unreadable answer (no boolean 'phoneNumberRecycled')")


def _parse_datetime(value: object) -> datetime | None:
    """An RFC 3339 date-time with its offset, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def _json_object(response: requests.Response) -> dict | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _error_code(response: requests.Response) -> str:
    """' SERVICE_NOT_APPLICABLE' from a CAMARA error body, when it has a sane code."""
    answer = _json_object(response)
    code = answer.get("code") if answer else None
    return f" {code}" if isinstance(code, str) and _ERROR_CODE.match(code) else ""
