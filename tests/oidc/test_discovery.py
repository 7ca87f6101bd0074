"""Discovery and the key set: the exact fields the OpenID Basic OP plan checks."""
from __future__ import annotations

import pytest
import requests
from joserfc.jwk import KeySet

from app.oidc import keys


@pytest.fixture
def base(app, live_server) -> str:
    app.config["ISSUER"] = live_server
    return live_server


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration",
                                  "/.well-known/oauth-authorization-server"])
def test_discovery_fields_exact(base, path):
    response = requests.get(base + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    meta = response.json()
    assert meta["issuer"] == base  # exactly, no trailing slash
    for name, suffix in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                         ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks.json")]:
        assert meta[name] == base + suffix
    for name, value in meta.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            assert value.startswith(base + "/"), (name, value)
    assert meta["response_types_supported"] == ["code"]
    assert meta["response_modes_supported"] == ["query"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["subject_types_supported"] == ["public", "pairwise"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert not {"none", "HS256"} & set(meta["id_token_signing_alg_values_supported"])
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert not {"implicit", "password"} & set(meta["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(
        meta["token_endpoint_auth_methods_supported"])
    assert "openid" in meta["scopes_supported"]
    assert {"sub", "iss", "auth_time"} <= set(meta["claims_supported"])
    assert set(meta["prompt_values_supported"]) == {"none", "login", "consent"}


def test_discovery_follows_the_configured_issuer(app, client):
    app.config["ISSUER"] = "https://id.example.com/tenant"
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "https://id.example.com/tenant"
    assert meta["token_endpoint"] == "https://id.example.com/tenant/token"


def test_every_id_token_algorithm_has_a_published_key(base):
    meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    published = {k["alg"] for k in requests.get(meta["jwks_uri"], timeout=10).json()["keys"]}
    assert set(meta["id_token_signing_alg_values_supported"]) <= published


def test_jwks_has_public_parts_only(base):
    response = requests.get(f"{base}/jwks.json", timeout=10)
    assert response.status_code == 200
    key_set = response.json()
    assert key_set["keys"]
    private_members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    for key in key_set["keys"]:
        assert not private_members & set(key), key
        assert key["use"] == "sig" and key["kid"] and key["alg"] in keys.SIGNING_ALGORITHMS
    kids = [k["kid"] for k in key_set["keys"]]
    assert len(kids) == len(set(kids))
    KeySet.import_key_set(key_set)  # well-formed
