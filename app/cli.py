"""flask commands for operators and scripts: `flask customers ...`, `flask clients ...` and
`flask keys ...`.

Commands are thin: they parse options, call a service, commit once and print. Every command
takes `--json` for scripts. Errors go to stderr: bad input (a malformed or taken
identifier, a weak password, a mistyped customer ID, a bad redirect URI) exits with status
2 and changes nothing; a customer or client that does not exist exits with status 1.
"""
from __future__ import annotations

import json
import secrets
import sys
from typing import NoReturn

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.auth.login import set_password
from app.auth.passwords import PasswordRejected
from app.directory.customers import (CustomerError, add_identifier, create_customer, find_customer,
                                     link_account, normalize_identifier, normalize_linked_account,
                                     unlink_account)
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Consent, Customer, IssuedToken, OAuthClient, SigningKey, utcnow
from app.oidc.client_auth import normalize_client_jwks
from app.oidc.clients import (DISPLAY_URIS, GRANT_TYPES, SECRET_HASH_PURPOSE, ClientError,
                              check_admin_registration, check_redirect_uri, client_settings,
                              create_client, ensure_demo_client, get_client, list_clients,
                              normalize_brand_colors, normalize_client_name,
                              normalize_display_uris,
                              normalize_redirect_uris, normalize_resource_server_audience,
                              normalize_resources, normalize_scope)
from app.oidc.keys import SIGNING_ALGORITHMS, rotate_keys
from app.phones.sweep import sweep
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash

EXIT_NOT_FOUND = 1
EXIT_BAD_INPUT = 2

customers_cli = AppGroup("customers", help="Create, find and link customers.")
clients_cli = AppGroup("clients", help="Register, inspect, change and delete OAuth clients.")
keys_cli = AppGroup("keys", help="List and rotate the token signing keys.")
phones_cli = AppGroup("phones", help="Phone bindings: the periodic trust sweep.")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON for scripts instead of text for people.")


def register_cli(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(customers_cli)
    app.cli.add_command(clients_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(phones_cli)


def cli_origin() -> Origin:
    """The audit origin of a command: an operator at the console, not a web request."""
    return Origin(actor="cli")


# ---- customers ---------------------------------------------------------------------------


@customers_cli.command("create")
@click.option("--email", help="Email address (counts as verified: the operator vouches).")
@click.option("--phone", help="Phone number (counts as verified).")
@click.option("--username", help="Username.")
@click.option("--name", help='Full name; split at the first space: "Given Family".')
@click.option("--password-stdin", is_flag=True,
              help="Read a password from the first line of standard input.")
@json_option
def create_customer_command(email: str | None, phone: str | None, username: str | None,
                            name: str | None, password_stdin: bool, as_json: bool) -> None:
    """Create a customer with verified identifiers and, optionally, a password."""
    if email is None and phone is None:
        raise click.UsageError("Give --email or --phone (or both).")
    password = read_password_line() if password_stdin else None
    given_name, family_name = split_name(name)
    origin = cli_origin()
    try:
        # One transaction: any refusal below rolls back the customer and all it got.
        customer = create_customer(origin, given_name, family_name)
        for kind, text in (("email", email), ("phone", phone), ("username", username)):
            if text is not None:
                add_identifier(customer, normalize_identifier(kind, text), origin,
                               verified=True)
        if password is not None:
            set_password(customer, password, origin)
        db.session.commit()
    except (CustomerError, PasswordRejected) as error:
        fail(str(error))
    payload = customer_json(customer)
    found_by = ", ".join(f"{i['kind']} {i['value']}" for i in payload["identifiers"])
    emit(as_json, {key: payload[key] for key in ("customer_id", "customer_id_display",
                                                 "identifiers")},
         [f"Created customer {payload['customer_id_display']} ({found_by})."])


@customers_cli.command("show")
@click.argument("customer")
@json_option
def show_customer_command(customer: str, as_json: bool) -> None:
    """Show a customer found by customer ID, email, phone, username or system:account."""
    payload = customer_json(resolve_customer(customer))
    emit(as_json, payload, customer_lines(payload))


def linked_account_options(command):
    """The CUSTOMER argument and --system, --account-number and --json of link/unlink."""
    command = json_option(command)
    command = click.option("--account-number", required=True,
                           help="The customer's number there.")(command)
    command = click.option("--system", required=True,
                           help="The other system, e.g. billing.")(command)
    return click.argument("customer")(command)


@customers_cli.command("link")
@linked_account_options
def link_account_command(customer: str, system: str, account_number: str,
                         as_json: bool) -> None:
    """Tie an account number in another system to a customer."""
    found = resolve_customer(customer)
    try:
        linked = link_account(found, system, account_number, cli_origin())
        db.session.commit()
    except CustomerError as error:
        fail(str(error))
    print_link_change("Linked", found, linked.system, linked.account_number, as_json)


@customers_cli.command("unlink")
@linked_account_options
def unlink_account_command(customer: str, system: str, account_number: str,
                           as_json: bool) -> None:
    """Remove an account number in another system from a customer."""
    found = resolve_customer(customer)
    try:
        system, account_number = normalize_linked_account(system, account_number)
    except CustomerError as error:
        fail(str(error))
    linked = next((row for row in found.linked_accounts
                   if (row.system, row.account_number) == (system, account_number)), None)
    if linked is None:
        fail(f"{system}:{account_number} is not linked to this customer.", EXIT_NOT_FOUND)
    unlink_account(linked, cli_origin())
    db.session.commit()
    print_link_change("Unlinked", found, system, account_number, as_json)


@customers_cli.command("erase-due")
@json_option
def erase_due_command(as_json: bool) -> None:
    """Erase every customer whose requested deletion is past due (run it daily). Each is
    erased in its own transaction and told at its verified email addresses."""
    from app.directory.erasure import erase_due
    erased = erase_due(cli_origin())
    displays = [format_for_people(customer_id) for customer_id in erased]
    emit(as_json, {"erased": erased},
         [f"Erased {len(erased)} customer{'' if len(erased) == 1 else 's'} past their "
          "deletion date" + (":" if erased else "."), *[f"  {d}" for d in displays]])


def read_password_line() -> str:
    """The first line of standard input, without its line ending (spaces are kept: they
    may be part of the password)."""
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        fail("--password-stdin: standard input has no password on its first line.")
    return password


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """Split "Given Family Names" at the first space; one word is a given name only."""
    if name is None:
        return None, None
    given, _, family = name.strip().partition(" ")
    return given, family or None


def resolve_customer(text: str) -> Customer:
    """The customer `text` finds; exit 2 for malformed text (e.g. a mistyped customer ID,
    refused before any lookup) and 1 when nobody matches."""
    try:
        customer = find_customer(text)
    except CustomerError as error:
        fail(str(error))
    if customer is None:
        fail(f"No customer matches {text!r}.", EXIT_NOT_FOUND)
    return customer


def customer_json(customer: Customer) -> dict:
    """What `customers show --json` prints about a customer."""
    return {
        "customer_id": customer.customer_id,
        "customer_id_display": format_for_people(customer.customer_id),
        "status": customer.status,
        "given_name": customer.given_name,
        "family_name": customer.family_name,
        "created_at": customer.created_at.isoformat(),
        "identifiers": [{"kind": i.kind, "value": i.value, "verified": i.verified_at is not None}
                        for i in customer.identifiers],
        "linked_accounts": [{"system": a.system, "account_number": a.account_number}
                            for a in customer.linked_accounts],
    }


def customer_lines(payload: dict) -> list[str]:
    """A customer (as `customer_json` gives it) in lines for people."""
    name = " ".join(part for part in (payload["given_name"], payload["family_name"]) if part)
    lines = [f"Customer {payload['customer_id_display']} ({payload['status']})",
             f"  name:    {name or '-'}",
             f"  created: {payload['created_at']}"]
    for identifier in payload["identifiers"]:
        state = "verified" if identifier["verified"] else "unverified"
        lines.append(f"  {identifier['kind']}: {identifier['value']} ({state})")
    for account in payload["linked_accounts"]:
        lines.append(f"  linked:  {account['system']}:{account['account_number']}")
    return lines


def print_link_change(verb: str, customer: Customer, system: str, account_number: str,
                      as_json: bool) -> None:
    """Report a linked account added or removed."""
    display = format_for_people(customer.customer_id)
    emit(as_json, {"customer_id": customer.customer_id, "customer_id_display": display,
                   "system": system, "account_number": account_number},
         [f"{verb} {system}:{account_number} and customer {display}."])


# ---- clients -----------------------------------------------------------------------------


RESOURCE_OPTION = click.option(
    "--resource", "resources", multiple=True,
    help="A resource (RFC 8707: the URI of an API) the client may ask tokens for; repeat "
         "for more. The first is the audience of its tokens when it names none.")
RESOURCE_SERVER_OPTION = click.option(
    "--resource-server", "resource_server_audience",
    help="Make this client the resource server for this audience (a URI): it may then "
         "introspect tokens issued for it.")




def display_uri_options(command):
    """--logo-uri, --client-uri, --policy-uri and --tos-uri: what customers see of the app
    (https only; http on loopback outside production). On update, "" clears one."""
    for name, help_text in reversed((
            ("logo", "The app's logo, shown on the login, sign-up and consent pages."),
            ("client", "The app's home page (the error page's way back to the app)."),
            ("policy", "The app's privacy policy, linked from those pages."),
            ("tos", "The app's terms of service, linked from those pages."))):
        command = click.option(f"--{name}-uri", f"{name}_uri", metavar="URL",
                               help=help_text)(command)
    return command


BRAND_COLOR_OPTION = click.option(
    "--brand-color", "brand_colors", multiple=True, metavar="ROLE=#RRGGBB",
    help="The app's own colour on the login, sign-up and consent pages reached through "
         "it: primary, background, text or error (e.g. primary=#0b5d1e); repeat for more; "
         "ROLE= (empty) goes back to the brand's.")


def brand_colors_given(pairs: tuple[str, ...]) -> dict[str, str]:
    """ROLE=VALUE pairs as a dict; ClientError for one without "="."""
    given = {}
    for pair in pairs:
        role, sep, value = pair.partition("=")
        if not sep:
            raise ClientError(f"--brand-color takes ROLE=#RRGGBB, not {pair!r}.")
        given[role.strip()] = value.strip()
    return given


def display_uris_given(**uris: str | None) -> dict[str, str | None]:
    """The display URIs an operator gave (name -> value; "" clears one)."""
    return {name: value for name, value in uris.items() if value is not None}


def loopback_http_allowed() -> bool:
    """http display URIs on loopback are for development only."""
    return current_app.config["ENV"] != "production"


@clients_cli.command("create")
@click.option("--name", required=True, help="The name people see on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="An exact redirect URI; repeat for more.")
@click.option("--public", is_flag=True,
              help="A public client (browser or native app): no secret, PKCE required.")
@click.option("--first-party", is_flag=True,
              help="One of our own apps (first-party clients are not asked for consent).")
@click.option("--grant-type", "grant_types", multiple=True,
              help=f"A grant type, one of {', '.join(GRANT_TYPES)}; repeat for more "
                   "(default: authorization_code and refresh_token).")
@click.option("--scope", help='Space-separated scopes (default: "openid profile email phone"; '
                             'for --admin: "admin:read").')
@click.option("--admin", is_flag=True,
              help="An admin client: calls the admin API with client_credentials; the only "
                   "kind of client that may hold admin:read/write/recovery/gdpr.")
@RESOURCE_OPTION
@RESOURCE_SERVER_OPTION
@display_uri_options
@BRAND_COLOR_OPTION
@json_option
def create_client_command(name: str, redirect_uris: tuple[str, ...], public: bool,
                          first_party: bool, grant_types: tuple[str, ...], scope: str | None,
                          admin: bool, resources: tuple[str, ...],
                          resource_server_audience: str | None, logo_uri: str | None,
                          client_uri: str | None, policy_uri: str | None,
                          tos_uri: str | None, brand_colors: tuple[str, ...],
                          as_json: bool) -> None:
    """Register an OAuth client. A confidential client's secret is printed here only."""
    try:
        client, secret = create_client(name, list(redirect_uris), public=public,
                                       first_party=first_party,
                                       grant_types=list(grant_types) or None, scope=scope,
                                       admin=admin, resources=resources,
                                       resource_server_audience=resource_server_audience,
                                       display_uris=display_uris_given(
                                           logo_uri=logo_uri, client_uri=client_uri,
                                           policy_uri=policy_uri, tos_uri=tos_uri),
                                       allow_loopback_http=loopback_http_allowed(),
                                       brand_colors=brand_colors_given(brand_colors),
                                       origin=cli_origin())
        db.session.commit()
    except ClientError as error:
        fail(str(error))
    payload = client_json(client)
    lines = client_lines(payload)
    if secret is not None:
        payload["client_secret"] = secret
        lines += [f"client_secret: {secret}",
                  "Store the secret now: it is not kept and cannot be shown again."]
    emit(as_json, payload, lines)


@clients_cli.command("list")
@json_option
def list_clients_command(as_json: bool) -> None:
    """List the registered clients (never their secrets)."""
    payloads = [client_json(client) for client in list_clients()]
    emit(as_json, payloads, [f"{p['client_id']}  {client_kind(p):<12}  {p['name']}"
                             for p in payloads])


@clients_cli.command("show")
@click.argument("client_id")
@json_option
def show_client_command(client_id: str, as_json: bool) -> None:
    """Show one client (never its secret)."""
    client = get_client(client_id)
    if client is None:
        fail(f"No client has client_id {client_id!r}.", EXIT_NOT_FOUND)
    payload = client_json(client)
    emit(as_json, payload, client_lines(payload))


@clients_cli.command("ensure-demo")
@json_option
def ensure_demo_command(as_json: bool) -> None:
    """Create the public "Tessera demo" client unless it exists (run by `make run`)."""
    client, created = ensure_demo_client(cli_origin())
    db.session.commit()
    state = "Created" if created else "Found"
    emit(as_json, {"client_id": client.client_id, "created": created,
                   "redirect_uris": list(client.redirect_uris)},
         [f"{state} demo client {client.client_id} "
          f"(redirect URIs: {', '.join(client.redirect_uris)})."])


AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SUBJECT_TYPES = ("public", "pairwise")
#: Bounds what a mistaken paste can store as a token-exchange audience.
MAX_AUDIENCE_LENGTH = 255
MAX_AUDIENCES = 20


@clients_cli.command("update")
@click.argument("client_id")
@click.option("--name", help="The name people see on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="An exact redirect URI; repeat for more. Replaces the registered ones.")
@click.option("--scope", help="Space-separated scopes the client may ask for (replaces).")
@click.option("--first-party/--third-party", "first_party", default=None,
              help="First-party clients are not asked for consent.")
@click.option("--require-pkce/--no-require-pkce", "require_pkce", default=None,
              help="Require PKCE of this confidential client too (public clients always).")
@click.option("--subject-type", type=click.Choice(SUBJECT_TYPES),
              help="public: sub is the customer ID; pairwise: a different sub per sector.")
@click.option("--id-token-alg", type=click.Choice(SIGNING_ALGORITHMS),
              help="The algorithm that signs this client's ID tokens.")
@click.option("--token-exchange-audience", "audiences", multiple=True,
              help="An audience the client may ask for in token exchange; repeat for more. "
                   "Replaces the registered ones.")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True,
              help="An exact URI to return to after logout; repeat for more (replaces).")
@click.option("--backchannel-logout-uri", help="Where to POST back-channel logout tokens.")
@RESOURCE_OPTION
@RESOURCE_SERVER_OPTION
@click.option("--auth-method", type=click.Choice(AUTH_METHODS),
              help="How this confidential client authenticates at the token endpoint.")
@click.option("--jwks", "jwks_file", type=click.File("r"),
              help="A file (or - for stdin) holding the client's public JWK set, for "
                   "private_key_jwt. Replaces the registered keys.")
@display_uri_options
@BRAND_COLOR_OPTION
@json_option
def update_client_command(client_id: str, name: str | None, redirect_uris: tuple[str, ...],
                          scope: str | None, first_party: bool | None,
                          require_pkce: bool | None, subject_type: str | None,
                          id_token_alg: str | None, audiences: tuple[str, ...],
                          post_logout_uris: tuple[str, ...],
                          backchannel_logout_uri: str | None, resources: tuple[str, ...],
                          resource_server_audience: str | None, auth_method: str | None,
                          jwks_file, logo_uri: str | None, client_uri: str | None,
                          policy_uri: str | None, tos_uri: str | None,
                          brand_colors: tuple[str, ...], as_json: bool) -> None:
    """Change a client. Options not given stay as they are; repeated options replace."""
    client = require_client(client_id)
    try:
        changes = client_changes(
            client, name=name, redirect_uris=redirect_uris, scope=scope,
            first_party=first_party, require_pkce=require_pkce, subject_type=subject_type,
            id_token_alg=id_token_alg, audiences=audiences, post_logout_uris=post_logout_uris,
            backchannel_logout_uri=backchannel_logout_uri, auth_method=auth_method,
            resources=resources, resource_server_audience=resource_server_audience,
            jwks_text=None if jwks_file is None else jwks_file.read(1_000_000),
            display_uris=display_uris_given(logo_uri=logo_uri, client_uri=client_uri,
                                            policy_uri=policy_uri, tos_uri=tos_uri),
            brand_colors=brand_colors_given(brand_colors))
    except ClientError as error:
        fail(str(error))
    if not changes:
        fail("Nothing to change: give at least one option.")
    for field, value in changes.items():
        setattr(client, field, value)
    record_event("client.updated", cli_origin(), None, client_id=client.client_id,
                 changed=sorted(changes))
    db.session.commit()
    payload = client_json(client)
    emit(as_json, payload, [f"Updated {', '.join(sorted(changes))}.", *client_lines(payload)])


def client_changes(client: OAuthClient, *, name, redirect_uris, scope, first_party,
                   require_pkce, subject_type, id_token_alg, audiences, post_logout_uris,
                   backchannel_logout_uri, auth_method, resources=(),
                   resource_server_audience=None, jwks_text=None,
                   display_uris: dict[str, str | None] | None = None,
                   brand_colors: dict[str, str] | None = None) -> dict:
    """The validated new values of the fields to change (model attribute -> value), or
    ClientError. Validates everything before the caller changes anything."""
    changes: dict = normalize_display_uris(display_uris or {},
                                           allow_loopback_http=loopback_http_allowed())
    if brand_colors:
        changes["brand_colors"] = normalize_brand_colors(brand_colors, client.brand_colors)
    if name is not None:
        changes["name"] = normalize_client_name(name)
    if redirect_uris:
        changes["redirect_uris"] = normalize_redirect_uris(list(redirect_uris),
                                                           public=client.is_public)
    if scope is not None:
        changes["scope"] = normalize_scope(scope)
        check_admin_registration(client.is_admin, public=client.is_public,
                                 grant_types=list(client.grant_types),
                                 scope=changes["scope"])
    if first_party is not None:
        changes["is_first_party"] = first_party
    if require_pkce is not None:
        if client.is_public and not require_pkce:
            raise ClientError("PKCE is always required of public clients.")
        changes["require_pkce"] = require_pkce
    if subject_type is not None:
        changes["subject_type"] = subject_type
    if id_token_alg is not None:
        changes["id_token_signed_response_alg"] = id_token_alg
    if audiences:
        changes["token_exchange_audiences"] = normalize_audiences(audiences)
    if post_logout_uris:
        changes["post_logout_redirect_uris"] = normalize_redirect_uris(
            list(post_logout_uris), public=client.is_public)
    if backchannel_logout_uri is not None:
        # The OP calls this URI itself, server to server: never a private-use scheme.
        check_redirect_uri(backchannel_logout_uri, public=False)
        changes["backchannel_logout_uri"] = backchannel_logout_uri
    if resources:
        changes["resources"] = normalize_resources(resources)
    if resource_server_audience is not None and \
            resource_server_audience != client.resource_server_audience:
        changes["resource_server_audience"] = normalize_resource_server_audience(
            resource_server_audience, public=client.is_public)
    if jwks_text is not None:
        if client.is_public:
            raise ClientError("A public client has no keys: it authenticates with "
                              "client_id alone.")
        try:
            changes["jwks"] = normalize_client_jwks(jwks_text)
        except ValueError as error:
            raise ClientError(str(error)) from None
    if auth_method is not None:
        if client.is_public:
            raise ClientError("A public client has no secret or keys: it authenticates "
                              "with client_id alone.")
        if auth_method == "private_key_jwt" and not changes.get("jwks", client.jwks):
            raise ClientError("private_key_jwt needs the client's public keys: give "
                              "--jwks FILE.")
        changes["token_endpoint_auth_method"] = auth_method
    return {field: value for field, value in changes.items()
            if getattr(client, field) != value}


def normalize_audiences(audiences: tuple[str, ...]) -> list[str]:
    """Token-exchange audiences to store: non-empty printable ASCII without spaces,
    duplicates dropped, or ClientError."""
    chosen = list(dict.fromkeys(audiences))
    if len(chosen) > MAX_AUDIENCES:
        raise ClientError(f"A client has at most {MAX_AUDIENCES} token-exchange audiences.")
    for audience in chosen:
        if (not audience or len(audience) > MAX_AUDIENCE_LENGTH or not audience.isascii()
                or any(ch.isspace() or not ch.isprintable() for ch in audience)):
            raise ClientError(f"Audience {audience!r} must be 1-{MAX_AUDIENCE_LENGTH} ASCII "
                              "characters without spaces.")
    return chosen


@clients_cli.command("delete")
@click.argument("client_id")
@json_option
def delete_client_command(client_id: str, as_json: bool) -> None:
    """Delete a client and revoke every token and consent it holds."""
    client = require_client(client_id)
    now = utcnow()
    revoked = db.session.execute(
        db.update(IssuedToken).where(IssuedToken.client_id == client.client_id,
                                     IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now)).rowcount
    db.session.execute(
        db.update(Consent).where(Consent.client_id == client.client_id,
                                 Consent.revoked_at.is_(None)).values(revoked_at=now))
    record_event("client.deleted", cli_origin(), None, client_id=client.client_id,
                 name=client.name, grants_revoked=revoked)
    db.session.delete(client)
    db.session.commit()
    emit(as_json, {"client_id": client_id, "deleted": True, "grants_revoked": revoked},
         [f"Deleted client {client_id}; revoked {revoked} token grant(s)."])


@clients_cli.command("rotate-secret")
@click.argument("client_id")
@json_option
def rotate_secret_command(client_id: str, as_json: bool) -> None:
    """Give a confidential client a new secret, printed here only; the old one stops
    working at once. Tokens already issued stay valid."""
    client = require_client(client_id)
    if client.is_public:
        fail("A public client has no secret to rotate.")
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = keyed_hash(SECRET_HASH_PURPOSE, secret)
    record_event("client.secret_rotated", cli_origin(), None, client_id=client.client_id)
    db.session.commit()
    emit(as_json, {"client_id": client.client_id, "client_secret": secret},
         [f"client_id:     {client.client_id}", f"client_secret: {secret}",
          "Store the secret now: it is not kept and cannot be shown again."])


def require_client(client_id: str) -> OAuthClient:
    """The client with this client_id, or exit 1."""
    client = get_client(client_id) if len(client_id) <= 48 else None
    if client is None:
        fail(f"No client has client_id {client_id!r}.", EXIT_NOT_FOUND)
    return client


def client_json(client: OAuthClient) -> dict:
    """What the client commands print about a client: no secret and no hash."""
    return client_settings(client)


def client_lines(payload: dict) -> list[str]:
    """A client (as `client_json` gives it) in lines for people."""
    return [
        f"client_id:     {payload['client_id']}",
        f"name:          {payload['name']}",
        f"type:          {client_kind(payload)}"
        f"{', first party' if payload['first_party'] else ''}",
        f"redirect URIs: {' '.join(payload['redirect_uris']) or '-'}",
        f"grant types:   {' '.join(payload['grant_types'])}",
        f"scope:         {payload['scope']}",
        *(f"{name + ':':<15}{payload[name]}" for name in DISPLAY_URIS if payload.get(name)),
    ]


def client_kind(payload: dict) -> str:
    """The kind of client, for people: "public" or "confidential"."""
    return "public" if payload["public"] else "confidential"


# ---- keys --------------------------------------------------------------------------------


@keys_cli.command("rotate")
@click.option("--alg", "algorithms", multiple=True, type=click.Choice(SIGNING_ALGORITHMS),
              help="Rotate only this algorithm's key; repeat for more (default: all).")
@json_option
def rotate_keys_command(algorithms: tuple[str, ...], as_json: bool) -> None:
    """Retire each active key, promote the published next key, publish a new next key.

    The retired key stays in /jwks.json until every token it signed has expired.
    """
    changes = rotate_keys(cli_origin(), tuple(dict.fromkeys(algorithms)) or SIGNING_ALGORITHMS)
    db.session.commit()
    emit(as_json, changes, [f"{c['alg']}: retired {c['retired']}, active {c['active']}, "
                            f"next {c['next']}" for c in changes])


@keys_cli.command("list")
@json_option
def list_keys_command(as_json: bool) -> None:
    """List the signing keys, oldest first (never their private parts)."""
    now = utcnow()
    rows = db.session.scalars(db.select(SigningKey).order_by(SigningKey.id))
    payloads = [signing_key_json(row, now) for row in rows]
    emit(as_json, payloads, [f"{p['kid']}  {p['alg']:<7}  {p['status']:<7}  "
                             f"{'published' if p['published'] else 'unpublished'}"
                             f"{'  until ' + p['publish_until'] if p['publish_until'] else ''}"
                             for p in payloads])


def signing_key_json(row: SigningKey, now) -> dict:
    """What `keys list` prints about a key: public facts only."""
    def when(moment):
        return None if moment is None else moment.isoformat()
    return {
        "kid": row.kid, "alg": row.alg, "status": row.status,
        "published": row.status in ("active", "next")
        or (row.publish_until is not None and row.publish_until > now),
        "created_at": when(row.created_at), "activated_at": when(row.activated_at),
        "retired_at": when(row.retired_at), "publish_until": when(row.publish_until),
    }


# ---- shared ------------------------------------------------------------------------------


def fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    """Roll back, print `message` on stderr and exit with `status` (2 bad input, 1 not found)."""
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(status)


def emit(as_json: bool, payload: object, lines: list[str]) -> None:
    """Print `payload` as JSON for scripts (--json), or else `lines` for people."""
    if as_json:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    for line in lines:
        click.echo(line)


# ---- phones ------------------------------------------------------------------------------

@phones_cli.command("sweep")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Check at most this many dormant bindings in this run.")
@json_option
def sweep_phones_command(limit: int, as_json: bool) -> None:
    """Re-check dormant phone bindings and mark recycled numbers (run it daily). The sweep
    commits binding by binding itself (see app/phones/sweep.py)."""
    result = sweep(cli_origin(), limit=limit)
    emit(as_json, {"checked": result.checked, "recycled": result.recycled,
                   "unknown": result.unknown},
         [f"Checked {result.checked} dormant phone bindings: {result.recycled} recycled, "
          f"{result.unknown} could not be checked."])
