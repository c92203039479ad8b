"""Operator commands: ``flask --app wsgi idp ...``. Thin: parse, call one domain function, print."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import date, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from idp import demo, maintenance
from idp.identity import accounts, ldap, lookup
from idp.identity import sync as directory_sync
from idp.mfa import totp
from idp.oidc import backchannel, end_session
from idp.oidc.clients_cli import client_group
from idp.oidc.keys_cli import keys_group
from idp.oidc.logout_cli import logout_group
from idp.storage import utcnow
from idp.storage.subjects import Subject

idp_group = AppGroup("idp", help="dangnhap administration.")
user_group = AppGroup("user", help="Citizens' local accounts.")
demo_group = AppGroup("demo", help="Demo data for development.")
idp_group.add_command(user_group)
idp_group.add_command(demo_group)
idp_group.add_command(keys_group)
idp_group.add_command(client_group)
idp_group.add_command(logout_group)


def _tells_applications(command: Callable[..., None]) -> Callable[..., None]:
    """For commands that may end sessions: send the queued back-channel logout tokens before exiting
    (this short-lived process's background sender would die with it; retries stay with the workers)."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        command(*args, **kwargs)
        outcomes = backchannel.deliver_due(utcnow())
        if outcomes:
            click.echo("back-channel logout: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))

    return run


def _read_password() -> str:
    """The password from standard input: first line, without its line ending, never echoed."""
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise click.UsageError("no password on standard input")
    return password


def _birthdate(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--birthdate") from exc


def _run(action, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call a domain action and turn its refusal into a clean CLI error (exit status 1)."""
    try:
        return action(*args, **kwargs)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@user_group.command("create")
@click.option("--id-number", required=True, help="12-digit personal identification number.")
@click.option("--name", "full_name", required=True, help="Full name, family name first.")
@click.option("--email", default=None, help="E-mail address (counts as verified).")
@click.option("--phone", default=None)
@click.option("--address", default=None)
@click.option("--birthdate", default=None, help="YYYY-MM-DD")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
def user_create(id_number: str, full_name: str, email: str | None, phone: str | None, address: str | None,
                birthdate: str | None, password_stdin: bool) -> None:
    """Create a citizen account."""
    subject = _run(accounts.create_citizen, id_number_text=id_number, full_name=full_name,
                   password=_read_password(), email=email, phone=phone, address=address,
                   birthdate=_birthdate(birthdate))
    click.echo(f"created citizen sub={subject.sub}")


@user_group.command("set-password")
@click.argument("identifier")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@_tells_applications
def user_set_password(identifier: str, password_stdin: bool) -> None:
    """Set a citizen's password (ends their sessions)."""
    subject = _run(accounts.set_password, identifier, _read_password())
    click.echo(f"password set for sub={subject.sub}")


@user_group.command("lock")
@click.argument("identifier")
@_tells_applications
def user_lock(identifier: str) -> None:
    """Lock an account and end its sessions."""
    subject = _run(accounts.lock, identifier)
    click.echo(f"locked sub={subject.sub}")


@user_group.command("unlock")
@click.argument("identifier")
def user_unlock(identifier: str) -> None:
    """Unlock an account and clear its failed sign-in counter."""
    subject = _run(accounts.unlock, identifier)
    click.echo(f"unlocked sub={subject.sub}")


@user_group.command("sign-out-everywhere")
@click.argument("identifier")
@_tells_applications
def user_sign_out_everywhere(identifier: str) -> None:
    """End every session of an account; its applications are told (back-channel logout)."""
    subject = _run(accounts.require, identifier)
    end_session.sign_out_everywhere(subject, ip=None, actor="cli")
    click.echo(f"signed out everywhere: sub={subject.sub}")


@idp_group.command("purge")
@_tells_applications
def purge() -> None:
    """Delete what has expired (sessions are ended with single logout). Safe to run any time."""
    result = maintenance.purge(utcnow())
    click.echo(f"ended {result.sessions} expired sessions")
    for name, count in result.rows.items():
        click.echo(f"deleted {count} {name}")


ldap_group = AppGroup("ldap", help="The officials' directory.")
idp_group.add_command(ldap_group)


@ldap_group.command("sync")
@click.option("--changed-since", default=None,
              help="Only entries modified since this time (ISO 8601, e.g. 2026-11-26T08:00:00+07:00).")
@_tells_applications
def ldap_sync(changed_since: str | None) -> None:
    """Create, update and disable officials from the directory (full unless --changed-since)."""
    since = None
    if changed_since is not None:
        try:
            since = datetime.fromisoformat(changed_since)
        except ValueError as exc:
            raise click.BadParameter("expected an ISO 8601 time", param_hint="--changed-since") from exc
        if since.tzinfo is None:
            raise click.BadParameter("give a time zone (e.g. +07:00 or Z)", param_hint="--changed-since")
    try:
        summary = directory_sync.sync(since)
    except ldap.DirectoryUnavailable as exc:
        raise click.ClickException(f"directory unavailable: {exc}") from exc
    click.echo(f"{'incremental' if since else 'full'} sync: {summary.line()}")


@ldap_group.command("check")
def ldap_check() -> None:
    """Check the directory settings and reach every configured server."""
    directory = ldap.directory()
    if not directory.enabled:
        raise click.ClickException("IDP_LDAP_URLS is empty: no directory is configured")
    results = directory.check()
    for url, state in results:
        click.echo(f"{url}: {state}")
    if not any(state == "ok" for _, state in results):
        raise click.ClickException("no directory server is usable")


totp_group = AppGroup("totp", help="Second factor (authenticator apps).")
idp_group.add_command(totp_group)


def _subject(identifier: str) -> Subject:
    subject = lookup.find_subject(identifier)
    if subject is None:
        raise click.ClickException("no account with this identifier (ID number, e-mail or sub)")
    return subject


@totp_group.command("enroll")
@click.argument("identifier")
def totp_enroll(identifier: str) -> None:
    """Provision an authenticator for an account and print its otpauth:// URI (and recovery codes).

    For operators setting up a device on someone's behalf, and for automation: the credential is in
    force at once, replacing any previous one.
    """
    subject = _subject(identifier)
    uri, codes = totp.provision(subject, subject.email or subject.full_name)
    click.echo(uri)
    click.echo("recovery codes: " + " ".join(codes))


@totp_group.command("reset")
@click.argument("identifier")
def totp_reset(identifier: str) -> None:
    """Remove an account's authenticator and recovery codes (lost phone); audited."""
    subject = _subject(identifier)
    existed = totp.reset(subject, actor=None)
    click.echo(f"{'reset' if existed else 'nothing to reset for'} sub={subject.sub}")


@demo_group.command("seed")
def demo_seed() -> None:
    """Create the demo data once; print the demo credentials every time."""
    for line in demo.seed():
        click.echo(line)


def init_app(app: Flask) -> None:
    app.cli.add_command(idp_group)
