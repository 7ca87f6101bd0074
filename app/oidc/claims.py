"""Which claims a client gets about a customer, by scope.

`sub` is always the subject the client sees (customer ID or pairwise). `customer_id` is
given only when the client was granted the `customer_id` scope, which is how a client
"is allowed" the claim: pairwise clients that must not correlate simply are not given it.
"""
from __future__ import annotations

from app.directory.customers import display_name
from app.models import Customer, OAuthClient
from app.oidc.tokens import CUSTOMER_ID_SCOPE, subject_for

#: Scopes we understand, for discovery.
SCOPES_SUPPORTED = ("openid", "profile", "email", "phone", CUSTOMER_ID_SCOPE, "offline_access")
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
                    "sid", "at_hash", "azp", "name", "given_name", "middle_name", "family_name",
                    "nickname", "preferred_username", "locale", "zoneinfo", "email",
                    "email_verified", "phone_number", "phone_number_verified", CUSTOMER_ID_SCOPE)


def id_token_claims(client: OAuthClient, customer: Customer, scope: str) -> dict:
    """Claims about the customer that go in the ID token (the rest come from userinfo):
    with `profile`, the customer's `locale` too, so an app can speak the language the
    customer chose on our pages from the first response on."""
    result = {"sub": subject_for(client, customer)}
    scopes = scope.split()
    if CUSTOMER_ID_SCOPE in scopes:
        result[CUSTOMER_ID_SCOPE] = customer.customer_id
    if "profile" in scopes and customer.locale:
        result["locale"] = customer.locale
    return result


def userinfo_claims(client: OAuthClient, customer: Customer, scope: str) -> dict:
    """The userinfo response for a token with `scope`."""
    scopes = set(scope.split())
    result = id_token_claims(client, customer, scope)
    if "profile" in scopes:
        username = _first(customer, "username")
        result.update({"name": display_name(customer), "given_name": customer.given_name,
                       "middle_name": customer.middle_name,
                       "family_name": customer.family_name, "nickname": customer.nickname,
                       "preferred_username": username.value if username else None,
                       "locale": customer.locale, "zoneinfo": customer.zoneinfo})
    if "email" in scopes:
        email = _first(customer, "email")
        if email is not None:
            result.update(email=email.value, email_verified=email.verified_at is not None)
    if "phone" in scopes:
        phone = _first(customer, "phone")
        if phone is not None:
            result.update(phone_number=phone.value,
                          phone_number_verified=phone.verified_at is not None)
    return {k: v for k, v in result.items() if v is not None}


def _first(customer: Customer, kind: str):
    """The customer's verified identifier of `kind` if any, else the first one."""
    candidates = [i for i in customer.identifiers if i.kind == kind]
    verified = [i for i in candidates if i.verified_at is not None]
    return (verified or candidates or [None])[0]
