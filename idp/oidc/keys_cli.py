"""Operator commands for signing keys: ``flask --app wsgi idp keys rotate|list``."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from . import keys

keys_group = AppGroup("keys", help="Token signing keys (published at /jwks).")


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@keys_group.command("rotate")
@click.option("--alg", default=None, help="Only this algorithm (default: every one in IDP_SIGNING_ALGS).")
def rotate(alg: str | None) -> None:
    """Make each next key active; the active one retires but stays published while its tokens live."""
    try:
        promoted = keys.rotate(alg)
    except keys.UnknownAlgorithm as exc:
        raise click.BadParameter(str(exc), param_hint="--alg") from exc
    for key in promoted:
        click.echo(f"{key.alg} active kid={key.kid}")


@keys_group.command("list")
def list_keys() -> None:
    """The published keys: kid, algorithm, status, created, activated, retired, published until."""
    for key in keys.published():
        click.echo(f"{key.kid}  {key.alg:<6} {key.status.value:<8} created={_when(key.created_at)} "
                   f"activated={_when(key.activated_at)} retired={_when(key.retired_at)} "
                   f"publish_until={_when(key.publish_until)}")
