"""``flask --app pitchtank notices send``: deliver the outbox rows that are due.

Run it every minute in production (cron or a systemd timer): it sends what a background
delivery could not (the mail server was down, the worker restarted) with back-off.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from pitchtank.notices import services

notices_cli = AppGroup("notices", help="Email notices: the outbox.")


@notices_cli.command("send")
@click.option("--limit", default=500, show_default=True, help="At most this many emails in one run.")
@click.option("--retry-failed", is_flag=True, help="First give emails that ran out of attempts a fresh start.")
def send_command(limit: int, retry_failed: bool):
    """Deliver every queued email whose (next) attempt is due."""
    if retry_failed:
        click.echo(f"{services.revive_failed()} failed email(s) queued again.")
    outcomes = services.deliver_due(limit=limit)
    click.echo("sent {sent}, to retry {retry}, given up {failed}, skipped {skipped}".format(**outcomes))
    if outcomes["retry"] or outcomes["failed"]:
        raise SystemExit(1)
