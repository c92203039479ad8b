"""Operator commands for relying parties: ``flask --app wsgi idp client ...``.

Thin, like the rest of the CLI: options and files become RFC 7591 metadata, the registry decides. A
secret is printed once, when it is generated; only its hash is kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from . import client_metadata, client_registry
from .client_registry import Saved

client_group = AppGroup("client", help="Relying parties: the portals and apps that sign people in here.")

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn the registry's refusal into a clean CLI error (exit status 1)."""
    try:
        yield
    except client_registry.ClientError as exc:
        raise click.ClickException(str(exc)) from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: Windows editors may add a BOM
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: not a UTF-8 JSON file ({exc})") from exc


def _read_secret() -> str:
    """The chosen secret from standard input: first line, without its line ending."""
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise click.UsageError("no secret on standard input")
    return secret


def _echo_secret(client_id: str, secret: str) -> None:
    click.echo(f"  client_secret={secret}")
    click.echo(f"Store the secret of {client_id} now: it cannot be shown again.", err=True)


def _report(saved: Saved) -> None:
    if saved.created:
        click.echo(f"created {saved.client.client_id}")
    elif saved.changed:
        click.echo(f"updated {saved.client.client_id} ({', '.join(saved.changed)})")
    else:
        click.echo(f"unchanged {saved.client.client_id}")
    if saved.secret is not None:
        _echo_secret(saved.client.client_id, saved.secret)


@client_group.command("create")
@click.option("--client-id", help="Chosen client_id (default: generated).")
@click.option("--name", "client_name", required=True, help="Name shown to people, e.g. Cổng dịch vụ công.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeatable; matched exactly.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True, help="Repeatable.")
@click.option("--grant-type", "grant_types", multiple=True,
              help=f"Repeatable: {', '.join(client_metadata.GRANT_TYPES)} (default authorization_code).")
@click.option("--response-type", "response_types", multiple=True, help="Repeatable: code (the default).")
@click.option("--scope", help=f"Space-separated (default: {client_metadata.DEFAULT_SCOPE}).")
@click.option("--auth-method", "token_endpoint_auth_method",
              help=f"{', '.join(client_metadata.AUTH_METHODS)} (default client_secret_basic; none: public client).")
@click.option("--id-token-alg", "id_token_signed_response_alg", help="RS256 (default), ES256 or EdDSA.")
@click.option("--access-token-alg", "access_token_signed_response_alg", help="RS256 (default), ES256 or EdDSA.")
@click.option("--jwks-file", type=_FILE, help="JSON file with the client's public JWK set (private_key_jwt).")
@click.option("--jwks-uri", help="URL of the client's public JWK set (private_key_jwt).")
@click.option("--backchannel-logout-uri")
@click.option("--backchannel-logout-session-required/--no-backchannel-logout-session-required", default=None)
@click.option("--frontchannel-logout-uri")
@click.option("--frontchannel-logout-session-required/--no-frontchannel-logout-session-required", default=None)
@click.option("--skip-consent", is_flag=True, help="Trusted first-party app: no consent page.")
@click.option("--require-mfa", is_flag=True, help="Everyone signing in here needs a second factor.")
@click.option("--require-pkce/--no-require-pkce", default=None, help="Unset: the policy default.")
@click.option("--secret-stdin", is_flag=True, help="Read a chosen secret (32+ characters) from standard input.")
def client_create(jwks_file: Path | None, secret_stdin: bool, **options: Any) -> None:
    """Register a client; print its client_id and, once, its generated secret."""
    metadata = {name: list(value) if isinstance(value, tuple) else value
                for name, value in options.items() if value not in (None, ())}
    if jwks_file is not None:
        metadata["jwks"] = _read_json(jwks_file)
    chosen = _read_secret() if secret_stdin else None
    with _refusals():
        client, secret = client_registry.register(metadata, client_secret=chosen)
    click.echo(f"created client_id={client.client_id}")
    if secret is not None:
        _echo_secret(client.client_id, secret)


@client_group.command("import")
@click.argument("file", type=_FILE)
def client_import(file: Path) -> None:
    """Create or update the clients in FILE: a JSON list of metadata objects, each with its client_id.

    All or nothing: one refused entry (numbered from 0) and nothing is written. Importing again updates.
    """
    entries = _read_json(file)
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise click.ClickException(f"{file}: expected a JSON list of objects, one per client")
    with _refusals():
        results = client_registry.import_clients(entries)
    for saved in results:
        _report(saved)


@client_group.command("list")
def client_list() -> None:
    """One tab-separated line per client: client_id, name, auth method, grant types, enabled."""
    for client in client_registry.all_clients():
        state = "enabled" if client.enabled else "disabled"
        click.echo("\t".join((client.client_id, client.client_name, client.token_endpoint_auth_method,
                              ",".join(client.grant_types), state)))


@client_group.command("rotate-secret")
@click.argument("client_id")
def client_rotate_secret(client_id: str) -> None:
    """Replace a client's secret (the old one stops working now) and print the new one once."""
    with _refusals():
        secret = client_registry.rotate_secret(client_id)
    click.echo(f"rotated {client_id}")
    _echo_secret(client_id, secret)


@client_group.command("disable")
@click.argument("client_id")
def client_disable(client_id: str) -> None:
    """Stop a client from signing people in or getting tokens."""
    with _refusals():
        client_registry.set_enabled(client_id, False)
    click.echo(f"disabled {client_id}")


@client_group.command("enable")
@click.argument("client_id")
def client_enable(client_id: str) -> None:
    """Let a disabled client sign people in again."""
    with _refusals():
        client_registry.set_enabled(client_id, True)
    click.echo(f"enabled {client_id}")
