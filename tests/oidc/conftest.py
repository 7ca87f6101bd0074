"""Fixtures shared by the OpenID Connect tests; the plain helpers are in helpers.py."""
from __future__ import annotations

import pytest

from tests.oidc.helpers import EMAIL, Provider, logged_in_browser, make_client


@pytest.fixture
def op(app, live_server) -> Provider:
    """The app on a live server with its issuer set, two first-party clients (one
    confidential, one public) and a browser logged in as EMAIL."""
    app.config["ISSUER"] = live_server
    client_id, secret = make_client(app, first_party=True,
                                    scope="openid profile email offline_access")
    public_id, _ = make_client(app, public=True, first_party=True, scope="openid profile")
    browser = logged_in_browser(app, live_server, EMAIL)
    return Provider(app, live_server, browser, client_id, secret, public_id)
