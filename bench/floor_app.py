"""The floor of `make bench`: the least a grant, an introspection and a password login can
do on Tessera's stack.

Served by bench/token_path.py exactly as Tessera is (gunicorn, 2 sync workers, the
entrypoint's flags) and driven with the same requests, it shows how fast Flask, SQLAlchemy
and gunicorn can answer at all on this machine, so Tessera's figures can be read against
their own stack as well as against node-oidc-provider and the argon2id ceiling.

- POST /token (client credentials): parse HTTP Basic client authentication and compare a
  keyed hash of the secret (constant time), read one version row and INSERT one grant row
  in one transaction (on SQLite BEGIN IMMEDIATE, WAL, synchronous=NORMAL; on PostgreSQL a
  pooled connection with pre-ping: as Tessera), sign one ES256 JWT access token with
  joserfc, answer JSON.
- POST /introspect: the same client authentication, verify the token's ES256 signature
  and expiry, read its grant row (a plain read: on SQLite no write lock), answer JSON.
- GET and POST /login: a Flask-WTF CSRF token in Flask's signed cookie session and in a
  form; the POST checks it, reads one password hash by email, verifies it with argon2id
  at Tessera's cost, puts the customer in the cookie session and answers 303.

No Authlib, no ORM, no hooks, no throttle, no server-side session, no audit: not an
identity server, only a measuring stick.

Settings: FLOOR_DATABASE_URL (SQLAlchemy URL, sqlite:/// or postgresql+psycopg://),
FLOOR_CLIENT ("id:secret"), FLOOR_LOGINS ("password:email,email,..."),
FLOOR_ARGON2 ("memory KiB,time cost,parallelism").
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, abort, jsonify, redirect, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, event, text
from wtforms import ValidationError

CLIENT_ID, _, _secret = os.environ["FLOOR_CLIENT"].partition(":")
HASH_KEY = secrets.token_bytes(32)
SECRET_HASH = hmac.new(HASH_KEY, _secret.encode(), hashlib.sha256).digest()
# Both workers must hold the same keys: a token or a form one makes, the other may check.
_SEED = hashlib.sha256(os.environ["FLOOR_CLIENT"].encode()).digest()
SIGNING_KEY = ECKey.import_key(ec.derive_private_key(
    int.from_bytes(_SEED, "big"), ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "floor"}
AUDIENCE = "https://api.bench.example/"
SECONDS = 600
LOGIN_PASSWORD, _, _emails = os.environ["FLOOR_LOGINS"].partition(":")
LOGIN_EMAILS = _emails.split(",")
_memory, _time, _parallelism = (int(n) for n in os.environ["FLOOR_ARGON2"].split(","))
HASHER = PasswordHasher(time_cost=_time, memory_cost=_memory, parallelism=_parallelism,
                        type=Type.ID)

URL = os.environ["FLOOR_DATABASE_URL"]
SQLITE = URL.startswith("sqlite")
engine = create_engine(URL, pool_pre_ping=not SQLITE)

if SQLITE:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, record) -> None:
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        reading = connection.get_execution_options().get("reading")
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


# Made by bench/token_path.py before gunicorn starts (two workers must not race to it).
SCHEMA = ("CREATE TABLE IF NOT EXISTS floor_registry (id INTEGER PRIMARY KEY, version TEXT)",
          "INSERT INTO floor_registry VALUES (1, 'v1') ON CONFLICT (id) DO NOTHING",
          "CREATE TABLE IF NOT EXISTS floor_grants (id {serial} PRIMARY KEY, jti TEXT UNIQUE, "
          "client_id TEXT, scope TEXT, issued_at BIGINT, expires_at BIGINT, revoked_at BIGINT)",
          "CREATE TABLE IF NOT EXISTS floor_passwords (email TEXT PRIMARY KEY, "
          "password_hash TEXT)")


def create_schema() -> None:
    with engine.begin() as setup:
        for statement in SCHEMA:
            setup.exec_driver_sql(statement.format(
                serial="INTEGER" if SQLITE else "BIGINT GENERATED ALWAYS AS IDENTITY"))
        setup.execute(text("DELETE FROM floor_passwords"))
        setup.execute(text("INSERT INTO floor_passwords VALUES (:email, :password_hash)"),
                      [{"email": email, "password_hash": HASHER.hash(LOGIN_PASSWORD)}
                       for email in LOGIN_EMAILS])


READ_VERSION = text("SELECT version FROM floor_registry WHERE id = 1")
INSERT_GRANT = text("INSERT INTO floor_grants (jti, client_id, scope, issued_at, expires_at) "
                    "VALUES (:jti, :client_id, :scope, :issued_at, :expires_at)")
READ_GRANT = text("SELECT expires_at, revoked_at FROM floor_grants WHERE jti = :jti")
READ_PASSWORD = text("SELECT password_hash FROM floor_passwords WHERE email = :email")

app = Flask(__name__)
app.config.update(SECRET_KEY=_SEED.hex(), SESSION_COOKIE_HTTPONLY=True,
                  SESSION_COOKIE_SAMESITE="Lax")


def _read(statement, parameters: dict):
    """One row by a plain read transaction (on SQLite: no write lock)."""
    with engine.connect().execution_options(reading=True) as connection:
        row = connection.execute(statement, parameters).first()
        connection.rollback()
    return row


def _client_authenticated() -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, secret = "", ""
    offered = hmac.new(HASH_KEY, secret.encode(), hashlib.sha256).digest()
    return (scheme == "Basic" and client_id == CLIENT_ID
            and hmac.compare_digest(offered, SECRET_HASH))


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@app.post("/token")
def token():
    if not _client_authenticated():
        return jsonify(error="invalid_client"), 401
    if request.form.get("grant_type") != "client_credentials":
        return jsonify(error="unsupported_grant_type"), 400
    now, jti = int(time.time()), secrets.token_urlsafe(24)
    scope = request.form.get("scope", "")
    with engine.begin() as connection:
        connection.execute(READ_VERSION).scalar()
        connection.execute(INSERT_GRANT, {"jti": jti, "client_id": CLIENT_ID, "scope": scope,
                                          "issued_at": now, "expires_at": now + SECONDS})
    access_token = jwt.encode(HEADER, {"iss": request.host_url.rstrip("/"), "aud": AUDIENCE,
                                       "iat": now, "exp": now + SECONDS, "jti": jti,
                                       "client_id": CLIENT_ID, "scope": scope,
                                       "sub": CLIENT_ID},
                              SIGNING_KEY, algorithms=["ES256"])
    return _no_store(jsonify(access_token=access_token, token_type="Bearer",
                             expires_in=SECONDS, scope=scope))


@app.post("/introspect")
def introspect():
    if not _client_authenticated():
        return jsonify(error="invalid_client"), 401
    try:
        claims = jwt.decode(request.form.get("token", ""), SIGNING_KEY,
                            algorithms=["ES256"]).claims
    except (JoseError, ValueError):
        return _no_store(jsonify(active=False))
    row = _read(READ_GRANT, {"jti": claims.get("jti", "")})
    now = int(time.time())
    if row is None or row.revoked_at is not None or min(row.expires_at, claims["exp"]) <= now:
        return _no_store(jsonify(active=False))
    return _no_store(jsonify(active=True, token_type="Bearer", **{
        name: claims[name] for name in ("iss", "aud", "iat", "exp", "jti", "client_id",
                                        "scope", "sub")}))


@app.get("/login")
def login_form():
    return (f'<form method="post"><input type="hidden" name="csrf_token" '
            f'value="{generate_csrf()}"><input name="identifier"><input name="password" '
            f'type="password"></form>')


@app.post("/login")
def login():
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    row = _read(READ_PASSWORD, {"email": request.form.get("identifier", "")})
    try:
        HASHER.verify(row.password_hash if row else "", request.form.get("password", ""))
    except (VerificationError, ValueError):
        abort(401)
    session["customer"] = request.form["identifier"]
    return redirect("/", 303)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if __name__ == "__main__":
    create_schema()
