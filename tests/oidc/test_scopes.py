"""Every grant issues only scopes within the client's registration (and, for refresh and
exchange, within the original grant); the admin API's scopes go to admin clients only
(issue 12, item 19: a client registered for `openid` minted itself admin scopes)."""
from __future__ import annotations

import pytest
import requests

from app.extensions import db
from app.oidc import tokens
from app.oidc.clients import ClientError, create_client, get_client
from tests.admin.helpers import ALL_SCOPES
from tests.factories import TEST_ORIGIN
from tests.oidc.helpers import Provider, get_code, make_client, redeem


def client_credentials(op: Provider, client_id: str, secret: str,
                       scope: str | None) -> requests.Response:
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    return requests.post(f"{op.base}/token", data=data, auth=(client_id, secret), timeout=10)


def admin_api(op: Provider, token: str) -> int:
    return requests.get(f"{op.base}/admin/api/customers", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def test_client_credentials_refuses_scopes_the_client_was_not_given(op):
    service_id, service_secret = make_client(op.app, grant_types=["client_credentials"],
                                             scope="openid")
    admin_id, admin_secret = make_client(op.app, scope="admin:read", admin=True)
    # The attack of item 19, and its cousins: every scope beyond the registration.
    for client_id, secret, scope in [
            (service_id, service_secret, ALL_SCOPES),
            (service_id, service_secret, "openid admin:read"),
            (service_id, service_secret, "openid profile"),
            (admin_id, admin_secret, "admin:read admin:gdpr")]:
        response = client_credentials(op, client_id, secret, scope)
        assert response.status_code == 400, (scope, response.text)
        assert response.json()["error"] == "invalid_scope"
        assert "access_token" not in response.json()
    granted = client_credentials(op, service_id, service_secret, "openid").json()
    assert granted["scope"] == "openid"
    assert admin_api(op, granted["access_token"]) == 403
    admin = client_credentials(op, admin_id, admin_secret, "admin:read").json()
    assert admin_api(op, admin["access_token"]) == 200


def test_the_code_flow_drops_scopes_the_client_was_not_given(op):
    code, verifier = get_code(op, scope="openid admin:read admin:gdpr customer_id email")
    body = redeem(op, code, verifier).json()
    assert body["scope"] == "openid email"
    assert admin_api(op, body["access_token"]) == 403


def test_refresh_stays_within_the_grant_and_the_registration(op):
    body = redeem(op, *get_code(op, scope="openid email offline_access")).json()
    widened = requests.post(f"{op.base}/token", timeout=10, auth=(op.client_id, op.secret),
                            data={"grant_type": "refresh_token", "scope": "openid admin:read",
                                  "refresh_token": body["refresh_token"]})
    assert widened.json()["error"] == "invalid_scope"
    with op.app.app_context():  # the operator narrows the registration
        get_client(op.client_id).scope = "openid offline_access"
        db.session.commit()
    narrowed = requests.post(f"{op.base}/token", timeout=10, auth=(op.client_id, op.secret),
                             data={"grant_type": "refresh_token",
                                   "refresh_token": body["refresh_token"]})
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "openid offline_access"


def test_a_demoted_admin_clients_token_stops_working_at_the_admin_api(op):
    admin_id, admin_secret = make_client(op.app, scope="admin:read", admin=True)
    token = client_credentials(op, admin_id, admin_secret, "admin:read").json()["access_token"]
    assert admin_api(op, token) == 200
    with op.app.app_context():
        get_client(admin_id).is_admin = False
        db.session.commit()
    assert admin_api(op, token) == 403


def test_tokens_never_carry_more_than_the_client_may_have(app_context):
    """The last line of defence in tokens.issue, whatever a grant computed."""
    client, _ = create_client("Service", [], grant_types=["client_credentials"],
                              scope="openid", origin=TEST_ORIGIN)
    db.session.flush()
    body = tokens.issue(client, "client_credentials", "openid admin:read",
                        customer=None, include_refresh_token=False)
    assert body["scope"] == "openid"
    client.scope = "openid admin:read"  # a row no service would write
    body = tokens.issue(client, "client_credentials", "openid admin:read",
                        customer=None, include_refresh_token=False)
    assert body["scope"] == "openid"


@pytest.mark.parametrize("options, message", [
    ({"grant_types": ["client_credentials"], "scope": "openid admin:read"}, "--admin"),
    ({"scope": "admin:gdpr"}, "--admin"),
    ({"admin": True, "grant_types": ["client_credentials", "refresh_token"]},
     "client_credentials grant only"),
    ({"admin": True, "public": True}, "client_credentials"),
    ({"admin": True, "scope": "admin:read openid"}, "admin scopes only"),
    ({"admin": True, "scope": "admin:everything"}, "admin scopes only"),
])
def test_admin_scopes_are_registered_only_on_admin_clients(app_context, options, message):
    with pytest.raises(ClientError, match=message):
        create_client("Support desk", ["https://app.example/cb"], origin=TEST_ORIGIN,
                      **options)


def test_cli_registers_admin_clients_and_keeps_admin_scopes_off_others(app, runner):
    refused = runner.invoke(args=["clients", "create", "--name", "Sneaky", "--grant-type",
                                  "client_credentials", "--scope", "openid admin:read"])
    assert refused.exit_code != 0 and "--admin" in refused.output
    made = runner.invoke(args=["clients", "create", "--name", "Support desk", "--admin",
                               "--scope", ALL_SCOPES, "--json"])
    assert made.exit_code == 0, made.output
    service = runner.invoke(args=["clients", "create", "--name", "Service", "--grant-type",
                                  "client_credentials", "--scope", "openid", "--json"])
    import json
    service_id = json.loads(service.output)["client_id"]
    assert json.loads(made.output)["admin"] is True
    widened = runner.invoke(args=["clients", "update", service_id, "--scope",
                                  "openid admin:read"])
    assert widened.exit_code != 0 and "--admin" in widened.output
