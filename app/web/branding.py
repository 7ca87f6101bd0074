"""The brand on the hosted pages: the override folder (instance/brand/templates and
static, searched before Tessera's own), /theme.css (the brand's colours as CSS custom
properties, or an app's own over them), and what the templates see (`brand`, and
`page_brand`: the app's name, logo and colours on pages reached through its
authorization request, else the deployment's).

The rules for the settings live in app/platform/brand.py; this module only serves them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader
from werkzeug.exceptions import NotFound

from app.platform.brand import (COLOUR_ROLES, EXTENSION_KEY, brand_of, current_brand,
                                override_folder)

bp = Blueprint("brand", __name__)

#: How long browsers may keep /theme.css; its URL changes with the colours it serves.
THEME_MAX_AGE = 86400


@dataclass(frozen=True)
class PageBrand:
    """What a page's header shows and which colours it wears."""

    name: str
    logo: str | None
    logo_dark: str | None
    colours: dict[str, str]
    #: The client whose brand this is (None: the deployment's).
    client_id: str | None = None

    @property
    def version(self) -> str:
        """Changes whenever the colours do: /theme.css is cached under it."""
        joined = ",".join(f"{role}={self.colours[role]}" for role in COLOUR_ROLES)
        return hashlib.sha256(joined.encode()).hexdigest()[:12]


def init_branding(app: Flask) -> None:
    """Read the brand once, search the override folder first for templates and static
    files, and give every template `brand` and `page_brand`."""
    brand = brand_of(app.config)
    app.extensions[EXTENSION_KEY] = brand
    folder = override_folder(app.instance_path)
    # The app's loader is searched before the blueprints', and the override folder before
    # Tessera's own templates; those are also reachable as "tessera/<name>", so an
    # override can extend the template it replaces ({% extends "tessera/web/login.html" %}).
    built_in = FileSystemLoader(str(app.root_path) + "/web/templates")
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(folder / "templates")), built_in,
                                     PrefixLoader({"tessera": built_in})])
    app.view_functions["static"] = serve_static
    app.register_blueprint(bp)
    app.context_processor(lambda: {"brand": brand, "page_brand": page_brand,
                                   "brand_asset": logo_url})


def serve_static(filename: str):
    """/static/<filename>: the override folder's file of that name if there is one, else
    Tessera's own."""
    override = override_folder(current_app.instance_path) / "static"
    try:
        return send_from_directory(override, filename)  # safe_join: nothing outside it
    except NotFound:
        return current_app.send_static_file(filename)


def page_brand(app_client=None) -> PageBrand:
    """The brand a page wears: `app_client`'s name, logo and colours (each where it
    registered one, the deployment's otherwise) when the page was reached through its
    authorization request, else the deployment's."""
    brand = current_brand()
    if app_client is None:
        return PageBrand(name=brand.name, logo=logo_url(brand.logo),
                         logo_dark=logo_url(brand.logo_dark), colours=brand.colours)
    colours = {**brand.colours, **(app_client.brand_colors or {})}
    logo = app_client.logo_uri
    return PageBrand(name=app_client.name, logo=logo or logo_url(brand.logo),
                     logo_dark=None if logo else logo_url(brand.logo_dark),
                     colours=colours, client_id=app_client.client_id)


def logo_url(setting: str) -> str | None:
    """A logo or favicon setting as a URL: an https URL as it is, a file name as its
    /static URL (the override folder serves it), empty as None."""
    if not setting:
        return None
    if setting.startswith("https://"):
        return setting
    return url_for("static", filename=setting)


@bp.get("/theme.css")
def theme():
    """The brand's colours as CSS custom properties: the deployment's, or with `app` (a
    client_id) that app's own over them. Unknown apps get the deployment's colours."""
    from app.oidc.clients import get_client
    client_id = request.args.get("app", "")[:48]
    client = get_client(client_id) if client_id else None
    colours = page_brand(client).colours
    lines = [f"  --brand-{role}: {colours[role]};" for role in COLOUR_ROLES]
    css = ":root {\n" + "\n".join(lines) + "\n}\n"
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = f"public, max-age={THEME_MAX_AGE}"
    return response
