"""The Twilio account the provider tests configure (any well-formed values: the tests
assert that Tessera's requests to the fake Twilio carry them)."""
from __future__ import annotations

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+15005550006"
MESSAGING_SERVICE_SID = "MG" + "1" * 32
VERIFY_SERVICE_SID = "VA" + "2" * 32
