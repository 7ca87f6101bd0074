"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from app.models.audit import AuditEvent
from app.models.base import Base, utcnow
from app.models.credentials import PasswordCredential
from app.models.customer import Customer, Identifier, LinkedAccount
from app.models.oauth import AuthorizationCode, Consent, IssuedToken, OAuthClient, SigningKey
from app.models.session import LoginSession, LoginThrottle, VerificationCode

__all__ = [
    "AuditEvent", "AuthorizationCode", "Base", "Consent", "IssuedToken", "SigningKey", "Customer", "Identifier", "LinkedAccount", "LoginSession",
    "LoginThrottle", "OAuthClient", "PasswordCredential", "VerificationCode", "utcnow",
]
