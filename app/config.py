"""Settings: defaults, then instance/config.py, then TESSERA_* environment variables, then
the test mapping. `validate()` refuses to start production with a missing or unsafe setting.

Every setting below can be given as an environment variable with the ``TESSERA_`` prefix
(``TESSERA_DATABASE_URL``, ``TESSERA_ARGON2_MEMORY_KIB`` ...). Values from the environment are
converted to the type of the default (whole numbers, true/false), and a value that does not
convert stops start-up with a message naming the variable.

This module imports nothing from the app, so every floor may read it: it also holds the
typed readings of settings that several packages share (`RiskSettings`, the RISK_*
thresholds the phone-risk policy uses; `context_word_list`, the rule for
PASSWORD_CONTEXT_WORDS).
"""
from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "TESSERA_"

#: The defaults are the embedded mode of `make run`: SQLite in instance/, console senders.
DEFAULTS: dict[str, object] = {
    # "development" runs on the embedded defaults; "production" insists on safe settings.
    "ENV": "production",
    "SECRET_KEY": "",
    # Empty means SQLite at instance/tessera.db.
    "DATABASE_URL": "",
    # The exact issuer URL; the session cookie is Secure whenever it is https. Passkeys
    # take their origin and RP ID from it: a host name (localhost in development), never
    # an IP address.
    "ISSUER": "http://localhost:5000",
    # Passkeys: the RP ID when it should be a parent domain of the issuer's host (empty:
    # the host itself); the authenticator models (AAGUIDs, comma-separated) accepted, with
    # a verified attestation (empty: any passkey, attestation "none"); PEM roots for
    # those attestations.
    "PASSKEY_RP_ID": "",
    "PASSKEY_AAGUIDS": "",
    "PASSKEY_ATTESTATION_ROOTS": "",
    # Region used to read phone numbers typed without a country code.
    "DEFAULT_REGION": "US",
    # Outbound messages: "console" prints and appends to OUTBOX_PATH. SMS_PROVIDER may
    # also be "twilio" (Messages API) or "twilio-verify" (Twilio Verify holds the codes);
    # EMAIL_PROVIDER may be "smtp".
    "SMS_PROVIDER": "console",
    "EMAIL_PROVIDER": "console",
    # Empty means instance/outbox.jsonl.
    "OUTBOX_PATH": "",
    # Twilio: an account SID and auth token (or an API key SID and secret), and a
    # messaging service SID or a from-number for the Messages API, or a Verify service SID.
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_API_KEY_SID": "",
    "TWILIO_API_KEY_SECRET": "",
    "TWILIO_MESSAGING_SERVICE_SID": "",
    "TWILIO_FROM_NUMBER": "",
    "TWILIO_VERIFY_SERVICE_SID": "",
    "TWILIO_TIMEOUT_SECONDS": 10,
    # Tests only: send every Twilio API call to this base URL (a fake on 127.0.0.1)
    # instead of Twilio's hosts. Refused in production.
    "TWILIO_BASE_URL": "",
    # SMTP: SMTP_SECURITY is "starttls", "tls" (implicit, port 465) or "none" (local relays).
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 587,
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_SECURITY": "starttls",
    "SMTP_TIMEOUT_SECONDS": 10,
    "EMAIL_FROM": "Tessera <no-reply@localhost>",
    # Where SMS codes may go: ISO regions ("US,GB,DE"), or "*" for every region. Numbers
    # that cannot receive SMS (landline, premium rate, shared cost, toll free, and VoIP
    # unless allowed) are always refused.
    "SMS_ALLOWED_REGIONS": "*",
    "SMS_ALLOW_VOIP": False,
    # SMS one-time codes: lifetime (at most 600 s), wrong tries per code, sending limits.
    "SMS_CODE_SECONDS": 300,
    "SMS_CODE_MAX_ATTEMPTS": 5,
    "SMS_MIN_SECONDS_BETWEEN_SENDS": 30,
    "SMS_SENDS_PER_NUMBER_PER_HOUR": 5,
    "SMS_SENDS_PER_IP_PER_HOUR": 20,
    "SMS_SENDS_PER_PREFIX_PER_HOUR": 200,
    # Shared fast counters (SMS send limits). Empty: kept in the database. The database
    # stays the record of what was sent either way.
    "REDIS_URL": "",
    # Phone intelligence: "offline" (phonenumbers only), "twilio-lookup" (Lookup v2) or
    # "camara" (CAMARA SIM Swap and Number Recycling). Answers are cached, except SIM-swap
    # answers used for a login or recovery decision.
    "PHONE_LOOKUP": "offline",
    "PHONE_LOOKUP_TIMEOUT_SECONDS": 5,
    "PHONE_LOOKUP_CACHE_SECONDS": 86400,
    "TWILIO_LOOKUP_FIELDS": "line_type_intelligence,sim_swap,reassigned_number",
    "CAMARA_BASE_URL": "",
    "CAMARA_TOKEN_URL": "",
    "CAMARA_CLIENT_ID": "",
    "CAMARA_CLIENT_SECRET": "",
    "CAMARA_SCOPE": "",
    # Phone-risk policy (app/risk/): windows in days, score thresholds; recovery and
    # changing a factor use the stricter RECOVERY thresholds.
    "RISK_DORMANT_DAYS_WARN": 45,
    "RISK_DORMANT_DAYS_HIGH": 90,
    "RISK_SIM_SWAP_DAYS": 7,
    "RISK_SMS_HOLD_DAYS_AFTER_SIM_SWAP": 7,
    "RISK_SMS_HOLD_DAYS_RECOVERY": 14,
    "RISK_STEP_UP_SCORE": 30,
    "RISK_BLOCK_SCORE": 60,
    "RISK_RECOVERY_STEP_UP_SCORE": 15,
    "RISK_RECOVERY_BLOCK_SCORE": 40,
    "RISK_PUMPING_THRESHOLD": 70,
    "RISK_SENSITIVE_CHANGE_DAYS": 7,
    # The device cookie that recognises a returning browser at login.
    "DEVICE_COOKIE_DAYS": 365,
    # Per-IP request limits (Flask-Limiter). memory:// is per process: production needs Redis.
    "RATELIMIT_STORAGE_URI": "memory://",
    "LOGIN_RATE_LIMIT": "30 per minute",
    "SIGNUP_RATE_LIMIT": "10 per minute",
    "ADMIN_RATE_LIMIT": "600 per minute",
    # Largest admin API request body; a bigger one is refused (413) before it is read.
    "ADMIN_MAX_BODY_BYTES": 65536,
    # Largest request body everywhere else (hosted pages, OAuth endpoints): refused (413)
    # before it is read, before even its CSRF token is checked.
    "MAX_BODY_BYTES": 65536,
    # Support's recovery links (single use) live this long.
    "RECOVERY_LINK_SECONDS": 900,
    # Delete-my-account: the account is erased this many days after the request, unless
    # the customer cancels first.
    "ACCOUNT_DELETION_GRACE_DAYS": 14,
    # argon2id cost (OWASP: 19 MiB, t=2, p=1). Hashes are re-made at login when it changes.
    "ARGON2_MEMORY_KIB": 19456,
    "ARGON2_TIME_COST": 2,
    "ARGON2_PARALLELISM": 1,
    # ASVS 6.2.1: at least 8. NIST SP 800-63B-4 asks 15 where the password is the only factor.
    "PASSWORD_MIN_LENGTH": 8,
    "PASSWORD_MIN_ZXCVBN_SCORE": 2,
    # ASVS 6.1.2/6.2.11: passwords containing one of these words (any case) are refused.
    # Comma-separated; "auto" is the product name and the issuer host's distinctive labels
    # (app/auth/passwords.py); add brand names after it ("auto,acme"); empty: none.
    "PASSWORD_CONTEXT_WORDS": "auto",
    # Per-identifier backoff: after this many consecutive failures each further attempt
    # waits BASE * 2**(n - threshold) seconds, never more than MAX. Never a permanent lock.
    "LOGIN_BACKOFF_THRESHOLD": 5,
    "LOGIN_BACKOFF_BASE_SECONDS": 30,
    "LOGIN_BACKOFF_MAX_SECONDS": 900,
    # Login sessions: idle and absolute lifetimes.
    "SESSION_IDLE_SECONDS": 3600,
    "SESSION_ABSOLUTE_SECONDS": 86400,
    # Codes sent to confirm an email or phone at sign-up.
    "VERIFICATION_CODE_SECONDS": 600,
    "VERIFICATION_CODE_MAX_ATTEMPTS": 5,
    # Encrypts signing keys' private parts at rest (urlsafe base64 of 32 bytes). Empty:
    # derived from SECRET_KEY, so changing SECRET_KEY then needs `flask keys rotate`.
    "KEY_ENCRYPTION_KEY": "",
    # Token lifetimes, in seconds.
    "AUTHORIZATION_CODE_SECONDS": 60,
    "ACCESS_TOKEN_SECONDS": 600,
    "ID_TOKEN_SECONDS": 600,
    "REFRESH_TOKEN_SECONDS": 30 * 86400,
    # A refresh family's absolute lifetime: rotation renews REFRESH_TOKEN_SECONDS but
    # never past this, counted from the login that started the family.
    "REFRESH_TOKEN_FAMILY_SECONDS": 90 * 86400,
    # Opt-in: a rotated refresh token presented again within this many seconds, while its
    # successor is unused (a mobile client that lost the response), is served instead of
    # revoking the family. 0 (the default, RFC 9700 4.14.2): any reuse revokes the family.
    # See tokens.redeem_refresh_token.
    "REFRESH_TOKEN_REUSE_GRACE_SECONDS": 0,
    # Number of proxies in front of the app whose X-Forwarded-* headers are trusted.
    "TRUSTED_PROXY_COUNT": 0,
    # The brand on every page, email and text message (app/platform/brand.py). Logos and
    # the favicon: an https:// URL, or the name of a file in instance/brand/static/ (the
    # override folder, which also holds templates that win over the built-in ones).
    # Colours: #rrggbb or #rgb, checked for WCAG AA contrast at start-up (a warning names
    # the pair that falls short). Links: https:// URLs; empty ones are not shown.
    "BRAND_NAME": "Tessera",
    "BRAND_LOGO": "",
    "BRAND_LOGO_DARK": "",
    "BRAND_FAVICON": "",
    "BRAND_COLOR_PRIMARY": "#1b3a5c",
    "BRAND_COLOR_BACKGROUND": "#f6f7f9",
    "BRAND_COLOR_TEXT": "#1b1f24",
    "BRAND_COLOR_ERROR": "#b3261e",
    "BRAND_SUPPORT_EMAIL": "",
    "BRAND_SUPPORT_URL": "",
    "BRAND_PRIVACY_URL": "",
    "BRAND_TERMS_URL": "",
    "BRAND_IMPRINT_URL": "",
    # The languages the pages, emails and texts are offered in (each one Tessera ships:
    # en, de, fr, es), and the one used when nothing else chooses (app/platform/i18n.py).
    "LOCALES": "en,de,fr,es",
    "DEFAULT_LOCALE": "en",
}

#: A production secret key has at least this many different characters, and a
#: KEY_ENCRYPTION_KEY at least this many different byte values: a crude entropy floor
#: that refuses placeholders ("xxxx...", all zeros) but cannot prove randomness (a
#: random 32-character key has about 25 different characters, 32 random bytes about 30).
MIN_DISTINCT_KEY_CHARACTERS = 16
MIN_DISTINCT_KEY_BYTES = 16
#: OWASP's argon2id minimums (Password Storage Cheat Sheet), as (memory KiB, time cost),
#: each with parallelism 1; production accepts any cost at or above one of them.
ARGON2_OWASP_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
#: Production backoff: it starts by the 10th failure and grows to at least a minute.
MAX_BACKOFF_THRESHOLD = 10
MIN_BACKOFF_MAX_SECONDS = 60
#: SMTP_SECURITY=none is accepted in production only toward one of these hosts.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: PASSWORD_CONTEXT_WORDS: "auto" stands for the product name and the issuer's distinctive
#: host labels (app/auth/passwords.py); any other word has this many characters.
AUTO_CONTEXT_WORDS = "auto"
CONTEXT_WORD_MIN_LENGTH = 3
CONTEXT_WORD_MAX_LENGTH = 64

#: Settings whose production value must be set and safe, with what "safe" means.
PRODUCTION_RULES = {
    "SECRET_KEY": "set it to at least 32 random characters, e.g. the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
    "DATABASE_URL": "set it to a PostgreSQL URL (postgresql://user:password@host/db); "
    "SQLite is the embedded development default only",
    "ISSUER": "set it to the public https:// URL of this server",
    "RATELIMIT_STORAGE_URI": "set it to a shared store such as redis://host:6379/0; "
    "memory:// counts per process, so several instances would each allow the limit",
    "SMS_PROVIDER": "set it to twilio or twilio-verify; console writes codes to the log "
    "and the outbox file, where anyone who reads them can log in",
    "EMAIL_PROVIDER": "set it to smtp; console writes codes and recovery links to the log "
    "and the outbox file",
    "KEY_ENCRYPTION_KEY": "set it to 32 random bytes in urlsafe base64, e.g. the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(32))', or leave it empty to "
    f"derive it from the secret key (at least {MIN_DISTINCT_KEY_BYTES} different byte values "
    "are required)",
    "ARGON2_MEMORY_KIB": "set the memory (KiB) and time cost at or above one of OWASP's "
    "argon2id minimums: " + ", ".join(f"{memory} KiB with t>={time}"
                                      for memory, time in ARGON2_OWASP_MINIMUMS),
    "LOGIN_BACKOFF_THRESHOLD": f"keep backoff on: {ENV_PREFIX}LOGIN_BACKOFF_THRESHOLD "
    f"between 1 and {MAX_BACKOFF_THRESHOLD}, {ENV_PREFIX}LOGIN_BACKOFF_BASE_SECONDS at least 1 "
    f"and {ENV_PREFIX}LOGIN_BACKOFF_MAX_SECONDS at least {MIN_BACKOFF_MAX_SECONDS}",
    "PASSWORD_MIN_ZXCVBN_SCORE": "set it between 2 and 4 (a zxcvbn score below 2 means "
    "the password falls within a million guesses)",
    "SMTP_SECURITY": "set it to starttls or tls; none (plain text) is for a relay on this "
    "machine only (SMTP_HOST localhost or a loopback address)",
}


class ConfigError(RuntimeError):
    """A setting is missing, malformed or unsafe; the message names it."""


#: The longest period a RISK_*_DAYS setting may name (ten years): longer is a typo.
RISK_MAX_DAYS = 3650


@dataclass(frozen=True)
class RiskSettings:
    """The thresholds of the phone-risk policy (RISK_* settings; see from_config)."""

    dormant_days_warn: int = 45
    dormant_days_high: int = 90
    sim_swap_days: int = 7
    sms_hold_days_after_sim_swap: int = 7
    sms_hold_days_recovery: int = 14
    step_up_score: int = 30
    block_score: int = 60
    recovery_step_up_score: int = 15
    recovery_block_score: int = 40
    pumping_risk_threshold: int = 70
    sensitive_change_days: int = 7

    #: Setting name for each field.
    KEYS = {
        "dormant_days_warn": "RISK_DORMANT_DAYS_WARN",
        "dormant_days_high": "RISK_DORMANT_DAYS_HIGH",
        "sim_swap_days": "RISK_SIM_SWAP_DAYS",
        "sms_hold_days_after_sim_swap": "RISK_SMS_HOLD_DAYS_AFTER_SIM_SWAP",
        "sms_hold_days_recovery": "RISK_SMS_HOLD_DAYS_RECOVERY",
        "step_up_score": "RISK_STEP_UP_SCORE",
        "block_score": "RISK_BLOCK_SCORE",
        "recovery_step_up_score": "RISK_RECOVERY_STEP_UP_SCORE",
        "recovery_block_score": "RISK_RECOVERY_BLOCK_SCORE",
        "pumping_risk_threshold": "RISK_PUMPING_THRESHOLD",
        "sensitive_change_days": "RISK_SENSITIVE_CHANGE_DAYS",
    }

    def __post_init__(self) -> None:
        problems = []
        for item in fields(self):
            value = getattr(self, item.name)
            if type(value) is not int or value < 0:
                problems.append(f"{self._name(item.name)} must be a whole number of 0 or "
                                f"more, not {value!r}")
        if problems:
            raise ConfigError("; ".join(problems))
        # Orderings whose violation would silently weaken the policy.
        pairs = [("dormant_days_warn", "dormant_days_high"),
                 ("step_up_score", "block_score"),
                 ("recovery_step_up_score", "recovery_block_score"),
                 ("recovery_step_up_score", "step_up_score"),
                 ("recovery_block_score", "block_score")]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                problems.append(f"{self._name(low)} must not be more than {self._name(high)}")
        for name in self.KEYS:
            if "days" in name and getattr(self, name) > RISK_MAX_DAYS:
                problems.append(f"{self._name(name)} must be at most {RISK_MAX_DAYS} days")
        if self.pumping_risk_threshold > 100:
            problems.append(f"{self._name('pumping_risk_threshold')} must be 0 to 100")
        if self.step_up_score == 0 or self.recovery_step_up_score == 0:
            problems.append("a step-up score of 0 would ask every login for a second factor")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_config(cls, config: Mapping) -> RiskSettings:
        """Read the RISK_* settings from a mapping (app.config), each with its default
        when absent. ConfigError names any setting that is not a sensible whole number."""
        values = {}
        for name, key in cls.KEYS.items():
            if key not in config:
                continue
            raw = config[key]
            if isinstance(raw, bool):
                raise ConfigError(f"{ENV_PREFIX}{key} must be a whole number, not {raw!r}")
            try:
                values[name] = int(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{ENV_PREFIX}{key} must be a whole number, "
                                  f"not {raw!r}") from None
        return cls(**values)

    @classmethod
    def _name(cls, field_name: str) -> str:
        return ENV_PREFIX + cls.KEYS[field_name]


def context_word_list(setting: str) -> list[str]:
    """The words of a PASSWORD_CONTEXT_WORDS value, stripped and case-folded, blanks left
    out, "auto" kept as it is (app/auth/passwords.py expands it). ValueError (naming the
    fault) for a word too short to refuse by, too long, or containing whitespace."""
    words = []
    for word in (part.strip().casefold() for part in setting.split(",")):
        if not word:
            continue
        if word != AUTO_CONTEXT_WORDS and (
                not CONTEXT_WORD_MIN_LENGTH <= len(word) <= CONTEXT_WORD_MAX_LENGTH
                or any(ch.isspace() for ch in word)):
            raise ValueError(f"has {word!r}: each word needs {CONTEXT_WORD_MIN_LENGTH} to "
                             f"{CONTEXT_WORD_MAX_LENGTH} characters and no spaces "
                             "(words are separated by commas)")
        words.append(word)
    return words


def from_environment(environ: os._Environ | dict) -> dict[str, object]:
    """Read ``TESSERA_*`` variables named in DEFAULTS, converted to the default's type."""
    settings: dict[str, object] = {}
    for key, default in DEFAULTS.items():
        raw = environ.get(ENV_PREFIX + key)
        if raw is None:
            continue
        settings[key] = _convert(ENV_PREFIX + key, raw, type(default))
    return settings


def _convert(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw


def finish(config: dict, instance_path: str) -> None:
    """Fill the settings derived from others (database URI, outbox, dev secret key)."""
    instance = Path(instance_path)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'tessera.db'}"
    config["SQLALCHEMY_DATABASE_URI"] = database_uri(str(config["DATABASE_URL"]))
    if not config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A pooled connection the database closed (a restart, a failover, an idle
        # timeout) is replaced before use, instead of failing the request that drew it.
        # (Not on SQLite: a file cannot close a connection under us.)
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}).setdefault("pool_pre_ping", True)
    if not config["OUTBOX_PATH"]:
        config["OUTBOX_PATH"] = str(instance / "outbox.jsonl")
    if not config["SECRET_KEY"] and config["ENV"] == "development":
        config["SECRET_KEY"] = _development_secret_key(instance)
    if str(config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        # An unreachable Redis fails the request (503) in seconds, not after TCP's minutes.
        config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                          {"socket_connect_timeout": 2, "socket_timeout": 2})
    config["SESSION_COOKIE_SECURE"] = str(config["ISSUER"]).startswith("https://")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_NAME"] = "tessera_flash"
    # CSRF tokens last as long as a login form may reasonably stay open.
    config.setdefault("WTF_CSRF_TIME_LIMIT", 3600)


def database_uri(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def validate(config: dict, *more_checks: Callable[[dict], list[str]]) -> None:
    """Stop start-up with a message naming each missing or unsafe setting.

    Two rounds: first the settings every other check relies on (ENV, what production
    refuses outright, the issuer, whole numbers: the later checks convert with int()),
    then one validator per area, `more_checks` among them (the factory passes the checks
    that live beside their rules, such as the brand's: this module imports nothing from
    the app). Each round raises ConfigError once, with every problem it found."""
    _refuse_if_any([*_environment_problems(config), *_production_refusals(config),
                    *_issuer_problems(config), *_whole_number_problems(config)])
    _refuse_if_any([*_sms_problems(config), *_email_problems(config),
                    *_risk_problems(config), *_phone_lookup_problems(config),
                    *_password_problems(config), *_lifetime_problems(config),
                    *_rate_limit_problems(config), *_signing_key_problems(config),
                    *_production_strength_problems(config),
                    *(problem for check in more_checks for problem in check(config))])


def _refuse_if_any(problems: list[str]) -> None:
    """Raise ConfigError listing `problems`, if there are any."""
    if problems:
        raise ConfigError("Tessera cannot start:\n  - " + "\n  - ".join(problems))


def _at_least_one(config: dict, keys: tuple[str, ...]) -> list[str]:
    """A problem for each of `keys` whose (whole-number) value is below 1."""
    return [f"{ENV_PREFIX}{key} must be at least 1" for key in keys if int(config[key]) < 1]


def _environment_problems(config: dict) -> list[str]:
    """ENV is production or development."""
    if config["ENV"] not in {"production", "development"}:
        return [f"{ENV_PREFIX}ENV must be 'production' or 'development'"]
    return []


def _production_refusals(config: dict) -> list[str]:
    """What production refuses to start without (PRODUCTION_RULES): a random secret key,
    PostgreSQL, an https issuer, a shared rate-limit store, real senders."""
    if config["ENV"] != "production":
        return []
    problems = []
    if len(str(config["SECRET_KEY"])) < 32:
        problems.append(_rule("SECRET_KEY", "is missing or shorter than 32 characters"))
    elif len(set(str(config["SECRET_KEY"]))) < MIN_DISTINCT_KEY_CHARACTERS:
        problems.append(_rule("SECRET_KEY", f"has fewer than {MIN_DISTINCT_KEY_CHARACTERS} "
                              "different characters (not random)"))
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        problems.append(_rule("DATABASE_URL", "points at SQLite"))
    if not str(config["ISSUER"]).startswith("https://"):
        problems.append(_rule("ISSUER", "is not an https:// URL"))
    if str(config["RATELIMIT_STORAGE_URI"]).startswith("memory://"):
        problems.append(_rule("RATELIMIT_STORAGE_URI", "is memory://"))
    for key in ("SMS_PROVIDER", "EMAIL_PROVIDER"):
        if config[key] == "console":
            problems.append(_rule(key, "is console"))
    return problems


def _issuer_problems(config: dict) -> list[str]:
    """ISSUER is an http(s) URL without a trailing slash."""
    issuer = str(config["ISSUER"])
    if (not issuer.startswith(("http://", "https://")) or issuer.endswith("/")
            or not _parses_as_url(issuer)):
        return [f"{ENV_PREFIX}ISSUER must be an http(s) URL without a trailing slash"]
    return []


def _parses_as_url(text: str) -> bool:
    """Whether urllib can read the host of `text` (not, e.g., a broken "[::1" address):
    "auto" password context words are read from the issuer's host."""
    try:
        urlsplit(text).hostname  # noqa: B018  (reading it is the test: a bad host raises)
    except ValueError:
        return False
    return True


def _whole_number_problems(config: dict) -> list[str]:
    """Whole-number settings, whichever source they came from (instance/config.py values
    are not converted on the way in)."""
    return [f"{ENV_PREFIX}{key} must be a whole number, not {config[key]!r}"
            for key, default in DEFAULTS.items()
            if type(default) is int and not _is_whole_number(config[key])]


def _sms_problems(config: dict) -> list[str]:
    """SMS codes, send limits and the SMS provider with its Twilio settings."""
    problems = _at_least_one(config, ("SMS_CODE_MAX_ATTEMPTS", "SMS_SENDS_PER_NUMBER_PER_HOUR",
                                      "SMS_SENDS_PER_IP_PER_HOUR",
                                      "SMS_SENDS_PER_PREFIX_PER_HOUR",
                                      "TWILIO_TIMEOUT_SECONDS"))
    if not 60 <= int(config["SMS_CODE_SECONDS"]) <= 600:
        problems.append(f"{ENV_PREFIX}SMS_CODE_SECONDS must be between 60 and 600")
    if int(config["SMS_CODE_MAX_ATTEMPTS"]) > 10:
        problems.append(f"{ENV_PREFIX}SMS_CODE_MAX_ATTEMPTS must be at most 10")
    if config["SMS_PROVIDER"] not in ("console", "twilio", "twilio-verify"):
        problems.append(f"{ENV_PREFIX}SMS_PROVIDER must be console, twilio or twilio-verify")
    if str(config["SMS_PROVIDER"]).startswith("twilio"):
        problems += _twilio_sms_problems(config)
    if config["ENV"] == "production" and config["TWILIO_BASE_URL"]:
        problems.append(f"{ENV_PREFIX}TWILIO_BASE_URL is for tests only: unset it in production")
    return problems


def _twilio_sms_problems(config: dict) -> list[str]:
    """The Twilio settings the chosen Twilio SMS provider needs."""
    problems = []
    if not config["TWILIO_ACCOUNT_SID"]:
        problems.append(f"{ENV_PREFIX}TWILIO_ACCOUNT_SID is needed for {config['SMS_PROVIDER']}")
    if not (config["TWILIO_AUTH_TOKEN"]
            or (config["TWILIO_API_KEY_SID"] and config["TWILIO_API_KEY_SECRET"])):
        problems.append(f"{ENV_PREFIX}TWILIO_AUTH_TOKEN (or an API key SID and secret) "
                        "is needed for Twilio")
    if config["SMS_PROVIDER"] == "twilio" and not (
            config["TWILIO_MESSAGING_SERVICE_SID"] or config["TWILIO_FROM_NUMBER"]):
        problems.append(f"{ENV_PREFIX}TWILIO_MESSAGING_SERVICE_SID or "
                        "TWILIO_FROM_NUMBER is needed for the twilio SMS provider")
    if config["SMS_PROVIDER"] == "twilio-verify" and not config["TWILIO_VERIFY_SERVICE_SID"]:
        problems.append(f"{ENV_PREFIX}TWILIO_VERIFY_SERVICE_SID is needed for twilio-verify")
    return problems


def _email_problems(config: dict) -> list[str]:
    """The email provider and its SMTP settings."""
    problems = _at_least_one(config, ("SMTP_TIMEOUT_SECONDS",))
    if config["EMAIL_PROVIDER"] not in ("console", "smtp"):
        problems.append(f"{ENV_PREFIX}EMAIL_PROVIDER must be console or smtp")
    if config["SMTP_SECURITY"] not in ("starttls", "tls", "none"):
        problems.append(f"{ENV_PREFIX}SMTP_SECURITY must be starttls, tls or none")
    return problems


def _risk_problems(config: dict) -> list[str]:
    """The RISK_* settings of the phone-risk policy (RiskSettings checks them)."""
    try:
        RiskSettings.from_config(config)
    except ConfigError as error:
        return [str(error)]
    return []


def _phone_lookup_problems(config: dict) -> list[str]:
    """The phone-intelligence provider and the settings it needs."""
    problems = []
    if config["PHONE_LOOKUP"] not in ("offline", "twilio-lookup", "camara"):
        problems.append(f"{ENV_PREFIX}PHONE_LOOKUP must be offline, twilio-lookup or camara")
    if config["PHONE_LOOKUP"] == "camara":
        for key in ("CAMARA_BASE_URL", "CAMARA_TOKEN_URL", "CAMARA_CLIENT_ID",
                    "CAMARA_CLIENT_SECRET"):
            if not config[key]:
                problems.append(f"{ENV_PREFIX}{key} is needed for PHONE_LOOKUP=camara")
    if config["PHONE_LOOKUP"] == "twilio-lookup" and not config["TWILIO_ACCOUNT_SID"]:
        problems.append(f"{ENV_PREFIX}TWILIO_ACCOUNT_SID is needed for PHONE_LOOKUP="
                        "twilio-lookup")
    return problems


def _password_problems(config: dict) -> list[str]:
    """argon2 costs, the password length and strength floors, the context words."""
    problems = _at_least_one(config, ("ARGON2_MEMORY_KIB", "ARGON2_TIME_COST",
                                      "ARGON2_PARALLELISM"))
    if not 8 <= int(config["PASSWORD_MIN_LENGTH"]) <= 64:
        problems.append(f"{ENV_PREFIX}PASSWORD_MIN_LENGTH must be between 8 and 64")
    if not 0 <= int(config["PASSWORD_MIN_ZXCVBN_SCORE"]) <= 4:
        problems.append(f"{ENV_PREFIX}PASSWORD_MIN_ZXCVBN_SCORE must be between 0 and 4")
    try:
        context_word_list(str(config["PASSWORD_CONTEXT_WORDS"]))
    except ValueError as error:
        problems.append(f"{ENV_PREFIX}PASSWORD_CONTEXT_WORDS {error}")
    return problems


def _lifetime_problems(config: dict) -> list[str]:
    """Lifetimes of sessions, refresh-token families, recovery links and the deletion
    grace period."""
    return _at_least_one(config, ("SESSION_IDLE_SECONDS", "SESSION_ABSOLUTE_SECONDS",
                                  "RECOVERY_LINK_SECONDS", "ACCOUNT_DELETION_GRACE_DAYS",
                                  "REFRESH_TOKEN_FAMILY_SECONDS"))


def _rate_limit_problems(config: dict) -> list[str]:
    """The login backoff and the request-body limits."""
    return _at_least_one(config, ("LOGIN_BACKOFF_THRESHOLD", "ADMIN_MAX_BODY_BYTES",
                                  "MAX_BODY_BYTES"))


def _signing_key_problems(config: dict) -> list[str]:
    """KEY_ENCRYPTION_KEY, when set, is 32 bytes in urlsafe base64."""
    key_encryption_key = _key_encryption_key_bytes(config["KEY_ENCRYPTION_KEY"])
    if key_encryption_key is not None and len(key_encryption_key) != 32:
        return [f"{ENV_PREFIX}KEY_ENCRYPTION_KEY must be 32 bytes in urlsafe base64"]
    return []


def _production_strength_problems(config: dict) -> list[str]:
    """Production settings that are set but too weak: a placeholder key-encryption key,
    argon2 below OWASP's minimums, backoff turned off, a low zxcvbn floor, plain-text
    SMTP to another machine. Not judged while KEY_ENCRYPTION_KEY is malformed (that is
    named by `_signing_key_problems`)."""
    key_encryption_key = _key_encryption_key_bytes(config["KEY_ENCRYPTION_KEY"])
    if config["ENV"] != "production" or (key_encryption_key is not None
                                         and len(key_encryption_key) != 32):
        return []
    problems = []
    if key_encryption_key is not None and len(set(key_encryption_key)) < MIN_DISTINCT_KEY_BYTES:
        problems.append(_rule("KEY_ENCRYPTION_KEY", f"has fewer than {MIN_DISTINCT_KEY_BYTES} "
                              "different byte values (not random)"))
    memory, time_cost = int(config["ARGON2_MEMORY_KIB"]), int(config["ARGON2_TIME_COST"])
    if not any(memory >= m and time_cost >= t for m, t in ARGON2_OWASP_MINIMUMS):
        problems.append(_rule("ARGON2_MEMORY_KIB", f"({memory} KiB) with {ENV_PREFIX}"
                              f"ARGON2_TIME_COST ({time_cost}) is below OWASP's minimums"))
    if not (1 <= int(config["LOGIN_BACKOFF_THRESHOLD"]) <= MAX_BACKOFF_THRESHOLD
            and int(config["LOGIN_BACKOFF_BASE_SECONDS"]) >= 1
            and int(config["LOGIN_BACKOFF_MAX_SECONDS"]) >= MIN_BACKOFF_MAX_SECONDS):
        problems.append(_rule("LOGIN_BACKOFF_THRESHOLD", "(with its BASE_SECONDS and "
                              "MAX_SECONDS) leaves the login backoff off or too weak"))
    if int(config["PASSWORD_MIN_ZXCVBN_SCORE"]) < 2:
        problems.append(_rule("PASSWORD_MIN_ZXCVBN_SCORE", "is below 2"))
    if (config["EMAIL_PROVIDER"] == "smtp" and config["SMTP_SECURITY"] == "none"
            and str(config["SMTP_HOST"]).strip().lower() not in LOOPBACK_HOSTS):
        problems.append(_rule("SMTP_SECURITY", f"is none toward {config['SMTP_HOST']}"))
    return problems


def _key_encryption_key_bytes(text: object) -> bytes | None:
    """KEY_ENCRYPTION_KEY decoded (b"" when it is not base64), or None when unset."""
    if not text:
        return None
    text = str(text).strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return b""


def _is_whole_number(value: object) -> bool:
    """True for an int (not a bool), or a string holding one."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, str):
        try:
            int(value)
        except ValueError:
            return False
        return True
    return False


def _rule(key: str, what: str) -> str:
    return f"{ENV_PREFIX}{key} {what} in production: {PRODUCTION_RULES[key]}"


def _development_secret_key(instance: Path) -> str:
    """Keep one random key per development instance so sessions survive a restart."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
