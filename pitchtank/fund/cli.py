"""``flask --app pitchtank fund reconcile [--fix]``: the fund's Stripe payments against Stripe."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from pitchtank.fund import reconcile as reconciliation
from pitchtank.fund.stripe_gateway import stripe_enabled

fund_cli = AppGroup("fund", help="The capital fund's payments.")


@fund_cli.command("reconcile")
@click.option("--fix", is_flag=True,
              help="Repair what can be repaired: book missing successes and refunds, reverse bookings "
                   "Stripe does not back (always by new, reversing ledger entries).")
def reconcile_command(fix: bool):
    """Compare local Stripe payments with Stripe and report every difference.

    Exit status: 0 when everything agrees (or was repaired), 1 when differences remain,
    2 when Stripe is not configured."""
    if not stripe_enabled():
        click.echo("Stripe is not configured: set STRIPE_SECRET_KEY.", err=True)
        raise SystemExit(2)
    differences = reconciliation.reconcile(fix=fix)
    click.echo(reconciliation.format_table(differences))
    remaining = [d for d in differences if not d.fixed]
    if differences:
        fixed = len(differences) - len(remaining)
        click.echo(f"\n{len(differences)} difference(s); {fixed} fixed, {len(remaining)} remaining."
                   + ("" if fix or not remaining else " Run with --fix to repair what can be repaired."))
    if remaining:
        raise SystemExit(1)


@fund_cli.command("notify-overdue")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day to judge by (default: today in Mexico City).")
def notify_overdue_command(today):
    """Email each company whose call line is past due with money still owed — once per line.

    Run it daily (cron or a systemd timer); running it again mails nobody twice."""
    from pitchtank.core.timefields import local_today
    from pitchtank.extensions import db
    from pitchtank.notices.facts import queue_overdue_notices

    day = today.date() if today else local_today()
    found = queue_overdue_notices(day)
    db.session.commit()  # the emails go out after the commit (and `flask notices send` retries)
    click.echo(f"{found} call line(s) overdue on {day.isoformat()}.")
