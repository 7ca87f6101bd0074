"""Passkeys (WebAuthn / FIDO2 public-key credentials): registration, the checks at login,
naming and removal. py_webauthn does the cryptography and the ceremony's checks; this
module decides what a mature relying party decides around them.

- The relying party is the issuer: its host is the RP ID and its origin the only origin
  accepted (`relying_party`). An issuer whose host cannot be an RP ID (an IP address, or
  plain http anywhere but localhost, which browsers do not treat as a secure context)
  turns passkeys off, and start-up says so (`unavailable_reason`).
- A challenge is random, stored as a keyed hash, bound to what asked for it (the browser's
  login flow, or the login session registering a passkey), lives CHALLENGE_SECONDS, and is
  spent by one conditional UPDATE before the response is verified: a replayed response,
  or two submitted at once, find it spent.
- `user.id` is a random handle (never the email, never the customer ID itself), the same
  for all of one customer's passkeys, and kept with each credential: a merge moves the
  credential and its handle to the survivor.
- Attestation is "none" unless PASSKEY_AAGUIDS lists the authenticator models a business
  accepts; then a verified attestation from one of them is required.
- The signature counter: a counter that does not move forward on a passkey bound to one
  device means a cloned authenticator, so it is refused and audited; synced passkeys keep
  no counter (0) or one per device, so for them it is only audited.
- User verification is preferred, never required: a passkey with it is two factors
  ("hwk"/"swk" + "user"), one without it is one factor.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import delete, select, update

from app.auth.levels import AMR_HARDWARE_KEY, AMR_SOFTWARE_KEY, AMR_USER_PRESENCE_VERIFIED
from app.directory.customers import bump_version
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, PasskeyChallenge, PasskeyCredential, utcnow
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash
from app.platform.messages import brand_name
from app.platform.notifications import notify_security_change_after_commit

# py_webauthn (about 7 MB with what it imports: cbor2, pyOpenSSL, asn1) is imported by the
# functions that run a ceremony, so a worker that only serves tokens never loads it.
if TYPE_CHECKING:
    from webauthn.helpers.structs import AttestationFormat, PublicKeyCredentialDescriptor

#: How long a challenge may be answered: the browser's own timeout (the options say the
#: same), plus time for the customer to pick a passkey from the autofill list.
CHALLENGE_SECONDS = 300
#: Purposes of a challenge.
REGISTER, AUTHENTICATE = "register", "authenticate"
NAME_MAX = 64
#: The most passkeys one customer may keep (each is a row read at every login).
MAX_PER_CUSTOMER = 20
#: The most characters of a browser's JSON answer read at all (a credential ID is at most
#: 1023 bytes; an attestation with a certificate chain a few kilobytes).
MAX_RESPONSE_CHARACTERS = 64 * 1024

#: What every failed passkey login says: the same for an unknown passkey, a wrong
#: signature, a locked account, or a passkey of someone else.
PASSKEY_FAILURE = _l("That passkey could not log you in. Try again, or use another way "
                     "to log in.")
#: What a failed registration says (an answer we cannot read or check).
REGISTRATION_FAILURE = _l("Your device's answer could not be checked. Try again, or use "
                          "another passkey.")
CHALLENGE_SPENT = _l("This passkey request expired or was already used. Try again.")


class PasskeyError(ValueError):
    """A passkey ceremony or change was refused; str() is safe to show."""

    def __init__(self, message) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (the issuer's host), the one origin accepted,
    and the name shown by the browser."""

    id: str
    origin: str


@dataclass(frozen=True)
class Proof:
    """A passkey that logged in: whose it is and the amr values it proves."""

    customer: Customer
    amr: tuple[str, ...]


# ---- the relying party ----------------------------------------------------------------------

def unavailable_reason(issuer: str) -> str | None:
    """Why passkeys cannot work for this issuer, or None when they can. WebAuthn needs a
    secure context (https, or http on localhost) and an RP ID that is a domain name."""
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (f"the issuer's host {host} is an IP address, and browsers refuse passkeys "
                "on one; serve it on a host name (for development: http://localhost)")
    if parts.scheme != "https" and host != "localhost" and not host.endswith(".localhost"):
        return (f"the issuer {issuer} is plain http on a host other than localhost, which "
                "browsers do not treat as a secure context; use https")
    if not host:
        return "the issuer has no host"
    return None


def relying_party() -> RelyingParty | None:
    """The relying party of this deployment, or None when passkeys are off. The RP ID is
    the issuer's host, or PASSKEY_RP_ID: a parent domain of it (start-up refuses any
    other), so passkeys keep working if the login pages move to another subdomain."""
    issuer = str(current_app.config["ISSUER"])
    if unavailable_reason(issuer) is not None:
        return None
    parts = urlsplit(issuer)
    rp_id = str(current_app.config.get("PASSKEY_RP_ID") or "").lower() or parts.hostname.lower()
    return RelyingParty(id=rp_id, origin=f"{parts.scheme}://{parts.netloc}")


def rp_id_problem(issuer: str, rp_id: str) -> str | None:
    """Why PASSKEY_RP_ID cannot serve the issuer's origin (WebAuthn: the RP ID must be the
    origin's host or a registrable parent domain of it), or None."""
    host = (urlsplit(issuer).hostname or "").lower()
    rp_id = rp_id.lower()
    if rp_id == host:
        return None
    if not host.endswith("." + rp_id):
        return (f"TESSERA_PASSKEY_RP_ID {rp_id} is neither the issuer's host {host} nor a "
                "parent domain of it, so browsers would refuse every passkey")
    if "." not in rp_id:
        return (f"TESSERA_PASSKEY_RP_ID {rp_id} is a top-level domain; browsers refuse a "
                "public suffix as an RP ID")
    return None


def available() -> bool:
    """Whether passkeys can be used on this deployment (pages show them only then)."""
    return relying_party() is not None


def _rp() -> RelyingParty:
    party = relying_party()
    if party is None:
        raise PasskeyError(_("Passkeys are not available on this server."))
    return party


def allowed_aaguids() -> frozenset[str]:
    """The authenticator models accepted (PASSKEY_AAGUIDS), or empty for any."""
    text = str(current_app.config.get("PASSKEY_AAGUIDS") or "")
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


def setting_problems(config: dict) -> list[str]:
    """Start-up checks of the passkey settings (app/config.py validate)."""
    problems = []
    rp_id = str(config.get("PASSKEY_RP_ID") or "")
    if rp_id and unavailable_reason(str(config["ISSUER"])) is None:
        problem = rp_id_problem(str(config["ISSUER"]), rp_id)
        if problem:
            problems.append(problem)
    for part in str(config.get("PASSKEY_AAGUIDS") or "").split(","):
        part = part.strip()
        if part and not _is_uuid(part):
            problems.append(f"TESSERA_PASSKEY_AAGUIDS: {part!r} is not an AAGUID (a UUID such "
                            "as ee882879-721c-4913-9775-3dfcce97072a)")
    roots = str(config.get("PASSKEY_ATTESTATION_ROOTS") or "")
    if roots and not Path(roots).is_file():
        problems.append(f"TESSERA_PASSKEY_ATTESTATION_ROOTS: {roots} is not a file of PEM "
                        "certificates")
    if roots and not str(config.get("PASSKEY_AAGUIDS") or "").strip():
        problems.append("TESSERA_PASSKEY_ATTESTATION_ROOTS is set without "
                        "TESSERA_PASSKEY_AAGUIDS: attestation is only asked for when "
                        "TESSERA_PASSKEY_AAGUIDS lists the accepted authenticators")
    return problems


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _attestation_roots() -> dict[AttestationFormat, list[bytes]] | None:
    from webauthn.helpers.structs import AttestationFormat

    path = str(current_app.config.get("PASSKEY_ATTESTATION_ROOTS") or "")
    if not path:
        return None
    text = Path(path).read_bytes()
    marker = b"-----END CERTIFICATE-----"
    certificates = [chunk.strip() + b"\n" + marker + b"\n"
                    for chunk in text.split(marker) if b"BEGIN CERTIFICATE" in chunk]
    return {fmt: certificates for fmt in AttestationFormat if fmt != AttestationFormat.NONE}


# ---- challenges -----------------------------------------------------------------------------

def _new_challenge(purpose: str, *, login_flow_pk: int | None = None,
                   login_session_pk: int | None = None, user_handle: str | None = None) -> bytes:
    """A fresh challenge bound to a flow or a session (the caller commits). Challenges of
    the same binding that were never answered are dropped: only the newest one stands."""
    challenge = secrets.token_bytes(32)
    now = utcnow()
    db.session.execute(delete(PasskeyChallenge).where(
        PasskeyChallenge.purpose == purpose,
        PasskeyChallenge.login_flow_pk.is_not_distinct_from(login_flow_pk),
        PasskeyChallenge.login_session_pk.is_not_distinct_from(login_session_pk),
        PasskeyChallenge.used_at.is_(None)).execution_options(synchronize_session=False))
    db.session.add(PasskeyChallenge(
        challenge_hash=_challenge_hash(challenge), purpose=purpose,
        login_flow_pk=login_flow_pk, login_session_pk=login_session_pk,
        user_handle=user_handle, created_at=now,
        expires_at=now + timedelta(seconds=CHALLENGE_SECONDS)))
    return challenge


def _challenge_hash(challenge: bytes) -> str:
    return keyed_hash("passkey-challenge", _b64url(challenge))


def _spend_challenge(response: dict, purpose: str, *, login_flow_pk: int | None = None,
                     login_session_pk: int | None = None,
                     failure=PASSKEY_FAILURE) -> tuple[bytes, str | None]:
    """The challenge the browser signed, spent once, and the user handle handed out with
    it (registration): it must be the live, unspent challenge of this flow or session.
    PasskeyError (CHALLENGE_SPENT) otherwise."""
    try:
        client_data = json.loads(_unb64url(response["response"]["clientDataJSON"]))
        challenge = _unb64url(client_data["challenge"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise PasskeyError(failure) from None
    row = db.session.scalar(select(PasskeyChallenge).where(
        PasskeyChallenge.challenge_hash == _challenge_hash(challenge)))
    bound = row is not None and (row.purpose, row.login_flow_pk, row.login_session_pk) == (
        purpose, login_flow_pk, login_session_pk)
    spent = bound and db.session.execute(
        update(PasskeyChallenge)
        .where(PasskeyChallenge.id == row.id, PasskeyChallenge.used_at.is_(None),
               PasskeyChallenge.expires_at > utcnow())
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount == 1
    if not spent:
        raise PasskeyError(CHALLENGE_SPENT)
    return challenge, row.user_handle


def _parse(response_json: str | None, failure=PASSKEY_FAILURE) -> dict:
    """The browser's PublicKeyCredential as JSON, read defensively; PasskeyError(failure)
    for anything else."""
    if not response_json or len(response_json) > MAX_RESPONSE_CHARACTERS:
        raise PasskeyError(failure)
    try:
        response = json.loads(response_json)
    except ValueError:
        raise PasskeyError(failure) from None
    if not isinstance(response, dict) or not isinstance(response.get("response"), dict) \
            or not isinstance(response.get("id"), str):
        raise PasskeyError(failure)
    return response


# ---- registration (a logged-in customer, recently re-authenticated) -------------------------

def passkeys_of(customer: Customer) -> list[PasskeyCredential]:
    """The customer's passkeys, oldest first."""
    return list(db.session.scalars(select(PasskeyCredential).where(
        PasskeyCredential.customer_pk == customer.id).order_by(PasskeyCredential.id)))


def has_passkey(customer: Customer) -> bool:
    """Whether the customer has at least one passkey."""
    return db.session.scalar(select(PasskeyCredential.id).where(
        PasskeyCredential.customer_pk == customer.id).limit(1)) is not None


def _user_handle(customer: Customer) -> str:
    """The customer's WebAuthn user.id: the handle of their passkeys so far, else new."""
    existing = db.session.scalar(select(PasskeyCredential.user_handle).where(
        PasskeyCredential.customer_pk == customer.id).order_by(PasskeyCredential.id).limit(1))
    return existing or _b64url(secrets.token_bytes(32))


def registration_options(customer: Customer, login_session_pk: int) -> str:
    """The options for navigator.credentials.create() as JSON, with a new challenge bound
    to the login session (the caller commits)."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (AttestationConveyancePreference,
                                          AuthenticatorSelectionCriteria,
                                          ResidentKeyRequirement, UserVerificationRequirement)

    rp = _rp()
    existing = passkeys_of(customer)
    if len(existing) >= MAX_PER_CUSTOMER:
        raise PasskeyError(_("You have %(count)d passkeys, the most an account may have. "
                             "Remove one you no longer use first.", count=len(existing)))
    handle = _user_handle(customer)
    challenge = _new_challenge(REGISTER, login_session_pk=login_session_pk, user_handle=handle)
    people_id = format_for_people(customer.customer_id)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=brand_name(), user_id=_unb64url(handle),
        user_name=people_id, user_display_name=_display_name(customer) or people_id,
        challenge=challenge, timeout=CHALLENGE_SECONDS * 1000,
        attestation=AttestationConveyancePreference.DIRECT if allowed_aaguids()
        else AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(credential) for credential in existing])
    return options_to_json(options)


def _display_name(customer: Customer) -> str:
    names = [customer.given_name or "", customer.family_name or ""]
    return " ".join(name for name in names if name)[:64]


def register(customer: Customer, login_session_pk: int, response_json: str | None,
             name: str | None, origin: Origin) -> PasskeyCredential:
    """Verify the browser's answer to registration_options and keep the passkey; audits
    "passkey.added" and notifies the customer once the caller commits. PasskeyError
    (nothing kept but the spent challenge, which the caller commits) otherwise."""
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import AttestationFormat, CredentialDeviceType

    rp = _rp()
    response = _parse(response_json, REGISTRATION_FAILURE)
    challenge, handle = _spend_challenge(response, REGISTER,
                                         login_session_pk=login_session_pk,
                                         failure=REGISTRATION_FAILURE)
    allow_list = allowed_aaguids()
    try:
        verified = verify_registration_response(
            credential=response, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=False,
            pem_root_certs_bytes_by_fmt=_attestation_roots())
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        record_event("passkey.refused", origin, customer.customer_id, step="register",
                     reason=str(error)[:200])
        raise PasskeyError(REGISTRATION_FAILURE) from None
    if allow_list and (verified.fmt == AttestationFormat.NONE
                       or verified.aaguid.lower() not in allow_list):
        record_event("passkey.refused", origin, customer.customer_id, step="register",
                     reason="aaguid_not_allowed", aaguid=verified.aaguid)
        raise PasskeyError(_("This kind of passkey is not accepted here. Use a security key "
                             "or device your organisation approved."))
    credential_id = _b64url(verified.credential_id)
    if db.session.scalar(select(PasskeyCredential.id).where(
            PasskeyCredential.credential_id == credential_id)) is not None:
        raise PasskeyError(_("This passkey is already registered."))
    synced = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    passkey = PasskeyCredential(
        customer_pk=customer.id, credential_id=credential_id,
        public_key=verified.credential_public_key,
        user_handle=handle or _user_handle(customer), sign_count=verified.sign_count,
        transports=_transports(response), aaguid=verified.aaguid,
        backup_eligible=synced, backed_up=verified.credential_backed_up,
        name=clean_name(name) or default_name(synced, origin))
    db.session.add(passkey)
    db.session.flush()
    bump_version(customer)
    record_event("passkey.added", origin, customer.customer_id, passkey_id=passkey.id,
                 name=passkey.name, aaguid=passkey.aaguid, synced=passkey.backup_eligible,
                 user_verified=verified.user_verified)
    notify_security_change_after_commit(customer, "passkey_added", passkey.name)
    return passkey


def default_name(synced: bool, origin: Origin) -> str:
    """A name for a passkey the customer did not name: what kind it is and the browser's
    platform, e.g. "Passkey on Android"; the customer can rename it."""
    agent = (origin.user_agent or "").lower()
    platform = next((label for marker, label in (
        ("iphone", "iPhone"), ("ipad", "iPad"), ("android", "Android"),
        ("mac os", "Mac"), ("windows", "Windows"), ("cros", "ChromeOS"), ("linux", "Linux"))
        if marker in agent), None)
    if not synced:
        return _("Security key") if platform is None else \
            _("Passkey on this %(device)s", device=platform)
    return _("Passkey") if platform is None else _("Passkey on %(device)s", device=platform)


def clean_name(name: str | None) -> str:
    """A passkey name as kept: one line, trimmed, at most NAME_MAX characters."""
    return " ".join((name or "").split())[:NAME_MAX]


def _known_transports() -> set[str]:
    from webauthn.helpers.structs import AuthenticatorTransport

    return {transport.value for transport in AuthenticatorTransport}


def _transports(response: dict) -> list[str]:
    known = _known_transports()
    transports = response["response"].get("transports") or []
    if not isinstance(transports, list):
        return []
    return [t for t in transports if isinstance(t, str) and t in known][:8]


def _descriptor(credential: PasskeyCredential) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import (AuthenticatorTransport,
                                          PublicKeyCredentialDescriptor)

    known = _known_transports()
    return PublicKeyCredentialDescriptor(
        id=_unb64url(credential.credential_id),
        transports=[AuthenticatorTransport(t) for t in credential.transports or []
                    if t in known] or None)


def find(customer: Customer, passkey_id: int) -> PasskeyCredential | None:
    """One of the customer's passkeys by its row id, or None."""
    credential = db.session.get(PasskeyCredential, passkey_id)
    return credential if credential is not None and credential.customer_pk == customer.id \
        else None


def rename(customer: Customer, passkey_id: int, name: str | None, origin: Origin) -> None:
    """Rename one of the customer's passkeys (the caller commits); PasskeyError if it is
    not theirs or the name is empty."""
    credential = find(customer, passkey_id)
    if credential is None:
        raise PasskeyError(_("That passkey is not on your account."))
    new_name = clean_name(name)
    if not new_name:
        raise PasskeyError(_("Give the passkey a name, such as the device it is on."))
    if new_name != credential.name:
        record_event("passkey.renamed", origin, customer.customer_id, passkey_id=credential.id,
                     name=new_name)
        credential.name = new_name
        bump_version(customer)


def remove(customer: Customer, passkey_id: int, origin: Origin) -> str:
    """Remove one of the customer's passkeys, audit "passkey.removed" and notify the
    customer once the caller commits; returns its name. PasskeyError if it is not theirs
    (already removed, or another customer's)."""
    credential = find(customer, passkey_id)
    if credential is None:
        raise PasskeyError(_("That passkey is not on your account."))
    name = credential.name
    removed = db.session.execute(delete(PasskeyCredential).where(
        PasskeyCredential.id == credential.id).execution_options(
        synchronize_session=False)).rowcount
    if removed != 1:
        raise PasskeyError(_("That passkey is not on your account."))
    db.session.expunge(credential)
    bump_version(customer)
    record_event("passkey.removed", origin, customer.customer_id, passkey_id=passkey_id,
                 name=name)
    notify_security_change_after_commit(customer, "passkey_removed", name)
    return name


def remove_all(customer: Customer) -> int:
    """Delete every passkey of the customer (support's MFA reset; the caller audits and
    commits); the number removed."""
    return db.session.execute(delete(PasskeyCredential).where(
        PasskeyCredential.customer_pk == customer.id).execution_options(
        synchronize_session=False)).rowcount


def move_all(source: Customer, target: Customer) -> int:
    """Move every passkey of `source` to `target` (a merge; the caller audits and
    commits). Each keeps its user handle: the authenticator still holds it."""
    return db.session.execute(update(PasskeyCredential).where(
        PasskeyCredential.customer_pk == source.id).values(customer_pk=target.id)
        .execution_options(synchronize_session=False)).rowcount


# ---- authentication (the login flow) --------------------------------------------------------

def authentication_options(login_flow_pk: int, customer: Customer | None = None) -> str:
    """The options for navigator.credentials.get() as JSON, with a new challenge bound to
    the login flow (the caller commits). With `customer` (a second factor, or a customer
    confirming it is them) only their passkeys are allowed; without, any discoverable
    passkey of this site (the button, and autofill)."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    rp = _rp()
    allow = [_descriptor(c) for c in passkeys_of(customer)] if customer is not None else []
    challenge = _new_challenge(AUTHENTICATE, login_flow_pk=login_flow_pk)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=allow, user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json(options)


def authenticate(login_flow_pk: int, response_json: str | None, origin: Origin, *,
                 customer_pk: int | None = None) -> Proof:
    """Check a passkey login: the flow's challenge, then the credential, its signature,
    its counter, and its customer (active, and `customer_pk` when the flow already knows
    who logs in: a second factor, or a logged-in customer confirming it is them).
    PasskeyError(PASSKEY_FAILURE) for every failure the public may not tell apart, after a
    "login.failed" audit event (the caller commits the spent challenge and the event;
    nothing else is written). Updates the
    counter and last use on success (the caller commits)."""
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    rp = _rp()
    response = _parse(response_json)
    challenge, _handle = _spend_challenge(response, AUTHENTICATE, login_flow_pk=login_flow_pk)
    credential = db.session.scalar(select(PasskeyCredential).where(
        PasskeyCredential.credential_id == _normalised_id(response)))
    if credential is None:
        record_event("login.failed", origin, None, factor="passkey",
                     reason="unknown_credential")
        raise PasskeyError(PASSKEY_FAILURE)
    customer = db.session.get(Customer, credential.customer_pk)
    user_handle = response["response"].get("userHandle")
    if user_handle and user_handle != credential.user_handle:
        raise _refused(customer, origin, "user_handle_mismatch")
    try:
        verified = verify_authentication_response(
            credential=response, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=credential.public_key,
            # The counter is checked below: a synced passkey's 0 is not a clone.
            credential_current_sign_count=0, require_user_verification=False)
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise _refused(customer, origin, "bad_assertion", detail=str(error)[:200])
    if customer.status != "active":
        raise _refused(customer, origin, "not_active")
    if customer_pk is not None and customer.id != customer_pk:
        raise _refused(customer, origin, "another_customer")
    if _counter_went_back(credential, verified.new_sign_count):
        record_event("passkey.sign_count_regressed", origin, customer.customer_id,
                     passkey_id=credential.id, stored=credential.sign_count,
                     reported=verified.new_sign_count, synced=credential.backup_eligible)
        if not credential.backup_eligible:
            # A device-bound key whose counter went back: another copy of it exists.
            raise _refused(customer, origin, "sign_count_regressed")
    credential.sign_count = max(credential.sign_count, verified.new_sign_count)
    credential.backed_up = verified.credential_backed_up
    credential.last_used_at = utcnow()
    key_amr = AMR_SOFTWARE_KEY if credential.backup_eligible else AMR_HARDWARE_KEY
    amr = (key_amr, AMR_USER_PRESENCE_VERIFIED) if verified.user_verified else (key_amr,)
    return Proof(customer, amr)


def _counter_went_back(credential: PasskeyCredential, reported: int) -> bool:
    """Whether the counter failed to move forward (both 0: an authenticator that keeps
    none, which is not a regression)."""
    return (reported > 0 or credential.sign_count > 0) and reported <= credential.sign_count


def _refused(customer: Customer, origin: Origin, reason: str, **details) -> PasskeyError:
    """The one public refusal of a passkey login, after auditing its real reason."""
    record_event("login.failed", origin, customer.customer_id, factor="passkey",
                 reason=reason, **details)
    return PasskeyError(PASSKEY_FAILURE)


def _normalised_id(response: dict) -> str:
    """The credential ID of a response in our stored form (base64url without padding)."""
    try:
        return _b64url(_unb64url(response.get("rawId") or response["id"]))
    except (ValueError, binascii.Error, TypeError):
        raise PasskeyError(PASSKEY_FAILURE) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
