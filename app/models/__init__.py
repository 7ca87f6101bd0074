"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from app.models.audit import AuditEvent
from app.models.base import Base, utcnow
from app.models.credentials import (PasskeyChallenge, PasskeyCredential, PasswordCredential,
                                    RecoveryCode, TotpCredential)
from app.models.customer import CommunicationConsent, Customer, Identifier, LinkedAccount
from app.models.oauth import (AuthorizationCode, Consent, IssuedToken, OAuthClient,
                              RegistryVersion, SigningKey)
from app.models.phone import KnownDevice, PhoneBinding, PhoneEvent, PhoneLookup
from app.models.session import (LoginFlow, LoginSession, LoginThrottle, RateEvent, RateLock,
                                RecoveryLink, VerificationCode)

__all__ = [
    "AuditEvent", "AuthorizationCode", "Base", "CommunicationConsent", "Consent", "Customer",
    "Identifier", "IssuedToken", "LinkedAccount", "LoginFlow", "LoginSession", "LoginThrottle",
    "KnownDevice", "OAuthClient", "PasskeyChallenge", "PasskeyCredential",
    "PasswordCredential", "PhoneBinding", "PhoneEvent",
    "PhoneLookup", "RateEvent", "RateLock", "RecoveryCode", "RecoveryLink", "RegistryVersion",
    "SigningKey", "TotpCredential", "VerificationCode", "utcnow",
]
