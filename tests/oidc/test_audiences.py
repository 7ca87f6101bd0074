"""Access tokens name who they are for (issue 12, item 20): RFC 8707 resources, the
client's default audience, userinfo and the admin API accept only tokens for them."""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import requests

from app.extensions import db
from app.models import Customer
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.admin.helpers import admin_token
from tests.oidc.helpers import Provider, auth_params, authorize, get_code, make_client, pkce, redeem

ORDERS = "https://orders.example/api"
BILLING = "https://billing.example/api"


def aud_of(access_token: str) -> list[str]:
    """The token's `aud` as a list (read without verifying: the server verifies)."""
    payload = access_token.split(".")[1]
    aud = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"]
    return aud if isinstance(aud, list) else [aud]


def userinfo_status(op: Provider, access_token: str) -> int:
    return requests.get(f"{op.base}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def register_resources(op: Provider, *resources: str) -> None:
    with op.app.app_context():
        get_client(op.client_id).resources = list(resources)
        db.session.commit()


def test_code_flow_tokens_name_the_default_or_requested_resource_and_userinfo(op):
    register_resources(op, ORDERS, BILLING)
    default = redeem(op, *get_code(op)).json()
    assert set(aud_of(default["access_token"])) == {ORDERS, op.base}
    assert userinfo_status(op, default["access_token"]) == 200
    chosen = redeem(op, *get_code(op, resource=BILLING)).json()
    assert set(aud_of(chosen["access_token"])) == {BILLING, op.base}
    # A refresh keeps or narrows the grant's resources; it never adds one.
    refused = requests.post(f"{op.base}/token", auth=(op.client_id, op.secret), timeout=10,
                            data={"grant_type": "refresh_token", "resource": ORDERS,
                                  "refresh_token": chosen["refresh_token"]})
    assert refused.json()["error"] == "invalid_target"
    narrowed = requests.post(f"{op.base}/token", auth=(op.client_id, op.secret), timeout=10,
                             data={"grant_type": "refresh_token", "resource": BILLING,
                                   "refresh_token": chosen["refresh_token"]})
    assert set(aud_of(narrowed.json()["access_token"])) == {BILLING, op.base}


def test_a_resource_the_client_is_not_registered_for_is_invalid_target(op):
    register_resources(op, ORDERS)
    verifier, challenge = pkce()
    response = authorize(op, auth_params(op.client_id, challenge, resource=BILLING))
    assert response.status_code in (302, 303)
    answer = parse_qs(urlsplit(response.headers["Location"]).query)
    assert answer["error"] == ["invalid_target"]
    assert "code" not in answer
    service_id, secret = make_client(op.app, grant_types=["client_credentials"],
                                     scope="openid", resources=[ORDERS])
    refused = requests.post(f"{op.base}/token", auth=(service_id, secret), timeout=10,
                            data={"grant_type": "client_credentials", "resource": BILLING})
    assert refused.json()["error"] == "invalid_target"
    granted = requests.post(f"{op.base}/token", auth=(service_id, secret), timeout=10,
                            data={"grant_type": "client_credentials", "resource": ORDERS})
    assert aud_of(granted.json()["access_token"]) == [ORDERS]


def test_userinfo_and_the_admin_api_refuse_tokens_for_other_audiences(op):
    """The attack: a token exchanged for another service was accepted at /userinfo."""
    with op.app.app_context():
        customer = db.session.execute(db.select(Customer)).scalars().first()
        exchanged = tokens.issue(get_client(op.client_id),
                                 "urn:ietf:params:oauth:grant-type:token-exchange", "openid",
                                 customer=customer, include_refresh_token=False,
                                 audience=[ORDERS], actor={"sub": op.client_id})
        db.session.commit()
    assert userinfo_status(op, exchanged["access_token"]) == 401
    admin = admin_token(op.app, "admin:read")
    assert aud_of(admin) == [f"{op.base}/admin/api"]
    assert userinfo_status(op, admin) == 401
    customer_token = redeem(op, *get_code(op)).json()["access_token"]
    response = requests.get(f"{op.base}/admin/api/customers", timeout=10,
                            headers={"Authorization": f"Bearer {customer_token}"})
    assert response.status_code == 403  # not an admin client's token at all
    assert requests.get(f"{op.base}/admin/api/customers", timeout=10,
                        headers={"Authorization": f"Bearer {admin}"}).status_code == 200
