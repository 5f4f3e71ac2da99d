"""Response headers and CSRF enforcement for pages and the API."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError

from pitchtank.extensions import csrf

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Endpoints that authenticate by other means than the browser session. Exchanging email and
# password for a bearer token sets no cookie and its answer is unreadable cross-site, so it
# cannot be forged usefully, while API clients have no CSRF token to send. Stripe's webhook
# carries no cookie and is authenticated by its Stripe-Signature over the raw body.
CSRF_EXEMPT_ENDPOINTS: set[str] = {"api.create_token", "api.stripe_webhook"}


def _carries_valid_bearer_token() -> bool:
    from pitchtank.accounts.auth_loader import bearer_token, token_is_valid

    token = bearer_token()
    return token is not None and token_is_valid(token)


def protect_from_csrf() -> None:
    """Every unsafe request carried by the browser's cookie needs the CSRF token.

    API calls with a valid bearer token carry no ambient credentials, so they cannot be
    forged; a made-up ``Authorization`` header next to a session cookie gets no pass.
    """
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method not in UNSAFE_METHODS or request.endpoint in CSRF_EXEMPT_ENDPOINTS:
        return
    # A valid token, or no session cookie at all, leaves no ambient credential to forge.
    if (
        request.path.startswith("/api/")
        and request.headers.get("Authorization", "").startswith("Bearer ")
        and (_carries_valid_bearer_token() or current_app.config["SESSION_COOKIE_NAME"] not in request.cookies)
    ):
        return
    csrf.protect()


def add_security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    from pitchtank.core.sessions import PublicAwareSessionInterface

    app.session_interface = PublicAwareSessionInterface()
    app.before_request(protect_from_csrf)
    app.after_request(add_security_headers)


__all__ = ["CSRFError", "init_app"]
