"""The floor of `make bench`: the least a client-credentials grant can do on Tessera's stack.

Served by bench/token_path.py exactly as Tessera is (gunicorn, 2 sync workers, the
entrypoint's flags) and driven with the same requests, it shows how fast Flask, SQLAlchemy
and gunicorn can answer a grant at all on this machine, so Tessera's figure can be read
against its own stack as well as against node-oidc-provider.

Per request it does only what no real grant can skip: parse HTTP Basic client
authentication and compare a keyed hash of the secret (constant time), read one version
row and INSERT one grant row in one transaction (on SQLite BEGIN IMMEDIATE, WAL,
synchronous=NORMAL; on PostgreSQL a pooled connection with pre-ping: as Tessera), sign one
ES256 JWT access token with joserfc, and answer JSON. No Authlib, no ORM, no hooks, no
audit; not an identity server, only a measuring stick.

Settings: FLOOR_DATABASE_URL (SQLAlchemy URL, sqlite:/// or postgresql+psycopg://),
FLOOR_CLIENT ("id:secret").
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time

from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, event, text

CLIENT_ID, _, _secret = os.environ["FLOOR_CLIENT"].partition(":")
HASH_KEY = secrets.token_bytes(32)
SECRET_HASH = hmac.new(HASH_KEY, _secret.encode(), hashlib.sha256).digest()
SIGNING_KEY = ECKey.generate_key("P-256")
HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "floor"}
SECONDS = 600

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
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Made by bench/token_path.py before gunicorn starts (two workers must not race to it).
SCHEMA = ("CREATE TABLE IF NOT EXISTS floor_registry (id INTEGER PRIMARY KEY, version TEXT)",
          "INSERT INTO floor_registry VALUES (1, 'v1') ON CONFLICT (id) DO NOTHING",
          "CREATE TABLE IF NOT EXISTS floor_grants (id {serial} PRIMARY KEY, jti TEXT UNIQUE, "
          "client_id TEXT, scope TEXT, issued_at BIGINT, expires_at BIGINT)")


def create_schema() -> None:
    with engine.begin() as setup:
        for statement in SCHEMA:
            setup.exec_driver_sql(statement.format(
                serial="INTEGER" if SQLITE else "BIGINT GENERATED ALWAYS AS IDENTITY"))

READ_VERSION = text("SELECT version FROM floor_registry WHERE id = 1")
INSERT_GRANT = text("INSERT INTO floor_grants (jti, client_id, scope, issued_at, expires_at) "
                    "VALUES (:jti, :client_id, :scope, :issued_at, :expires_at)")

app = Flask(__name__)


@app.post("/token")
def token():
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, secret = "", ""
    offered = hmac.new(HASH_KEY, secret.encode(), hashlib.sha256).digest()
    if scheme != "Basic" or client_id != CLIENT_ID or not hmac.compare_digest(offered, SECRET_HASH):
        return jsonify(error="invalid_client"), 401
    if request.form.get("grant_type") != "client_credentials":
        return jsonify(error="unsupported_grant_type"), 400
    now, jti = int(time.time()), secrets.token_urlsafe(24)
    scope = request.form.get("scope", "")
    with engine.begin() as connection:
        connection.execute(READ_VERSION).scalar()
        connection.execute(INSERT_GRANT, {"jti": jti, "client_id": client_id, "scope": scope,
                                          "issued_at": now, "expires_at": now + SECONDS})
    access_token = jwt.encode(HEADER, {"iss": request.host_url.rstrip("/"),
                                       "aud": "https://api.bench.example/", "iat": now,
                                       "exp": now + SECONDS, "jti": jti, "client_id": client_id,
                                       "scope": scope, "sub": client_id},
                              SIGNING_KEY, algorithms=["ES256"])
    response = jsonify(access_token=access_token, token_type="Bearer", expires_in=SECONDS,
                       scope=scope)
    response.headers["Cache-Control"] = "no-store"
    return response


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if __name__ == "__main__":
    create_schema()
