"""The business's brand on every page, email and text message: its name, logos, favicon,
colours, support contact and legal links (the BRAND_* settings), and the override folder
in which a business puts templates and static files that win over the built-in ones.

The override folder is instance/brand/: `templates/` is searched before Tessera's own
templates (same relative names, e.g. `web/login.html` or `email/message.html`), and
`static/` before Tessera's static files (the same URLs, /static/<name>). A logo or favicon
setting names either an https:// URL or a file in `static/`.

Colours are CSS custom properties (--brand-primary ...) served in /theme.css, checked at
start-up against WCAG 2.2 AA (4.5:1 for text): a pair that falls short is logged as a
warning naming the settings, because refusing to start over a shade would be worse than
showing it. An app's own colours (client metadata `brand_colors`) are refused at
registration when they fall short, since there the operator is at hand to fix them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

#: The override folder, inside the instance folder.
OVERRIDE_FOLDER = "brand"
#: Where the app keeps its Brand (app.extensions), read once at start-up.
EXTENSION_KEY = "tessera_brand"
#: WCAG 2.2 AA: normal text needs this contrast ratio against its background.
AA_TEXT_CONTRAST = 4.5
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
#: The colour roles, each a BRAND_COLOR_* setting and a --brand-* custom property.
COLOUR_ROLES = ("primary", "background", "text", "error")
#: Pairs that carry text, as (foreground role, background role): body text, links and
#: primary buttons (the background colour is the button's text colour, so one ratio
#: covers both), error messages.
TEXT_PAIRS = (("text", "background"), ("primary", "background"), ("error", "background"))
_IMAGE_SETTINGS = ("BRAND_LOGO", "BRAND_LOGO_DARK", "BRAND_FAVICON")
_LINK_SETTINGS = ("BRAND_SUPPORT_URL", "BRAND_PRIVACY_URL", "BRAND_TERMS_URL",
                  "BRAND_IMPRINT_URL")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Brand:
    """The deployment's brand, read once from the settings (see `brand_of`)."""

    name: str
    logo: str = ""
    logo_dark: str = ""
    favicon: str = ""
    colours: dict[str, str] = field(default_factory=dict)
    support_email: str = ""
    support_url: str = ""
    privacy_url: str = ""
    terms_url: str = ""
    imprint_url: str = ""

    @cached_property
    def image_origins(self) -> list[str]:
        """The https origins the logos and favicon load from (for every response's
        img-src: worked out once)."""
        return sorted({_origin(value) for value in (self.logo, self.logo_dark, self.favicon)
                       if is_https_url(value)})

    @property
    def legal_links(self) -> list[tuple[str, str]]:
        """(role, URL) of each legal link that is set: privacy, terms, imprint."""
        return [(role, url) for role, url in (("privacy", self.privacy_url),
                                              ("terms", self.terms_url),
                                              ("imprint", self.imprint_url)) if url]


def brand_of(config: dict) -> Brand:
    """The brand the settings describe (they were validated at start-up)."""
    return Brand(
        name=str(config["BRAND_NAME"]).strip(),
        logo=str(config["BRAND_LOGO"]).strip(),
        logo_dark=str(config["BRAND_LOGO_DARK"]).strip(),
        favicon=str(config["BRAND_FAVICON"]).strip(),
        colours={role: normalize_colour(str(config[f"BRAND_COLOR_{role.upper()}"]))
                 for role in COLOUR_ROLES},
        support_email=str(config["BRAND_SUPPORT_EMAIL"]).strip(),
        support_url=str(config["BRAND_SUPPORT_URL"]).strip(),
        privacy_url=str(config["BRAND_PRIVACY_URL"]).strip(),
        terms_url=str(config["BRAND_TERMS_URL"]).strip(),
        imprint_url=str(config["BRAND_IMPRINT_URL"]).strip(),
    )


def current_brand() -> Brand:
    """The deployment's brand (app/web/branding.py init_branding stores it at start-up)."""
    return current_app.extensions[EXTENSION_KEY]


def override_folder(instance_path: str) -> Path:
    """instance/brand/: the business's templates/ and static/."""
    return Path(instance_path) / OVERRIDE_FOLDER


def setting_problems(config: dict, instance_path: str) -> list[str]:
    """Start-up refusals for the BRAND_* settings, each naming its setting: an empty name,
    a logo or favicon that is neither an https URL nor a file in the override folder, a
    colour that is not a colour, a link that is not an https URL, a support address that
    is not one."""
    problems = []
    name = str(config["BRAND_NAME"]).strip()
    if not name or len(name) > 60:
        problems.append("TESSERA_BRAND_NAME must be 1 to 60 characters")
    static = override_folder(instance_path) / "static"
    for key in _IMAGE_SETTINGS:
        value = str(config[key]).strip()
        if value and not is_https_url(value) and not _is_override_file(static, value):
            problems.append(f"TESSERA_{key} ({value!r}) must be an https:// URL or the name "
                            f"of a file in {static}")
    for role in COLOUR_ROLES:
        key = f"BRAND_COLOR_{role.upper()}"
        if not is_colour(str(config[key])):
            problems.append(f"TESSERA_{key} ({config[key]!r}) must be a colour written "
                            "#rrggbb or #rgb")
    for key in _LINK_SETTINGS:
        value = str(config[key]).strip()
        if value and not is_https_url(value):
            problems.append(f"TESSERA_{key} ({value!r}) must be an https:// URL")
    email = str(config["BRAND_SUPPORT_EMAIL"]).strip()
    if email and not _EMAIL.fullmatch(email):
        problems.append(f"TESSERA_BRAND_SUPPORT_EMAIL ({email!r}) must be an email address")
    return problems


def contrast_warnings(colours: dict[str, str], names: dict[str, str] | None = None
                      ) -> list[str]:
    """One line for each text pair of `colours` below WCAG AA, naming the two colours by
    `names` (role -> setting name; the roles themselves without it)."""
    names = names or {}
    warnings = []
    for foreground, background in TEXT_PAIRS:
        if foreground not in colours or background not in colours:
            continue
        ratio = contrast_ratio(colours[foreground], colours[background])
        if ratio < AA_TEXT_CONTRAST:
            warnings.append(f"{names.get(foreground, foreground)} {colours[foreground]} on "
                            f"{names.get(background, background)} {colours[background]} has "
                            f"a contrast of {ratio:.2f}:1, below WCAG AA's "
                            f"{AA_TEXT_CONTRAST}:1 for text")
    return warnings


def setting_names() -> dict[str, str]:
    """Colour role -> its environment variable, for warnings."""
    return {role: f"TESSERA_BRAND_COLOR_{role.upper()}" for role in COLOUR_ROLES}


def is_colour(text: str) -> bool:
    """#rgb or #rrggbb."""
    return bool(_HEX_COLOUR.fullmatch(text.strip()))


def normalize_colour(text: str) -> str:
    """#rgb or #rrggbb as lower-case #rrggbb (the caller checked is_colour)."""
    text = text.strip().lower()
    if len(text) == 4:
        text = "#" + "".join(ch * 2 for ch in text[1:])
    return text


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.2's contrast ratio of two #rrggbb colours, 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    colour = normalize_colour(colour)
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def is_https_url(text: str) -> bool:
    """An absolute https:// URL with a host."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not any(
        ch.isspace() for ch in text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_override_file(static: Path, name: str) -> bool:
    """Whether `name` is a file inside the override folder's static/ (never outside it)."""
    try:
        target = (static / name).resolve()
    except (OSError, ValueError):
        return False
    return target.is_file() and static.resolve() in target.parents
