"""Authentication levels (`acr`) and methods (`amr`, RFC 8176 values)."""

AMR_PASSWORD = "pwd"
AMR_SMS = "sms"
AMR_OTP = "otp"
AMR_MFA = "mfa"
#: A passkey bound to one device (RFC 8176 "hwk": proof of a hardware-secured key).
AMR_HARDWARE_KEY = "hwk"
#: A synced passkey (backup eligible: the key can leave the device, RFC 8176 "swk").
AMR_SOFTWARE_KEY = "swk"
#: The authenticator verified the person (PIN or biometrics) before it signed: RFC 8176
#: "user". With a passkey it is the second factor inside one gesture.
AMR_USER_PRESENCE_VERIFIED = "user"
#: The amr values a passkey itself proves (the factor, not its user verification).
PASSKEY_AMR = (AMR_HARDWARE_KEY, AMR_SOFTWARE_KEY)

#: One factor was used.
ACR_SINGLE_FACTOR = "urn:tessera:acr:1fa"
#: Two different factors were used.
ACR_MULTI_FACTOR = "urn:tessera:acr:2fa"
#: Two factors, one of them a passkey: the login cannot have been phished, because the
#: browser binds the passkey's signature to this server's origin. Above ACR_MULTI_FACTOR.
ACR_PHISHING_RESISTANT = "urn:tessera:acr:phr"
#: Below ACR_SINGLE_FACTOR: an SMS code alone while the phone lookup could not answer,
#: for a customer with no other factor (app/auth/flow.py). Never enough for a sensitive
#: change or an app that asks for a level.
ACR_PHONE_UNCHECKED = "urn:tessera:acr:1fa-unchecked"

#: The levels from the weakest up: a login at one level satisfies every level before it.
_ORDER = (ACR_PHONE_UNCHECKED, ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT)


def meets(acr: str | None, wanted: str) -> bool:
    """Whether a login at `acr` satisfies `wanted` (an unknown acr satisfies nothing)."""
    if acr not in _ORDER:
        return False
    return _ORDER.index(acr) >= _ORDER.index(wanted)


def levels_of(factors: list[str]) -> tuple[list[str], str]:
    """(amr, acr) for the factors proved, in the order they were: "mfa" and the
    multi-factor level for two different ones (a passkey's user verification counts as
    one), the phishing-resistant level when one of the two was a passkey."""
    amr = list(dict.fromkeys(factors))
    if len(amr) < 2:
        return amr, ACR_SINGLE_FACTOR
    passkey = any(method in PASSKEY_AMR for method in amr)
    return amr + [AMR_MFA], ACR_PHISHING_RESISTANT if passkey else ACR_MULTI_FACTOR

#: A recovery code is recorded as "otp": it is a one-time password (NIST's look-up
#: secret), and RPs know only RFC 8176 values. The audit event says which it was.
