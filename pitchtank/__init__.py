"""PitchTank: pitch events, live judging and the cluster capital fund."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, INSTANCE_DIR, Config, config_from_environment


def create_app(config: type[Config] | None = None, **overrides) -> Flask:
    """Build the application: wire extensions, blueprints, error handlers and commands."""
    config = config or config_from_environment()
    config.validate()
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
    )
    app.config.from_object(config)
    app.config.update(overrides)
    if not app.testing and not app.debug:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from pitchtank.core import observability

    observability.init_app(app)  # first: logging is configured before anything logs

    from pitchtank import models  # noqa: F401  (every model registered before mappers configure)
    from pitchtank.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)

    from pitchtank import live
    from pitchtank.core import i18n, security

    live.init_app(app)

    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    i18n.init_app(app)
    security.init_app(app)

    from pitchtank.accounts import auth_loader

    login_manager.init_app(app)
    auth_loader.init_app(app)

    from pitchtank.core.error_handlers import register_error_handlers

    register_error_handlers(app)
    from pitchtank.core import input_guard
    from pitchtank.core.routing import IdConverter

    input_guard.init_app(app)
    app.url_map.converters["int"] = IdConverter  # before any rule is added
    _register_blueprints(app)

    from pitchtank.cli import register_commands

    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from pitchtank.accounts.routes import bp as accounts_bp
    from pitchtank.accounts.two_factor_routes import bp as two_factor_bp
    from pitchtank.api import bp as api_bp
    from pitchtank.audit.routes import bp as audit_bp
    from pitchtank.core.routes import bp as core_bp
    from pitchtank.events.routes import bp as events_bp
    from pitchtank.fund.routes import bp as fund_bp
    from pitchtank.invitations.routes import bp as invitations_bp
    from pitchtank.judging.console import bp as console_bp
    from pitchtank.judging.screens import bp as screens_bp
    from pitchtank.judging.tablet import bp as tablet_bp
    from pitchtank.organizations.routes import bp as organizations_bp
    from pitchtank.privacy.routes import bp as privacy_bp
    from pitchtank.ventures.routes import bp as ventures_bp

    for blueprint in (
        core_bp,
        accounts_bp,
        two_factor_bp,
        ventures_bp,
        events_bp,
        organizations_bp,
        invitations_bp,
        console_bp,
        screens_bp,
        tablet_bp,
        fund_bp,
        audit_bp,
        privacy_bp,
        api_bp,
    ):
        app.register_blueprint(blueprint)

