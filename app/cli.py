"""flask commands for operators and scripts: `flask customers ...` and `flask clients ...`.

Commands are thin: they parse options, call a service, commit once and print. Every command
takes `--json` for scripts. Errors go to stderr: bad input (a malformed or taken
identifier, a weak password, a mistyped customer ID, a bad redirect URI) exits with status
2 and changes nothing; a customer or client that does not exist exits with status 1.
"""
from __future__ import annotations

import json
import sys
from typing import NoReturn

import click
from flask import Flask
from flask.cli import AppGroup

from app.audit import Origin
from app.auth.login import set_password
from app.auth.passwords import PasswordRejected
from app.customers import (
    CustomerError,
    add_identifier,
    create_customer,
    find_customer,
    link_account,
    normalize_identifier,
    normalize_linked_account,
    unlink_account,
)
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, OAuthClient
from app.oidc.clients import (
    GRANT_TYPES,
    ClientError,
    create_client,
    ensure_demo_client,
    get_client,
    list_clients,
)

EXIT_NOT_FOUND = 1
EXIT_BAD_INPUT = 2

customers_cli = AppGroup("customers", help="Create, find and link customers.")
clients_cli = AppGroup("clients", help="Register and inspect OAuth clients.")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON for scripts instead of text for people.")


def register_cli(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(customers_cli)
    app.cli.add_command(clients_cli)


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
@click.option("--scope", help='Space-separated scopes (default: "openid profile email phone").')
@json_option
def create_client_command(name: str, redirect_uris: tuple[str, ...], public: bool,
                          first_party: bool, grant_types: tuple[str, ...], scope: str | None,
                          as_json: bool) -> None:
    """Register an OAuth client. A confidential client's secret is printed here only."""
    try:
        client, secret = create_client(name, list(redirect_uris), public=public,
                                       first_party=first_party,
                                       grant_types=list(grant_types) or None, scope=scope,
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


def client_json(client: OAuthClient) -> dict:
    """What the client commands print about a client: no secret and no hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "first_party": client.is_first_party,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "created_at": client.created_at.isoformat(),
    }


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
    ]


def client_kind(payload: dict) -> str:
    """The kind of client, for people: "public" or "confidential"."""
    return "public" if payload["public"] else "confidential"


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
