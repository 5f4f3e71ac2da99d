"""The command line: seed-demo and users create."""

from __future__ import annotations

from sqlalchemy import func, select

from config import ProductionConfig
from pitchtank import create_app
from pitchtank.accounts.models import Role, User
from pitchtank.events.models import PitchSession
from pitchtank.fund.models import Fund
from pitchtank.organizations.models import Organization
from pitchtank.ventures.models import Venture


def test_seed_demo_fills_an_empty_database_and_prints_the_logins(app, db):
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "organizador@demo.pitchtank.mx" in result.output and "demo-pitchtank" in result.output
    assert db.session.scalar(select(func.count(Venture.id))) >= 12
    session = db.session.scalar(select(PitchSession).order_by(PitchSession.id))
    assert len(session.pitches) >= 8 and len(session.judges) == 5
    assert db.session.scalar(select(func.count(Fund.id))) == 1
    again = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "not seeded" in again.output
    assert db.session.scalar(select(func.count(Venture.id))) == 12


def test_seed_demo_refuses_in_production(app, db):
    class Production(ProductionConfig):
        SECRET_KEY = "x" * 32
        PUBLIC_URL = "https://pitchtank.test"
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    production = create_app(Production)
    with production.app_context():  # else the command would run in the test app's context
        result = production.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1 and "refuses" in result.output
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_users_create_makes_an_investor_with_a_new_company(app, db):
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "--email", "Ana@Empresa.MX", "--name", "Ana", "--role", "investor",
        "--password", "una-contraseña-larga", "--organization", "Empresa Nueva"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ana@empresa.mx"))
    assert user.has_role(Role.INVESTOR) and user.organization.name == "Empresa Nueva"
    assert user.password_hash.startswith("scrypt:")


def test_users_create_refuses_bad_input_and_writes_nothing(app, db):
    runner = app.test_cli_runner()
    investor_without_company = runner.invoke(args=[
        "users", "create", "--email", "x@y.mx", "--name", "X", "--role", "investor", "--password", "0123456789"])
    assert investor_without_company.exit_code == 1 and "organization" in investor_without_company.output
    short_password = runner.invoke(args=[
        "users", "create", "--email", "x@y.mx", "--name", "X", "--role", "judge", "--password", "123"])
    assert short_password.exit_code == 1
    unknown_role = runner.invoke(args=[
        "users", "create", "--email", "x@y.mx", "--name", "X", "--role", "king", "--password", "0123456789"])
    assert unknown_role.exit_code == 2
    assert db.session.scalar(select(func.count(User.id))) == 0
    assert db.session.scalar(select(func.count(Organization.id))) == 0
