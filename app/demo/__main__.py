"""Start Tessera (5000) and the two demo apps (5001, 5002) in one process."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server

from app import create_app
from app.demo.relying_party import create_relying_party
from app.extensions import db
from app.models import OAuthClient
from app.oidc.clients import create_client
from app.platform.audit import Origin

# localhost, not 127.0.0.1: browsers refuse passkeys on an IP address.
ISSUER = "http://localhost:5000"
DEMO_APPS = (("Demo shop", 5001), ("Demo support", 5002))


def ensure_demo_apps(app, demo_apps=DEMO_APPS) -> dict[int, str]:
    """One public first-party client per demo app; returns port -> client_id."""
    client_ids = {}
    with app.app_context():
        for name, port in demo_apps:
            client = db.session.execute(db.select(OAuthClient).where(OAuthClient.name == name)
                                        ).scalar_one_or_none()
            if client is None:
                client, _ = create_client(name, [f"http://127.0.0.1:{port}/callback"],
                                          public=True, first_party=True,
                                          scope="openid profile email phone customer_id",
                                          origin=Origin(actor="demo"))
            client.post_logout_redirect_uris = [f"http://127.0.0.1:{port}/"]
            db.session.commit()
            client_ids[port] = client.client_id
    return client_ids


def main() -> None:
    """Serve all three until interrupted."""
    tessera = create_app({"ENV": "development", "ISSUER": ISSUER})
    client_ids = ensure_demo_apps(tessera)
    servers = [make_server("127.0.0.1", 5000, tessera, threaded=True)]
    for name, port in DEMO_APPS:
        servers.append(make_server("127.0.0.1", port, create_relying_party(
            name, port, client_ids[port], ISSUER), threaded=True))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("Tessera:      http://localhost:5000/signup  (codes: instance/outbox.jsonl)")
    for name, port in DEMO_APPS:
        print(f"{name + ':':13} http://127.0.0.1:{port}/")
    print("Log in on one app, then open the other: single sign-on. Ctrl+C stops.")
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
