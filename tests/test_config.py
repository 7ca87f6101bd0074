"""Settings: their order, type conversion, and the checks that stop an unsafe start.

These build apps with `create_app` directly; none of them connects to a database.
"""
from __future__ import annotations

import base64
import stat

import pytest

from app import create_app
from app.config import DEFAULTS, ENV_PREFIX, ConfigError, database_uri, from_environment
from app.extensions import db

SAFE_SECRET = "Vq3-ZtR8_k1Lw0xYbN5mHc7JdP2sFgA9eUi4oKnT6rWy"
#: What production refuses to start without (each named when missing).
REQUIRED_IN_PRODUCTION = {
    "SECRET_KEY": SAFE_SECRET,
    "DATABASE_URL": "postgresql://tessera:pw@127.0.0.1:1/tessera",
    "ISSUER": "https://id.example.com",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
    "SMS_PROVIDER": "twilio-verify",
    "EMAIL_PROVIDER": "smtp",
}
PRODUCTION_SETTINGS = REQUIRED_IN_PRODUCTION | {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
    "TWILIO_VERIFY_SERVICE_SID": "VA" + "0" * 32,
    "SMTP_HOST": "smtp.example.com",
}
PRODUCTION_NAMES = [ENV_PREFIX + key for key in REQUIRED_IN_PRODUCTION]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No TESSERA_* setting from the surrounding shell leaks into these tests."""
    for key in [*DEFAULTS, "INSTANCE_PATH"]:
        monkeypatch.delenv(ENV_PREFIX + key, raising=False)


@pytest.fixture
def build(tmp_path):
    """create_app with an instance folder in tmp_path; engines disposed afterwards."""
    apps = []

    def build_app(**settings):
        application = create_app({"INSTANCE_PATH": str(tmp_path / "instance")} | settings)
        apps.append(application)
        return application

    yield build_app
    for application in apps:
        with application.app_context():
            db.engine.dispose()


def development(**settings) -> dict:
    """Settings of a development app that needs no secret_key file."""
    return {"ENV": "development", "SECRET_KEY": SAFE_SECRET} | settings


# ---- production checks -------------------------------------------------------------------

def test_production_defaults_refuse_to_start_naming_every_unsafe_setting(build) -> None:
    with pytest.raises(ConfigError) as refused:
        build()

    message = str(refused.value)
    for name in PRODUCTION_NAMES:
        assert name in message


@pytest.mark.parametrize(("unsafe", "named"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "x" * 31}, "SECRET_KEY"),
    ({"SECRET_KEY": "s" * 48}, "SECRET_KEY"),
    ({"SECRET_KEY": "abcdefgh" * 6}, "SECRET_KEY"),
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"DATABASE_URL": "sqlite:////var/lib/tessera/tessera.db"}, "DATABASE_URL"),
    ({"ISSUER": "http://id.example.com"}, "ISSUER"),
    ({"RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI"),
    ({"SMS_PROVIDER": "console"}, "SMS_PROVIDER"),
    ({"EMAIL_PROVIDER": "console"}, "EMAIL_PROVIDER"),
    ({"KEY_ENCRYPTION_KEY": "A" * 43}, "KEY_ENCRYPTION_KEY"),  # 32 zero bytes
    ({"KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(range(8)) * 4).decode()},
     "KEY_ENCRYPTION_KEY"),  # 32 bytes, 8 values
    ({"KEY_ENCRYPTION_KEY": "too-short"}, "KEY_ENCRYPTION_KEY"),
    ({"ARGON2_MEMORY_KIB": 8, "ARGON2_TIME_COST": 1}, "ARGON2_MEMORY_KIB"),
    ({"ARGON2_MEMORY_KIB": 19455, "ARGON2_TIME_COST": 2}, "ARGON2_MEMORY_KIB"),
    ({"ARGON2_MEMORY_KIB": 47103, "ARGON2_TIME_COST": 1}, "ARGON2_MEMORY_KIB"),
    ({"ARGON2_MEMORY_KIB": 7167, "ARGON2_TIME_COST": 10}, "ARGON2_MEMORY_KIB"),
    ({"LOGIN_BACKOFF_BASE_SECONDS": 0}, "LOGIN_BACKOFF_THRESHOLD"),
    ({"LOGIN_BACKOFF_MAX_SECONDS": 0}, "LOGIN_BACKOFF_THRESHOLD"),
    ({"LOGIN_BACKOFF_THRESHOLD": 1000}, "LOGIN_BACKOFF_THRESHOLD"),
    ({"PASSWORD_MIN_ZXCVBN_SCORE": 0}, "PASSWORD_MIN_ZXCVBN_SCORE"),
    ({"SMTP_SECURITY": "none"}, "SMTP_SECURITY"),
])
def test_production_names_exactly_the_unsafe_setting(build, unsafe, named) -> None:
    with pytest.raises(ConfigError) as refused:
        build(**PRODUCTION_SETTINGS | unsafe)

    message = str(refused.value)
    assert message.count("\n  - ") == 1, message  # this one problem, nothing else
    assert f"{ENV_PREFIX}{named} " in message


@pytest.mark.parametrize("safe", [
    {"ARGON2_MEMORY_KIB": 47104, "ARGON2_TIME_COST": 1},
    {"ARGON2_MEMORY_KIB": 12288, "ARGON2_TIME_COST": 3},
    {"ARGON2_MEMORY_KIB": 7168, "ARGON2_TIME_COST": 5},
    {"KEY_ENCRYPTION_KEY": "0P8nO1aZ8sV5uwqG3DN7IYVdhm8UUpa5u6Yq8yU_w2I"},
    {"SMTP_SECURITY": "none", "SMTP_HOST": "localhost"},
    {"SMTP_SECURITY": "none", "SMTP_HOST": "127.0.0.1"},
])
def test_production_accepts_settings_at_or_above_the_floor(build, safe) -> None:
    assert build(**PRODUCTION_SETTINGS | safe).config["ENV"] == "production"


def test_development_keeps_its_cheap_settings(build) -> None:
    """`make run` and the tests start on console senders and cheap argon2."""
    app = build(**development(ARGON2_MEMORY_KIB=256, ARGON2_TIME_COST=1,
                              PASSWORD_MIN_ZXCVBN_SCORE=0, SMTP_SECURITY="none",
                              SMTP_HOST="mail.example.com"))
    assert app.config["SMS_PROVIDER"] == app.config["EMAIL_PROVIDER"] == "console"


def test_a_safe_production_config_builds_without_connecting(build, tmp_path) -> None:
    app = build(**PRODUCTION_SETTINGS)

    assert app.config["ENV"] == "production"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == \
        "postgresql+psycopg://tessera:pw@127.0.0.1:1/tessera"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "instance" / "secret_key").exists()


# ---- from_environment --------------------------------------------------------------------

def test_from_environment_converts_to_the_type_of_the_default() -> None:
    settings = from_environment({
        "TESSERA_ARGON2_MEMORY_KIB": "65536",
        "TESSERA_SESSION_IDLE_SECONDS": " 900 ",
        "TESSERA_ISSUER": "https://id.example.com",
        "TESSERA_NOT_A_SETTING": "ignored",
        "ARGON2_TIME_COST": "9",  # no prefix: not ours
        "PATH": "/usr/bin",
    })

    assert settings == {"ARGON2_MEMORY_KIB": 65536, "SESSION_IDLE_SECONDS": 900,
                        "ISSUER": "https://id.example.com"}


@pytest.mark.parametrize("raw", ["not-a-number", "", "1.5", "19 MiB"])
def test_from_environment_names_a_variable_that_does_not_convert(raw) -> None:
    with pytest.raises(ConfigError) as refused:
        from_environment({"TESSERA_ARGON2_MEMORY_KIB": raw})

    assert "TESSERA_ARGON2_MEMORY_KIB" in str(refused.value)


def test_a_bad_environment_variable_stops_start_up(build, monkeypatch) -> None:
    monkeypatch.setenv("TESSERA_ARGON2_MEMORY_KIB", "not-a-number")

    with pytest.raises(ConfigError, match="TESSERA_ARGON2_MEMORY_KIB"):
        build(**development())


def test_settings_apply_in_order_defaults_file_environment_test_mapping(
        build, tmp_path, monkeypatch) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        'DEFAULT_REGION = "GB"\n'
        'LOGIN_RATE_LIMIT = "7 per minute"\n'
        'ARGON2_TIME_COST = 3\n'
        'SIGNUP_RATE_LIMIT = "7 per minute"\n'
    )
    monkeypatch.setenv("TESSERA_LOGIN_RATE_LIMIT", "8 per minute")
    monkeypatch.setenv("TESSERA_ARGON2_TIME_COST", "4")
    monkeypatch.setenv("TESSERA_SIGNUP_RATE_LIMIT", "8 per minute")
    monkeypatch.setenv("TESSERA_SOMETHING_ELSE", "ignored")

    app = build(**development(SIGNUP_RATE_LIMIT="9 per minute"))

    assert app.config["PASSWORD_MIN_LENGTH"] == DEFAULTS["PASSWORD_MIN_LENGTH"]  # default
    assert app.config["DEFAULT_REGION"] == "GB"  # instance/config.py over the default
    assert app.config["LOGIN_RATE_LIMIT"] == "8 per minute"  # environment over the file
    assert app.config["ARGON2_TIME_COST"] == 4  # ... converted to a whole number
    assert app.config["SIGNUP_RATE_LIMIT"] == "9 per minute"  # test mapping over all
    assert "SOMETHING_ELSE" not in app.config


def test_a_bad_value_in_the_instance_config_names_the_setting(build, tmp_path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text('ARGON2_TIME_COST = "two"\n')

    with pytest.raises(ConfigError, match="ARGON2_TIME_COST"):
        build(**development())


# ---- development secret key --------------------------------------------------------------

def test_development_without_a_secret_key_keeps_one_in_the_instance_folder(
        build, tmp_path) -> None:
    first = build(ENV="development")
    key_file = tmp_path / "instance" / "secret_key"

    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 32
    assert key_file.read_text().strip() == first.config["SECRET_KEY"]

    second = build(ENV="development")
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_a_given_secret_key_writes_no_file(build, tmp_path) -> None:
    build(**development())
    assert not (tmp_path / "instance" / "secret_key").exists()


# ---- database URL and issuer -------------------------------------------------------------

@pytest.mark.parametrize(("url", "uri"), [
    ("postgres://u:p@db.example/tessera", "postgresql+psycopg://u:p@db.example/tessera"),
    ("postgresql://u:p@db.example/tessera", "postgresql+psycopg://u:p@db.example/tessera"),
    ("postgresql+psycopg://u:p@db.example/tessera",
     "postgresql+psycopg://u:p@db.example/tessera"),
    ("sqlite:////srv/tessera.db", "sqlite:////srv/tessera.db"),
])
def test_database_urls_point_at_psycopg_3(build, url, uri) -> None:
    assert database_uri(url) == uri
    assert build(**development(DATABASE_URL=url)).config["SQLALCHEMY_DATABASE_URI"] == uri


def test_an_empty_database_url_means_sqlite_in_the_instance_folder(build, tmp_path) -> None:
    app = build(**development())
    assert app.config["SQLALCHEMY_DATABASE_URI"] == \
        f"sqlite:///{tmp_path / 'instance' / 'tessera.db'}"


@pytest.mark.parametrize("issuer", [
    "https://id.example.com/",
    "http://127.0.0.1:5000/",
    "id.example.com",
    "ftp://id.example.com",
])
def test_a_malformed_issuer_is_refused(build, issuer) -> None:
    with pytest.raises(ConfigError, match="TESSERA_ISSUER"):
        build(**development(ISSUER=issuer))


def test_an_unknown_env_is_refused(build) -> None:
    with pytest.raises(ConfigError, match="TESSERA_ENV"):
        build(**development(ENV="staging"))


@pytest.mark.parametrize("settings, named", [
    ({"PHONE_LOOKUP": "camara"}, "TESSERA_CAMARA_BASE_URL"),
    ({"PHONE_LOOKUP": "twilio-lookup"}, "TESSERA_TWILIO_ACCOUNT_SID"),
    ({"PHONE_LOOKUP": "whois"}, "TESSERA_PHONE_LOOKUP"),
])
def test_phone_lookup_settings_are_checked_at_start_up(settings, named, tmp_path):
    from app import create_app
    from app.config import ConfigError
    from tests.helpers import base_config
    with pytest.raises(ConfigError, match=named):
        create_app(base_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}") | settings)
