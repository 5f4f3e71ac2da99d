"""Command line: ``flask --app pitchtank seed-demo`` and ``flask --app pitchtank users create``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.audit.services import record
from pitchtank.core.errors import ValidationFailed
from pitchtank.extensions import db
from pitchtank.organizations.models import Organization

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", required=True, multiple=True,
              type=click.Choice([r.value for r in Role]), help="May be given more than once.")
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--organization", default=None, help="Member company (created if new); needed for investors.")
def create_user(email: str, name: str, roles: tuple[str, ...], password: str, organization: str | None):
    """Create a user with one or more roles."""
    org = None
    if organization:
        org = db.session.scalar(select(Organization).where(Organization.name == organization.strip()))
        if org is None:
            org = Organization(name=organization.strip())
            db.session.add(org)
    try:
        user = accounts.register_user(email=email, name=name, password=password,
                                      roles=[Role(r) for r in roles], organization=org, email_verified=True)
        record("user.created", actor=None, subject_type="user", subject_id=user.id,
               roles=sorted(set(roles)), source="command line")
        db.session.commit()
    except ValidationFailed as error:
        db.session.rollback()
        for field, messages in error.errors.items():
            for message in messages:
                click.echo(f"{field}: {message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Created user {user.id} <{user.email}> with roles {', '.join(sorted(roles))}.")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed_demo(if_empty: bool):
    """Fill the database with a realistic demo in Spanish and print the logins."""
    from pitchtank.demo import DEMO_LOGINS, DEMO_PASSWORD, ORGANIZER_EMAIL, seed

    if not current_app.config["DEMO_ALLOWED"]:
        click.echo("seed-demo refuses to run in the production configuration.", err=True)
        raise SystemExit(1)
    if if_empty and accounts.count_users() > 0:
        click.echo("The database already has users; demo not seeded.")
        if accounts.find_user_by_email(ORGANIZER_EMAIL) is None:
            return
        logins = DEMO_LOGINS
    else:
        logins = seed()
        db.session.commit()
        click.echo("Demo data created.")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for role, email in logins:
        click.echo(f"  {role:<13} {email}")


def register_commands(app: Flask) -> None:
    from pitchtank.fund.cli import fund_cli
    from pitchtank.notices.cli import notices_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(fund_cli)
    app.cli.add_command(notices_cli)
