"""private_key_jwt client authentication (RFC 7523 section 2.2, OpenID Connect Core 9).

A client registered with token_endpoint_auth_method "private_key_jwt" proves itself with a
JWT it signed with one of the keys in its registered JWK set (OAuthClient.jwks). We accept
an assertion only if:

- it is signed with RS256 or ES256 (never `none`, never an HMAC algorithm, whatever the
  header says), by a public RSA or EC key of the client's set (picked by `kid`, or the one
  key of the right type when there is no `kid`);
- iss == sub == the client_id, and the client is registered for private_key_jwt;
- aud is our token endpoint URL or our issuer, as a single value (a string, or a list of
  exactly one): a multi-valued aud is what lets an assertion meant for another server be
  replayed here, so it is refused;
- exp is present, not past (60 s leeway for clock skew), and at most five minutes ahead;
- jti is present and has not been seen before: a used jti is remembered until its
  assertion expires. The store is Redis when RATELIMIT_STORAGE_URI is redis:// (shared by
  every instance), else an in-process dictionary (correct only for a single process).

Every failure is invalid_client; the reason goes to the debug log, never the assertion.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.oidc.issuer import issuer

METHOD = "private_key_jwt"
#: Algorithms a client may sign its assertion with.
ASSERTION_ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
#: How far ahead an assertion's exp may be (plus the clock-skew leeway).
MAX_ASSERTION_SECONDS = 300
LEEWAY_SECONDS = 60
#: Bounds on what we parse and store; real assertions are far smaller.
MAX_ASSERTION_LENGTH = 8192
MAX_JTI_LENGTH = 256
MAX_CLIENT_KEYS = 10
_JTI_KEY_PREFIX = "tessera:client-assertion-jti:"


class PrivateKeyJWTAuth(JWTBearerClientAssertion):
    """Authlib's JWT client assertion, tightened to the rules in the module docstring."""

    CLIENT_AUTH_METHOD = METHOD

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_SECONDS)

    def __call__(self, query_client, request):
        assertion = request.form.get("client_assertion")
        if assertion and len(assertion) > MAX_ASSERTION_LENGTH:
            raise InvalidClientError(description="The client assertion is too long.")
        return super().__call__(query_client, request)

    def get_audiences(self):
        own_issuer = issuer()
        return [f"{own_issuer}/token", own_issuer]

    def resolve_client_public_key(self, client):
        model = client.model
        if model.token_endpoint_auth_method != METHOD:
            raise InvalidClientError(
                description=f"The client is not registered for {METHOD}.")
        keys = _public_keys(model.jwks)
        if not keys:
            raise InvalidClientError(description="The client has no usable public keys.")
        key_set = KeySet(keys)

        def pick(token):
            header = token.headers()
            alg = header.get("alg")
            if alg not in ASSERTION_ALGORITHMS:
                raise InvalidClientError(
                    description=f"The assertion must be signed with one of "
                                f"{', '.join(ASSERTION_ALGORITHMS)}.")
            candidates = [k for k in key_set.keys if k.key_type == _KEY_TYPES[alg]
                          and k.get("alg") in (None, alg) and k.get("use") in (None, "sig")]
            kid = header.get("kid")
            if kid is not None:
                candidates = [k for k in candidates if k.kid == kid]
            if len(candidates) != 1:
                raise InvalidClientError(
                    description="No single registered key matches the assertion's header.")
            return candidates[0]

        return pick

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except JoseError as error:
            raise InvalidClientError(description=error.description or error.error) from error
        except ValueError as error:  # joserfc's key resolution
            raise InvalidClientError(description="The assertion cannot be verified.") from error
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims):
        # Checks of our own come first, so a refused assertion never burns its jti.
        aud = claims.get("aud")
        if isinstance(aud, list):
            if len(aud) != 1:
                raise InvalidClientError(description="The assertion's aud must be one value.")
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) \
                and exp > time.time() + MAX_ASSERTION_SECONDS + self.leeway:
            raise InvalidClientError(
                description=f"The assertion may be valid for at most {MAX_ASSERTION_SECONDS} s.")
        jti = claims.get("jti")
        if isinstance(jti, str) and len(jti) > MAX_JTI_LENGTH:
            raise InvalidClientError(description="The assertion's jti is too long.")
        super().verify_claims(claims)

    def validate_jti(self, claims, jti):
        if not isinstance(jti, str) or not jti:
            return False
        return use_jti(claims["sub"], jti, int(claims["exp"]) + self.leeway)


def normalize_client_jwks(text: str) -> dict:
    """A client's JWK set to store, from its JSON text: only public RSA and EC keys with
    distinct kids, at most MAX_CLIENT_KEYS; anything else is a ValueError saying why. A
    private key pasted by mistake is refused, not silently stripped: the client must
    know that its secret has left its hands."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"The JWK set is not JSON: {error}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ValueError('A JWK set is a JSON object {"keys": [...]} with at least one key.')
    if len(data["keys"]) > MAX_CLIENT_KEYS:
        raise ValueError(f"A client may register at most {MAX_CLIENT_KEYS} keys.")
    kept, kids = [], set()
    for index, key in enumerate(data["keys"], start=1):
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ValueError(f"Key {index} is not an RSA or EC key.")
        if any(name in key for name in ("d", "p", "q", "dp", "dq", "qi")):
            raise ValueError(f"Key {index} contains a private part: register public keys only.")
        public = _public_keys({"keys": [key]})
        if not public:
            raise ValueError(f"Key {index} is not a valid public {key['kty']} key.")
        kid = key.get("kid")
        if len(data["keys"]) > 1 and (not isinstance(kid, str) or not kid or kid in kids):
            raise ValueError("With several keys, each needs its own kid.")
        kids.add(kid)
        kept.append(public[0].as_dict(private=False))
    return {"keys": kept}


def _public_keys(jwks) -> list:
    """The client's RSA and EC keys, public parts only; anything else is ignored."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        return []
    result = []
    for data in jwks["keys"]:
        if not isinstance(data, dict):
            continue
        kind = {"RSA": RSAKey, "EC": ECKey}.get(data.get("kty"))
        if kind is None:
            continue
        try:
            public_dict = dict(kind.import_key(data).as_dict(private=False))
            public_dict.update({name: data[name] for name in ("kid", "alg", "use")
                                if isinstance(data.get(name), str)})
            result.append(kind.import_key(public_dict))
        except (JoseError, ValueError, TypeError, KeyError):
            continue
    return result


# ---- the store of used jtis -----------------------------------------------------------------

class MemoryJtiStore:
    """Used jtis in this process, forgotten once their assertion has expired."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, until: int) -> bool:
        now = time.time()
        with self._lock:
            if len(self._used) > 1024:
                self._used = {k: t for k, t in self._used.items() if t > now}
            expires = self._used.get(key)
            if expires is not None and expires > now:
                return False
            self._used[key] = until
            return True


class RedisJtiStore:
    """Used jtis in Redis (SET NX with an expiry): one answer for every instance."""

    def __init__(self, url: str) -> None:
        import redis
        self._redis = redis.Redis.from_url(url)

    def add(self, key: str, until: int) -> bool:
        until = max(until, int(time.time()) + 1)
        return bool(self._redis.set(key, b"1", nx=True, exat=until))


_stores: dict[str, object] = {}
_stores_lock = threading.Lock()


def _store():
    uri = str(current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if uri.startswith(("redis://", "rediss://")):
        with _stores_lock:
            if uri not in _stores:
                _stores[uri] = RedisJtiStore(uri)
            return _stores[uri]
    if not uri.startswith("memory://"):
        current_app.logger.warning(
            "client assertion jtis are kept in process: %s storage is not supported for "
            "them, so a replay to another instance is not detected", uri.split(":", 1)[0])
    # Per app, so test apps (and app factories in one process) never share used jtis.
    return current_app.extensions.setdefault("tessera_client_assertion_jtis", MemoryJtiStore())


def use_jti(client_id: str, jti: str, until: int) -> bool:
    """Record that `client_id` used `jti`; False if it already had (a replay)."""
    digest = hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()
    return _store().add(_JTI_KEY_PREFIX + digest, until)


def register(server) -> None:
    """Accept private_key_jwt at the token endpoint."""
    server.register_client_auth_method(METHOD, PrivateKeyJWTAuth())
