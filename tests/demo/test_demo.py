"""The `make demo` apps: two relying parties on Authlib's Flask client share one login."""
import re
import threading

import requests
from werkzeug.serving import make_server

from app.demo.__main__ import ensure_demo_apps
from app.demo.relying_party import create_relying_party
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import csrf_token
from tests.postgres import free_port


def serve(wsgi_app, port):
    server = make_server("127.0.0.1", port, wsgi_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_two_demo_apps_share_one_login(app, live_server):
    app.config["ISSUER"] = live_server
    ports = [free_port(), free_port()]
    client_ids = ensure_demo_apps(app, [("Shop", ports[0]), ("Support", ports[1])])
    servers = [serve(create_relying_party(name, port, client_ids[port], live_server), port)
               for name, port in (("Shop", ports[0]), ("Support", ports[1]))]
    try:
        with app.app_context():
            customer_id = make_customer().customer_id
        browser = requests.Session()
        # The first app sends the browser to Tessera's login page.
        page = browser.get(f"http://127.0.0.1:{ports[0]}/login", timeout=10)
        assert "/login" in page.url and "Log in" in page.text
        page = browser.post(page.url, timeout=10, data={
            "csrf_token": csrf_token(page.text), "identifier": "ada@example.com",
            "password": STRONG_PASSWORD})
        assert page.url == f"http://127.0.0.1:{ports[0]}/"
        assert customer_id in page.text
        # The second app logs in without a password prompt: single sign-on.
        page = browser.get(f"http://127.0.0.1:{ports[1]}/login", timeout=10)
        assert page.url == f"http://127.0.0.1:{ports[1]}/"
        assert customer_id in page.text
        assert not re.search(r'name="password"', page.text)
    finally:
        for server in servers:
            server.shutdown()
