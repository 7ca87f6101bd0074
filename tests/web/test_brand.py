"""The business's brand on the hosted pages (issue 16, items 1-2): the BRAND_* settings on
every page (name, logo, favicon, colours in /theme.css, support and legal links), the
override folder in instance/brand/ winning over the built-in templates and static files,
and the start-up refusal of bad settings, each naming its setting."""
from __future__ import annotations

import logging

import pytest

from app import create_app
from app.config import ConfigError
from app.platform.brand import contrast_ratio
from tests.helpers import base_config

LOGO = "https://cdn.acme.example/logo.svg"
BRANDED = {
    "BRAND_NAME": "Acme Bank",
    "BRAND_LOGO": LOGO,
    "BRAND_LOGO_DARK": "https://cdn.acme.example/logo-dark.svg",
    "BRAND_COLOR_PRIMARY": "#0b5d1e",
    "BRAND_COLOR_BACKGROUND": "#fff",
    "BRAND_COLOR_TEXT": "#111111",
    "BRAND_COLOR_ERROR": "#a4000f",
    "BRAND_SUPPORT_EMAIL": "help@acme.example",
    "BRAND_PRIVACY_URL": "https://acme.example/privacy",
    "BRAND_TERMS_URL": "https://acme.example/terms",
    "BRAND_IMPRINT_URL": "https://acme.example/imprint",
}


def test_the_brand_settings_are_on_every_page(make_app):
    client = make_app(**BRANDED).test_client()
    page = client.get("/login")
    body = page.get_data(as_text=True)
    assert "<title>Log in · Acme Bank</title>" in body
    assert '<span class="brand-name">Acme Bank</span>' in body
    assert f'src="{LOGO}"' in body
    assert 'srcset="https://cdn.acme.example/logo-dark.svg"' in body
    assert "Tessera" not in body
    for url in ("mailto:help@acme.example", "https://acme.example/privacy",
                "https://acme.example/terms", "https://acme.example/imprint"):
        assert f'href="{url}"' in body
    # The logo's origin is allowed to load; no other.
    policy = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.acme.example;" in policy

    theme = client.get("/theme.css")
    assert theme.status_code == 200 and theme.mimetype == "text/css"
    css = theme.get_data(as_text=True)
    assert "--brand-primary: #0b5d1e;" in css
    assert "--brand-background: #ffffff;" in css  # #fff, written out
    assert "--brand-error: #a4000f;" in css


def test_the_defaults_are_neutral(client):
    body = client.get("/login").get_data(as_text=True)
    assert '<span class="brand-name">Tessera</span>' in body
    assert "brand-logo" not in body and "footer-links" not in body
    css = client.get("/theme.css").get_data(as_text=True)
    assert "--brand-primary: #1b3a5c;" in css


def test_the_override_folder_wins_over_the_built_in_templates_and_static_files(make_app,
                                                                               tmp_path):
    folder = tmp_path / "brand"
    (folder / "templates" / "web").mkdir(parents=True)
    (folder / "static").mkdir(parents=True)
    # A business's login page: it extends the built-in layout and changes one block.
    (folder / "templates" / "web" / "login.html").write_text(
        '{% extends "web/base.html" %}{% block content %}<h1>Welcome to Acme</h1>'
        "{% endblock %}")
    # One that extends the built-in template it replaces (as the README shows).
    (folder / "templates" / "web" / "signup.html").write_text(
        '{% extends "tessera/web/signup.html" %}{% block content %}'
        '<p class="notice">Acme welcomes you.</p>{{ super() }}{% endblock %}')
    (folder / "static" / "tessera.css").write_text("body { color: rebeccapurple; }")
    (folder / "static" / "acme.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    client = make_app(BRAND_LOGO="acme.svg", BRAND_FAVICON="acme.svg").test_client()

    body = client.get("/login").get_data(as_text=True)
    assert "<h1>Welcome to Acme</h1>" in body
    assert 'src="/static/acme.svg"' in body and 'rel="icon" href="/static/acme.svg"' in body
    assert static(client, "tessera.css") == (200, b"body { color: rebeccapurple; }")
    assert static(client, "acme.svg")[0] == 200
    # Files the folder does not have still come from Tessera; nothing outside it is served.
    assert static(client, "copy.js")[0] == 200
    assert static(client, "../secret_key")[0] == 404
    signup = client.get("/signup").get_data(as_text=True)
    assert '<p class="notice">Acme welcomes you.</p>' in signup
    assert "<h1>Create an account</h1>" in signup and 'name="password"' in signup
    # Other pages keep the built-in templates.
    assert "Welcome to Acme" not in client.get("/recover").get_data(as_text=True)


def static(client, name: str) -> tuple[int, bytes]:
    """GET /static/<name>: its status and body (the file closed again)."""
    with client.get(f"/static/{name}") as response:
        return response.status_code, response.get_data()


def test_bad_brand_settings_are_refused_at_start_up(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'never-opened.db'}"
    (tmp_path / "brand" / "static").mkdir(parents=True)
    bad = [
        ("BRAND_LOGO", "http://cdn.acme.example/logo.svg"),   # not https
        ("BRAND_LOGO_DARK", "missing.svg"),                     # no such file
        ("BRAND_FAVICON", "../secret_key"),                     # outside the folder
        ("BRAND_COLOR_PRIMARY", "green"),                       # not #rrggbb
        ("BRAND_COLOR_TEXT", "#12345"),
        ("BRAND_PRIVACY_URL", "javascript:alert(1)"),
        ("BRAND_SUPPORT_EMAIL", "not an address"),
        ("BRAND_NAME", "   "),
        ("LOCALES", "en,xx"),                                   # not shipped
        ("DEFAULT_LOCALE", "it"),                               # not offered
    ]
    (tmp_path / "secret_key").write_text("x")
    for key, value in bad:
        with pytest.raises(ConfigError) as refused:
            create_app(base_config(tmp_path, database_url) | {key: value})
        assert f"TESSERA_{key}" in str(refused.value), (key, str(refused.value))


def test_colours_below_wcag_aa_are_named_at_start_up(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        make_app(BRAND_COLOR_TEXT="#999999", BRAND_COLOR_BACKGROUND="#ffffff")
    warnings = [r.getMessage() for r in caplog.records if "brand colours" in r.getMessage()]
    assert len(warnings) == 1
    assert "TESSERA_BRAND_COLOR_TEXT #999999 on TESSERA_BRAND_COLOR_BACKGROUND #ffffff" \
        in warnings[0]
    assert "2.85:1" in warnings[0]


def test_contrast_ratio_follows_wcag():
    # WCAG's own end points and a well-known pair.
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_the_default_colours_meet_wcag_aa():
    from app.config import DEFAULTS
    from app.platform.brand import AA_TEXT_CONTRAST, TEXT_PAIRS
    for foreground, background in TEXT_PAIRS:
        ratio = contrast_ratio(DEFAULTS[f"BRAND_COLOR_{foreground.upper()}"],
                               DEFAULTS[f"BRAND_COLOR_{background.upper()}"])
        assert ratio >= AA_TEXT_CONTRAST, (foreground, background, ratio)



def test_an_app_wears_its_own_name_logo_and_colours_on_the_pages_reached_through_it(
        app, runner):
    from urllib.parse import urlencode

    from tests.oidc.helpers import REDIRECT_URI
    created = runner.invoke(args=[
        "clients", "create", "--name", "Green Shop", "--redirect-uri", REDIRECT_URI,
        "--logo-uri", "https://cdn.shop.example/logo.png",
        "--brand-color", "primary=#0b5d1e", "--brand-color", "background=#fafff0", "--json"])
    assert created.exit_code == 0, created.output
    import json
    client_id = json.loads(created.output)["client_id"]
    assert json.loads(created.output)["brand_colors"] == {"primary": "#0b5d1e",
                                                          "background": "#fafff0"}
    client = app.test_client()
    authorize = "/authorize?" + urlencode({"response_type": "code", "client_id": client_id,
                                           "redirect_uri": REDIRECT_URI, "scope": "openid"})
    login = client.get("/login?" + urlencode({"next": authorize})).get_data(as_text=True)
    assert '<span class="brand-name">Green Shop</span>' in login
    assert 'src="https://cdn.shop.example/logo.png"' in login
    assert f"/theme.css?app={client_id}" in login
    css = client.get(f"/theme.css?app={client_id}").get_data(as_text=True)
    assert "--brand-primary: #0b5d1e;" in css and "--brand-background: #fafff0;" in css
    assert "--brand-text: #1b1f24;" in css  # the brand's, where the app set none
    # Elsewhere, the deployment's brand.
    assert '<span class="brand-name">Tessera</span>' in \
        client.get("/recover").get_data(as_text=True)

    # Bad colours are refused and change nothing; ROLE= goes back to the brand's.
    for bad, reason in ((["primary=green"], "must be written #rrggbb"),
                        (["accent=#000000"], "Unknown brand colour accent"),
                        (["primary=#fafff1"], "hard to read: primary #fafff1 on background")):
        refused = runner.invoke(args=["clients", "update", client_id,
                                      *[f"--brand-color={pair}" for pair in bad]])
        assert refused.exit_code != 0 and reason in refused.output, refused.output
    cleared = runner.invoke(args=["clients", "update", client_id, "--brand-color",
                                  "background=", "--json"])
    assert json.loads(cleared.output)["brand_colors"] == {"primary": "#0b5d1e"}
