"""A minimal relying party, as an app developer would write one with Authlib's Flask client.

It is a public client (no secret) using the code flow with PKCE S256, validates the ID
token against Tessera's /jwks.json (Authlib does this from the discovery document), shows
the claims, and logs out through Tessera's end_session_endpoint.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, session, url_for


def create_relying_party(name: str, port: int, client_id: str, issuer: str) -> Flask:
    """A small Flask app that logs its users in through Tessera."""
    app = Flask(__name__, template_folder="templates")
    app.config.update(SECRET_KEY=secrets.token_hex(32), SESSION_COOKIE_NAME=f"demo_{port}")
    oauth = OAuth(app)
    oauth.register(
        "tessera", client_id=client_id,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email customer_id",
                       "code_challenge_method": "S256", "token_endpoint_auth_method": "none"},
    )
    base = f"http://127.0.0.1:{port}"

    @app.get("/")
    def home():
        return render_template("demo.html", name=name, user=session.get("user"),
                               issuer=issuer)

    @app.get("/login")
    def login():
        return oauth.tessera.authorize_redirect(f"{base}/callback")

    @app.get("/callback")
    def callback():
        token = oauth.tessera.authorize_access_token()
        session["user"] = dict(token["userinfo"])
        session["id_token"] = token["id_token"]
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout():
        id_token = session.pop("id_token", None)
        session.clear()
        metadata = oauth.tessera.load_server_metadata()
        query = urlencode({"id_token_hint": id_token or "", "client_id": client_id,
                           "post_logout_redirect_uri": f"{base}/"})
        return redirect(f"{metadata['end_session_endpoint']}?{query}")

    return app
