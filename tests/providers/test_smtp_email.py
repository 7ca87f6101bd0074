"""Email over SMTP through the real smtplib, against aiosmtpd servers on 127.0.0.1."""
import logging

import pytest

from app.providers import email_sender
from app.providers.base import REJECTED, TIMEOUT, UNAVAILABLE, ProviderError
from app.providers.smtp_email import SmtpEmailSender
from tests.fakes.smtp_server import SilentServer, SmtpSink
from tests.postgres import free_port

FROM = "Tessera <no-reply@id.example.com>"
TO = "ada@example.com"


@pytest.fixture
def sinks():
    """Start SmtpSink servers for a test and stop them after it."""
    started = []

    def start(**options) -> SmtpSink:
        sink = SmtpSink(**options).start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def smtp_sender(provider_app):
    """An `smtp` sender built by the factory from settings."""
    def build(port: int, **overrides) -> SmtpEmailSender:
        app = provider_app(**({"EMAIL_PROVIDER": "smtp", "SMTP_HOST": "127.0.0.1",
                               "SMTP_PORT": port, "SMTP_SECURITY": "none",
                               "EMAIL_FROM": FROM} | overrides))
        with app.app_context():
            return email_sender()
    return build


@pytest.fixture
def trust_test_ca(monkeypatch, certificates):
    """Trust the test CA, as a deployment with a private CA would (OpenSSL reads
    SSL_CERT_FILE whenever a default context is made)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))


def test_a_message_arrives_with_its_headers(sinks, smtp_sender):
    sink = sinks()
    sender = smtp_sender(sink.port)
    assert isinstance(sender, SmtpEmailSender)

    message_id = sender.send(TO, "Your sign-up code", "Your code is 123456.\n")

    [mail] = sink.received
    assert mail.mail_from == "no-reply@id.example.com"
    assert mail.rcpt_tos == [TO]
    assert mail.message["From"] == FROM
    assert mail.message["To"] == TO
    assert mail.message["Subject"] == "Your sign-up code"
    assert mail.message.get_content() == "Your code is 123456.\n"
    assert mail.message["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@id.example.com>")
    assert mail.message["Date"].datetime is not None
    assert (mail.over_tls, mail.login) == (False, None)


def test_unicode_subject_and_body_arrive_intact(sinks, smtp_sender):
    sink = sinks()
    smtp_sender(sink.port).send(TO, "Willkommen, Zoë", "Grüße – 你好\n")

    [mail] = sink.received
    assert mail.message["Subject"] == "Willkommen, Zoë"
    assert mail.message.get_content() == "Grüße – 你好\n"


def test_each_message_gets_its_own_message_id(sinks, smtp_sender):
    sink = sinks()
    sender = smtp_sender(sink.port)
    ids = {sender.send(TO, "one", "1"), sender.send(TO, "two", "2")}
    assert ids == {mail.message["Message-ID"] for mail in sink.received}
    assert len(ids) == 2


def test_a_permanently_refused_recipient_is_rejected(sinks, smtp_sender):
    sink = sinks(refuse_recipients_with="550 5.1.1 No such user")

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port).send(TO, "Hello", "body")

    assert (caught.value.reason, caught.value.code) == (REJECTED, 550)
    assert caught.value.message == "We cannot send an email to this address."
    assert sink.received == []


def test_a_temporarily_refused_recipient_is_unavailable(sinks, smtp_sender):
    sink = sinks(refuse_recipients_with="450 4.2.1 Try again later")

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port).send(TO, "Hello", "body")

    assert (caught.value.reason, caught.value.code) == (UNAVAILABLE, 450)
    assert sink.received == []


def test_nothing_listening_is_unavailable(smtp_sender, provider_log):
    with pytest.raises(ProviderError) as caught:
        smtp_sender(free_port()).send(TO, "Hello", "body")

    assert caught.value.reason == UNAVAILABLE
    assert "ConnectionRefusedError" in provider_log.text


def test_a_server_that_never_greets_is_a_timeout(smtp_sender):
    silent = SilentServer()
    try:
        with pytest.raises(ProviderError) as caught:
            smtp_sender(silent.port, SMTP_TIMEOUT_SECONDS=1).send(TO, "Hello", "body")
    finally:
        silent.close()
    assert caught.value.reason == TIMEOUT


@pytest.mark.parametrize(("to", "subject"), [
    (TO, "Hello\r\nBcc: victim@example.net"),
    (TO, "Hello\nX-Injected: 1"),
    ("ada@example.com\r\nBcc: victim@example.net", "Hello"),
    ("ada@example.com, victim@example.net", "Hello"),
])
def test_header_injection_is_refused_before_connecting(sinks, smtp_sender, to, subject):
    sink = sinks()

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port).send(to, subject, "body")

    assert caught.value.reason == REJECTED
    assert sink.received == []
    # Refused before connecting: with nothing listening, the answer is the same.
    with pytest.raises(ProviderError) as caught:
        smtp_sender(free_port()).send(to, subject, "body")
    assert caught.value.reason == REJECTED


def test_starttls_upgrades_the_connection_before_logging_in(sinks, smtp_sender, certificates,
                                                          trust_test_ca):
    sink = sinks(starttls_context=certificates.server_context(),
                 credentials=("tessera", "s3cret-password"))

    smtp_sender(sink.port, SMTP_SECURITY="starttls", SMTP_USERNAME="tessera",
                SMTP_PASSWORD="s3cret-password").send(TO, "Hello", "body")

    [mail] = sink.received
    assert (mail.over_tls, mail.login) == (True, "tessera")


def test_a_wrong_smtp_password_is_rejected_and_logged_as_an_error(
        sinks, smtp_sender, certificates, trust_test_ca, provider_log):
    sink = sinks(starttls_context=certificates.server_context(),
                 credentials=("tessera", "s3cret-password"))

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port, SMTP_SECURITY="starttls", SMTP_USERNAME="tessera",
                    SMTP_PASSWORD="wrong").send(TO, "Hello", "body")

    assert (caught.value.reason, caught.value.code) == (REJECTED, 535)
    assert sink.received == []
    [record] = provider_log.records
    assert record.levelno == logging.ERROR and "535" in record.getMessage()
    assert "wrong" not in provider_log.text


def test_starttls_against_an_untrusted_certificate_sends_nothing(sinks, smtp_sender,
                                                               certificates):
    sink = sinks(starttls_context=certificates.server_context())

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port, SMTP_SECURITY="starttls").send(TO, "Hello", "body")

    assert caught.value.reason == UNAVAILABLE
    assert sink.received == []


def test_starttls_against_a_server_without_it_sends_nothing(sinks, smtp_sender,
                                                          provider_log):
    sink = sinks()  # offers no STARTTLS: maybe stripped by someone in between

    with pytest.raises(ProviderError) as caught:
        smtp_sender(sink.port, SMTP_SECURITY="starttls").send(TO, "Hello", "body")

    assert caught.value.reason == UNAVAILABLE
    assert sink.received == []
    assert "SMTPNotSupportedError" in provider_log.text
    assert provider_log.records[0].levelno == logging.ERROR


def test_implicit_tls(sinks, smtp_sender, certificates, trust_test_ca):
    sink = sinks(implicit_tls_context=certificates.server_context())

    smtp_sender(sink.port, SMTP_SECURITY="tls").send(TO, "Hello", "body")

    [mail] = sink.received
    assert mail.over_tls is True
