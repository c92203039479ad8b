"""Operator command for single logout: ``flask --app wsgi idp logout deliver``.

Every worker sends back-channel logout tokens in the background; this runs one round by hand or from
cron, e.g. after a command that ended sessions has exited. It is safe next to running workers: each
delivery is claimed by one sender at a time.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from idp.storage import utcnow

from . import backchannel
from .backchannel import Outcome

logout_group = AppGroup("logout", help="Single logout: back-channel logout tokens for the applications.")


@logout_group.command("deliver")
def deliver() -> None:
    """Attempt once each back-channel delivery that is due now."""
    outcomes = backchannel.deliver_due(utcnow())
    click.echo(f"delivered {outcomes[Outcome.DELIVERED]}, will retry {outcomes[Outcome.RETRIED]}, "
               f"failed {outcomes[Outcome.FAILED]}")
