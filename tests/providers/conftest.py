"""Fixtures for the provider tests: an app without a database, the fakes, and the log
(the fake Twilio itself, `fake_twilio`, is in tests/conftest.py).

Providers never touch the database, so these tests build their app on one SQLite URL that
is never opened, instead of running everything twice through `make_app`.
"""
from __future__ import annotations

import logging

import pytest

from app import create_app
from app.providers import twilio_sms
from tests.fakes.smtp_server import TestCertificates
from tests.helpers import base_config
from tests.providers.helpers import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER


@pytest.fixture
def provider_app(tmp_path):
    """Build an app with extra settings; its database is never used."""
    def build(**overrides):
        return create_app(base_config(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
                          | overrides)
    return build


@pytest.fixture
def twilio_app(provider_app, fake_twilio, monkeypatch):
    """Build an app whose Twilio calls go to the fake, with account SID and auth token and
    no wait before the retry of a 5xx (the backoff is a constant, not logic under test)."""
    monkeypatch.setattr(twilio_sms, "RETRY_BACKOFF_SECONDS", 0)

    def build(**overrides):
        settings = {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
                    "TWILIO_BASE_URL": fake_twilio.url}
        return provider_app(**(settings | overrides))
    return build


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(record.getMessage() for record in self.records)


@pytest.fixture
def provider_log():
    """Records of the "tessera.providers" logger (the suite runs with -p no:logging, so
    caplog is not available)."""
    logger = logging.getLogger("tessera.providers")
    collector = _Collector()
    previous_level = logger.level
    logger.addHandler(collector)
    logger.setLevel(logging.DEBUG)
    yield collector
    logger.removeHandler(collector)
    logger.setLevel(previous_level)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> TestCertificates:
    """A throwaway CA and a certificate for 127.0.0.1."""
    return TestCertificates.create(tmp_path_factory.mktemp("certificates"))


# ---- phone lookup providers ---------------------------------------------------------------

@pytest.fixture
def fake_camara():
    """A fake CAMARA operator on 127.0.0.1 (tests/fakes/camara_server.py)."""
    from tests.fakes.camara_server import FakeCamara
    fake = FakeCamara().start()
    yield fake
    fake.stop()


@pytest.fixture
def camara_app(provider_app, fake_camara):
    """Build an app whose phone lookups go to the fake CAMARA operator. The process-wide
    token cache is emptied before and after, so no test sees another's token."""
    from app.providers.camara import forget_tokens
    from tests.fakes.camara_server import CLIENT_ID, CLIENT_SECRET

    forget_tokens()

    def build(**overrides):
        settings = {"PHONE_LOOKUP": "camara",
                    "CAMARA_BASE_URL": fake_camara.url + "/camara",
                    "CAMARA_TOKEN_URL": fake_camara.url + "/oauth2/token",
                    "CAMARA_CLIENT_ID": CLIENT_ID, "CAMARA_CLIENT_SECRET": CLIENT_SECRET,
                    "CAMARA_SCOPE": "sim-swap number-recycling:check",
                    "PHONE_LOOKUP_TIMEOUT_SECONDS": 5}
        return provider_app(**(settings | overrides))
    yield build
    forget_tokens()


@pytest.fixture
def twilio_lookup_app(provider_app, fake_twilio):
    """Build an app whose phone lookups go to the fake Twilio (Lookup v2)."""
    def build(**overrides):
        settings = {"PHONE_LOOKUP": "twilio-lookup", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_BASE_URL": fake_twilio.url,
                    "PHONE_LOOKUP_TIMEOUT_SECONDS": 5}
        return provider_app(**(settings | overrides))
    return build
