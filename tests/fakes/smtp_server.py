"""A local SMTP server (aiosmtpd) that records what it receives, and test certificates.

`SmtpSink` runs aiosmtpd's Controller on 127.0.0.1. It can refuse every recipient with a
given reply, offer STARTTLS or speak implicit TLS with a certificate from `TestCertificates`,
and require a login. `SilentServer` accepts TCP connections and never says a word (for
timeouts).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.postgres import free_port


@dataclass
class ReceivedMail:
    """One message as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    over_tls: bool
    login: str | None


class _RecordingHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.refuse_recipients_with:
            return self.sink.refuse_recipients_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # SMTP carries CRLF line ends; the parser should see the message as it was written.
        raw = envelope.original_content.replace(b"\r\n", b"\n")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        self.sink.received.append(ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), message=message,
            over_tls=over_tls, login=session.auth_data if session.authenticated else None))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts in `received`.

    refuse_recipients_with: an SMTP reply (e.g. "550 5.1.1 No such user") for every RCPT.
    starttls_context: offer STARTTLS with this server context (and require it).
    implicit_tls_context: speak TLS from the first byte (port 465 style).
    credentials: (user, password) required to log in; logins are allowed only over TLS.
    """

    def __init__(self, *, refuse_recipients_with: str = "",
                 starttls_context: ssl.SSLContext | None = None,
                 implicit_tls_context: ssl.SSLContext | None = None,
                 credentials: tuple[str, str] | None = None) -> None:
        self.received: list[ReceivedMail] = []
        self.refuse_recipients_with = refuse_recipients_with
        self.port = free_port()
        self.credentials = credentials
        options: dict = {}
        if starttls_context:
            options.update(tls_context=starttls_context, require_starttls=True)
        if credentials:
            options.update(authenticator=self._authenticate, auth_required=True)
        self.controller = Controller(
            _RecordingHandler(self), hostname="127.0.0.1", port=self.port,
            server_hostname="smtp.test", ssl_context=implicit_tls_context, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        if not ok:
            # handled=False: aiosmtpd answers "535 ... credentials invalid" itself.
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SilentServer:
    """Listens on 127.0.0.1 and never answers: connections sit in the backlog, so an SMTP
    client waits for a greeting that does not come."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


@dataclass
class TestCertificates:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""

    __test__ = False  # not a pytest test class, despite the name

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    @classmethod
    def create(cls, directory: Path) -> TestCertificates:
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tessera test CA")])
        ca = (x509.CertificateBuilder()
              .subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5))
              .not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(
                  digital_signature=True, key_cert_sign=True, crl_sign=True,
                  content_commitment=False, key_encipherment=False, data_encipherment=False,
                  key_agreement=False, encipher_only=False, decipher_only=False),
                  critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        paths = cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        paths.ca_file.write_bytes(ca.public_bytes(pem))
        paths.cert_file.write_bytes(cert.public_bytes(pem))
        paths.key_file.write_bytes(key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return paths
