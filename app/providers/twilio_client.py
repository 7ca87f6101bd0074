"""The twilio SDK client that every Twilio provider uses (SMS, Verify, Lookup), and the
reading of its errors.

TWILIO_BASE_URL (tests only; refused in production by app.config) sends every call the
SDK makes to one base URL, such as a fake Twilio on 127.0.0.1, keeping the path and
naming the original host in an X-Original-Host header.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with two changes.

    - With a base URL, each request goes to it instead of the Twilio host the SDK chose,
      keeping the path and query; the original host travels in X-Original-Host so a fake
      server can tell api.twilio.com from verify.twilio.com. The environment's proxy
      settings are ignored then: the base URL is a local fake.
    - The connection is closed after each request. A sender lives for one call (the
      factories make a new one each time), so pooled connections would only linger
      until garbage collection.
    """

    def __init__(self, *, timeout: float, base_url: str = "") -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.base_url:
            self.session.trust_env = False

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        if self.base_url:
            parts = urlsplit(url)
            headers = dict(headers or {})
            headers["X-Original-Host"] = parts.netloc
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            return super().request(method, url, params=params, data=data, headers=headers,
                                   auth=auth, timeout=timeout,
                                   allow_redirects=allow_redirects)
        finally:
            self.session.close()


def twilio_client(config: Mapping) -> Client:
    """A twilio SDK client from the TWILIO_* settings. An API key (SID and secret) is used
    when both are set, as Twilio recommends for servers; otherwise the auth token."""
    http_client = RedirectingHttpClient(timeout=float(config["TWILIO_TIMEOUT_SECONDS"]),
                                        base_url=str(config["TWILIO_BASE_URL"] or ""))
    account_sid = config["TWILIO_ACCOUNT_SID"]
    if config["TWILIO_API_KEY_SID"] and config["TWILIO_API_KEY_SECRET"]:
        return Client(config["TWILIO_API_KEY_SID"], config["TWILIO_API_KEY_SECRET"],
                      account_sid, http_client=http_client)
    return Client(account_sid, config["TWILIO_AUTH_TOKEN"], http_client=http_client)


def status_and_code(error: TwilioRestException | TwilioServiceException
                    ) -> tuple[int, int | None]:
    """The HTTP status (0 when the SDK has none) and Twilio error code of an SDK error."""
    status = int(error.status or 0)
    try:
        code = int(error.code) if error.code is not None else None
    except (TypeError, ValueError):
        code = None
    return status, code
