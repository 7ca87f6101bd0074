"""GET /admin/api/clients: each client's scopes, admin flag, resources and the audience it
serves as a resource server, never its secret (issue 12, item 13)."""
from __future__ import annotations

from app.extensions import db
from app.models import AuditEvent
from tests.admin.helpers import auth
from tests.oidc.helpers import make_client


def test_clients_show_their_admin_flag_resources_and_resource_server_audience(app, reader):
    api_id, api_secret = make_client(app, name="Orders API", grant_types=["client_credentials"],
                                     redirect_uris=[], scope="openid",
                                     resource_server_audience="https://orders.example/")
    rp_id, _ = make_client(app, name="Shop", resources=["https://orders.example/"],
                           logo_uri="https://shop.example/logo.png")
    response = app.test_client().get("/admin/api/clients", headers=auth(reader))
    assert response.status_code == 200, response.json
    clients = {c["client_id"]: c for c in response.json["items"]}
    assert clients[api_id]["resource_server_audience"] == "https://orders.example/"
    assert clients[rp_id]["resources"] == ["https://orders.example/"]
    assert clients[rp_id]["admin"] is False
    assert clients[rp_id]["logo_uri"] == "https://shop.example/logo.png"
    assert clients[rp_id]["policy_uri"] is None and clients[api_id]["logo_uri"] is None
    assert [c["admin"] for c in clients.values()].count(True) == 1  # the reader's own client
    assert api_secret not in response.get_data(as_text=True)
    assert "secret" not in " ".join(key for c in clients.values() for key in c)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "admin.clients_listed")) == 1
