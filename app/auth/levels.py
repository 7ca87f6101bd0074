"""Authentication levels (`acr`) and methods (`amr`, RFC 8176 values)."""

AMR_PASSWORD = "pwd"
AMR_SMS = "sms"
AMR_OTP = "otp"
AMR_MFA = "mfa"

#: One factor was used.
ACR_SINGLE_FACTOR = "urn:tessera:acr:1fa"
#: Two different factors were used.
ACR_MULTI_FACTOR = "urn:tessera:acr:2fa"
#: Below ACR_SINGLE_FACTOR: an SMS code alone while the phone lookup could not answer,
#: for a customer with no other factor (app/auth/flow.py). Never enough for a sensitive
#: change or an app that asks for a level.
ACR_PHONE_UNCHECKED = "urn:tessera:acr:1fa-unchecked"

#: A recovery code is recorded as "otp": it is a one-time password (NIST's look-up
#: secret), and RPs know only RFC 8176 values. The audit event says which it was.
