"""Phone facts from Twilio Lookup v2 (`PHONE_LOOKUP = "twilio-lookup"`).

One GET /v2/PhoneNumbers/{number}?Fields=... per lookup, made by the twilio SDK with the
client app/providers/twilio_client.py builds (same credentials, same TWILIO_BASE_URL for the
fakes), bounded by PHONE_LOOKUP_TIMEOUT_SECONDS and never retried: a lookup sits in the
login path, and an unknown answer is safe where a slow one is not.

Only the data packages named in TWILIO_LOOKUP_FIELDS are asked for (each one is billed).
Each package in Twilio's answer carries its own `error_code` (sim_swap 60620: the carrier
gave no usable SIM swap data); a package with an error code, a null package, or a value we
cannot read leaves its facts unknown with a reason, and the other packages still count.

What each package gives:
- line_type_intelligence: number_type (mobile, landline, fixedVoip/nonFixedVoip -> voip,
  tollFree, premium ...), carrier_name, mobile_country_code, mobile_network_code.
- sim_swap: last_sim_swap.last_sim_swap_date, .swapped_period (an ISO 8601 duration set
  per account, e.g. PT48H) and .swapped_in_period. `sim_swap` answers for the window the
  caller asks about, so "not swapped in the last 48 h" cannot answer "not swapped in the
  last 240 h": that stays unknown unless the date settles it.
- reassigned_number: is_number_reassigned yes / no / no_data_available since
  LastVerifiedDate. Only asked when the caller gives `last_verified`: without a date the
  question has no meaning, and the package is billed anyway.
- line_status: status active / reachable / unreachable (the number is in service) or
  inactive (not assigned to anyone).
- call_forwarding: call_forwarding_enabled (or the older call_forwarding_status).
- sms_pumping_risk: sms_pumping_risk_score, 0-100.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from app.providers.base import number_tail
from app.providers.phone_facts import (ACTIVE, INACTIVE, NOT_REASSIGNED, NOT_SWAPPED, OFF, ON,
                                       REASSIGNED, SWAPPED, UNKNOWN, PhoneFacts, offline_facts,
                                       utcnow)
from app.providers.twilio_client import status_and_code, twilio_client

log = logging.getLogger("tessera.providers")

#: The data packages this provider understands, and the fact each one answers (the name
#: used in unknown_reasons).
PACKAGES = {
    "line_type_intelligence": "number_type",
    "sim_swap": "sim_swap",
    "reassigned_number": "reassigned",
    "line_status": "line_status",
    "call_forwarding": "call_forwarding",
    "sms_pumping_risk": "sms_pumping_risk",
}

#: line_type_intelligence.type in our words. Fixed and non-fixed VoIP are both "voip";
#: personal, sharedCost, uan, voicemail and pager are no phone a customer carries.
LINE_TYPES = {
    "mobile": "mobile",
    "landline": "landline",
    "fixedVoip": "voip",
    "nonFixedVoip": "voip",
    "tollFree": "toll_free",
    "premium": "premium",
    "personal": "other",
    "sharedCost": "other",
    "uan": "other",
    "voicemail": "other",
    "pager": "other",
}

#: line_status.status: Twilio's active, reachable and unreachable all mean the number is
#: assigned and in service (unreachable: the handset is off); inactive means it is not.
LINE_STATUSES = {"active": ACTIVE, "reachable": ACTIVE, "unreachable": ACTIVE,
                 "inactive": INACTIVE}

#: What the Lookup error codes we expect mean, for the reasons and the log.
ERROR_CODES = {
    60600: "unprovisioned or out of coverage",
    60601: "needs Twilio's approval for this country",
    60606: "package not enabled on this account",
    60607: "country not supported",
    60610: "number outside of coverage",
    60616: "rate limited",
    60620: "no coverage: the carrier gave incomplete SIM swap data",
}

#: Error codes that mean our account or configuration is wrong, not the number: logged as
#: errors so someone fixes them.
CONFIGURATION_CODES = frozenset({60601, 60606, 20003, 20008})

#: A clock difference we accept before calling a SIM swap date "in the future".
CLOCK_SKEW = timedelta(minutes=5)

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class TwilioPhoneLookup:
    """Twilio Lookup v2 through the twilio SDK."""

    name = "twilio-lookup"

    def __init__(self, client: Client, *, fields: tuple[str, ...]) -> None:
        self.client = client
        self.fields = fields

    @classmethod
    def from_config(cls, config: Mapping) -> TwilioPhoneLookup:
        """The SDK client of twilio_client.twilio_client, with the lookup's own timeout."""
        timeout = config["PHONE_LOOKUP_TIMEOUT_SECONDS"]
        client = twilio_client(dict(config) | {"TWILIO_TIMEOUT_SECONDS": timeout})
        return cls(client, fields=parse_fields(str(config["TWILIO_LOOKUP_FIELDS"])))

    def lookup(self, e164: str, *, last_verified: date | None = None,
               sim_swap_max_age_hours: int = 240) -> PhoneFacts:
        """Facts about `e164` from phonenumbers and the configured Lookup packages. Never
        raises for Twilio trouble: what could not be learned is unknown, with reasons."""
        base = offline_facts(e164, self.name)
        if not base.valid:
            # Nothing to ask about a number that cannot exist, and nothing to pay for.
            return replace(base, unknown_reasons=(
                "invalid number: not sent to Twilio Lookup",))
        asked = list(self.fields)
        reasons = [f"{fact}: not requested (TWILIO_LOOKUP_FIELDS)"
                   for package, fact in PACKAGES.items() if package not in asked]
        if "reassigned_number" in asked and last_verified is None:
            asked.remove("reassigned_number")
            reasons.append("reassigned: no last verified date to ask about")
        if not asked:
            return replace(base, unknown_reasons=tuple(reasons))

        params: dict[str, str] = {"fields": ",".join(asked)}
        if "reassigned_number" in asked:
            params["last_verified_date"] = last_verified.strftime("%Y%m%d")
        answer, failure = self._fetch(e164, params)
        if failure:
            updates = {"number_type": None} if "line_type_intelligence" in asked else {}
            reasons += [f"{PACKAGES[package]}: {failure}" for package in asked]
            return replace(base, **updates, unknown_reasons=tuple(reasons))

        reader = _AnswerReader(window_hours=sim_swap_max_age_hours,
                               last_verified=last_verified)
        for package in asked:
            reader.read(package, getattr(answer, package, None))
        if reader.problems:
            log.warning("%s %s: %s", self.name, number_tail(e164), "; ".join(reader.problems))
        for code in reader.codes & CONFIGURATION_CODES:
            log.error("%s: Twilio error %s (%s): check the account's Lookup packages",
                      self.name, code, ERROR_CODES.get(code, "account or credentials"))
        return replace(base, **reader.updates,
                       unknown_reasons=tuple(reasons + reader.problems))

    def _fetch(self, e164: str, params: dict[str, str]):
        """(the SDK's answer, None), or (None, why it failed) after logging it."""
        try:
            return self.client.lookups.v2.phone_numbers(e164).fetch(**params), None
        except (TwilioRestException, TwilioServiceException) as error:
            status, code = status_and_code(error)
            # Without a Twilio code in the body the SDK repeats the HTTP status as the code.
            shown = code if code and code != status else None
            why = f"Twilio answered HTTP {status}" + (f" (error {shown})" if shown else "")
            # 401/403 mean our credentials or account are wrong: someone must fix them.
            level = logging.ERROR if status in (401, 403) else logging.WARNING
        except requests.Timeout:
            why, level = "Twilio did not answer in time", logging.WARNING
        except requests.RequestException as error:
            why, level = f"Twilio unreachable ({type(error).__name__})", logging.WARNING
        except (TwilioException, ValueError, TypeError, AttributeError) as error:
            # An answer the SDK could not read: not JSON, or JSON that is not an object
            # (the SDK's PhoneNumberInstance calls .get on whatever it parsed).
            why = f"unreadable answer from Twilio ({type(error).__name__})"
            level = logging.WARNING
        log.log(level, "%s lookup of %s failed: %s", self.name, number_tail(e164), why)
        return None, why


def parse_fields(value: str) -> tuple[str, ...]:
    """TWILIO_LOOKUP_FIELDS as a tuple of known package names, in the order given. Unknown
    names are dropped with an error in the log: a typo must not cost a paid package."""
    fields: list[str] = []
    for name in (part.strip() for part in value.split(",")):
        if not name or name in fields:
            continue
        if name not in PACKAGES:
            log.error("TWILIO_LOOKUP_FIELDS: %r is not a Lookup package Tessera reads; "
                      "ignored", name)
            continue
        fields.append(name)
    return tuple(fields)


class _AnswerReader:
    """Turns Twilio's packages into PhoneFacts fields, collecting the reasons for
    everything it cannot vouch for. Reads defensively: every value is checked for its
    type, because an answer we misread must come out unknown, not safe."""

    def __init__(self, *, window_hours: int, last_verified: date | None) -> None:
        self.window_hours = window_hours
        self.last_verified = last_verified
        self.now = utcnow()
        self.updates: dict[str, object] = {}
        self.problems: list[str] = []
        self.codes: set[int] = set()

    def read(self, package: str, value: object) -> None:
        """Read one package's object from the answer."""
        fact = PACKAGES[package]
        if value is None:
            self._unknown(package, f"{fact}: Twilio gave no {package} answer")
            return
        if not isinstance(value, dict):
            self._unknown(package, f"{fact}: unreadable {package} answer")
            return
        code = value.get("error_code")
        if code not in (None, "", 0):
            self._unknown(package, f"{fact}: {_describe_code(code)}")
            if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
                self.codes.add(int(code))
            return
        getattr(self, f"_read_{package}")(value)

    def _unknown(self, package: str, reason: str) -> None:
        if package == "line_type_intelligence":
            # phonenumbers' guess from the prefix must not stand in for the live answer.
            self.updates["number_type"] = None
        self.problems.append(reason)

    # ---- the packages -------------------------------------------------------------------

    def _read_line_type_intelligence(self, value: dict) -> None:
        line_type = value.get("type")
        if isinstance(line_type, str) and line_type in LINE_TYPES:
            self.updates["number_type"] = LINE_TYPES[line_type]
        else:
            self._unknown("line_type_intelligence",
                          f"number_type: Twilio line type {_show(line_type)} not known")
        self._carrier(value)

    def _read_sim_swap(self, value: dict) -> None:
        if "carrier_name" not in self.updates:
            self._carrier(value)
        last = value.get("last_sim_swap")
        if not isinstance(last, dict):
            self.problems.append("sim_swap: Twilio gave no last_sim_swap")
            return
        swapped_at, date_problem = _read_datetime(last.get("last_sim_swap_date"))
        period = _duration(last.get("swapped_period"))
        in_period = last.get("swapped_in_period")
        if date_problem or (swapped_at and swapped_at > self.now + CLOCK_SKEW):
            self.problems.append("sim_swap: unreadable last_sim_swap_date")
            return
        if in_period is not None and not isinstance(in_period, bool):
            self.problems.append("sim_swap: unreadable swapped_in_period")
            return
        if in_period is not None and period is None:
            self.problems.append("sim_swap: unreadable swapped_period")
            return
        window = timedelta(hours=self.window_hours)
        # The date and the period flag must tell the same story.
        if swapped_at is not None and in_period is not None:
            if (self.now - swapped_at <= period) != in_period:
                self.problems.append(
                    f"sim_swap: contradictory answer (last swap {swapped_at:%Y-%m-%dT%H:%MZ} "
                    f"but swapped_in_period {str(in_period).lower()} for "
                    f"{last.get('swapped_period')})")
                return
        # Each part answers for the window only where it covers it: "swapped within 48 h"
        # settles "swapped within 240 h", "not swapped within 48 h" does not.
        verdict = UNKNOWN
        if swapped_at is not None:
            verdict = SWAPPED if self.now - swapped_at <= window else NOT_SWAPPED
        elif in_period is True and period <= window:
            verdict = SWAPPED
        elif in_period is False and period >= window:
            verdict = NOT_SWAPPED
        self.updates["sim_swapped_at"] = swapped_at
        self.updates["sim_swapped_within"] = _ceil_hours(period) if in_period else None
        self.updates["sim_swap"] = verdict
        if verdict == UNKNOWN:
            self.problems.append(
                f"sim_swap: Twilio's answer (no date, period {_show(last.get('swapped_period'))}) "
                f"does not cover the last {self.window_hours} h")

    def _read_reassigned_number(self, value: dict) -> None:
        answered_for = value.get("last_verified_date")
        if answered_for is not None and (
                not isinstance(answered_for, str)
                or answered_for.replace("-", "") != self.last_verified.strftime("%Y%m%d")):
            self.problems.append(
                f"reassigned: Twilio answered for {_show(answered_for)}, not "
                f"{self.last_verified.isoformat()}")
            return
        answer = value.get("is_number_reassigned")
        if answer == "yes":
            self.updates["reassigned"] = REASSIGNED
        elif answer == "no":
            self.updates["reassigned"] = NOT_REASSIGNED
        else:
            self.problems.append(f"reassigned: Twilio answered {_show(answer)}")

    def _read_line_status(self, value: dict) -> None:
        status = value.get("status")
        mapped = LINE_STATUSES.get(status.lower()) if isinstance(status, str) else None
        if mapped:
            self.updates["line_status"] = mapped
        else:
            self.problems.append(f"line_status: Twilio answered {_show(status)}")

    def _read_call_forwarding(self, value: dict) -> None:
        # The documented field is call_forwarding_enabled (a boolean); older answers had
        # call_forwarding_status, sometimes as the string "true" or "false".
        enabled = value.get("call_forwarding_enabled", value.get("call_forwarding_status"))
        if enabled in (True, "true"):
            self.updates["call_forwarding"] = ON
        elif enabled in (False, "false"):
            self.updates["call_forwarding"] = OFF
        else:
            self.problems.append(f"call_forwarding: Twilio answered {_show(enabled)}")

    def _read_sms_pumping_risk(self, value: dict) -> None:
        score = value.get("sms_pumping_risk_score")
        if isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 100:
            self.updates["sms_pumping_risk"] = score
        else:
            self.problems.append(f"sms_pumping_risk: Twilio answered {_show(score)}")

    def _carrier(self, value: dict) -> None:
        for key in ("carrier_name", "mobile_country_code", "mobile_network_code"):
            item = value.get(key)
            if isinstance(item, str) and item:
                self.updates[key] = item


def _describe_code(code: object) -> str:
    """'Twilio error 60620 (no coverage: ...)' for a package's error_code."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return f"Twilio error {_show(code)}"
    meaning = ERROR_CODES.get(number)
    return f"Twilio error {number}" + (f" ({meaning})" if meaning else "")


def _read_datetime(value: object) -> tuple[datetime | None, bool]:
    """(an aware datetime or None, whether the value was unreadable)."""
    if value is None:
        return None, False
    if not isinstance(value, str):
        return None, True
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, True
    if parsed.tzinfo is None:
        return None, True
    return parsed.astimezone(timezone.utc), False


def _duration(value: object) -> timedelta | None:
    """An ISO 8601 duration such as PT48H or P10D; None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _ceil_hours(period: timedelta) -> int:
    """Whole hours, rounded up: "swapped within 47.5 h" is true as "within 48 h"."""
    return -(-int(period.total_seconds()) // 3600)


def _show(value: object) -> str:
    """A provider's value for a reason or a log line, short and on one line."""
    return repr(value)[:40] if not isinstance(value, str) else repr(value[:40])
