"""Admin API: the registered OAuth clients, read only (scope admin:read), with what
customers see of each app (logo_uri, client_uri, policy_uri, tos_uri).

Support and security staff need to see who may hold which scopes and audiences: whether a
client is an admin client, the resources it may ask tokens for, and the audience it serves
as a resource server (which decides whose tokens it may introspect). Clients are
registered and changed with `flask clients`; never their secrets here."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.admin.auth import admin_required
from app.admin.requests import audit
from app.extensions import db
from app.oidc.clients import client_settings, list_clients

bp = Blueprint("clients", __name__)  # nested in admin_api: app/admin/blueprint.py


@bp.get("/clients")
@admin_required("admin:read")
def list_registered_clients():
    """Every registered client's settings, oldest first."""
    audit("clients_listed", None)
    db.session.commit()
    return jsonify({"items": [client_settings(client) for client in list_clients()]})
