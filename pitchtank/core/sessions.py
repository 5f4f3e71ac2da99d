"""The signed-cookie session, minus ``Vary: Cookie`` on answers that are the same for everyone.

Flask marks the session as accessed whenever anything looks at it (Flask-Login does on every
response), and then answers ``Vary: Cookie``: a CDN or browser cache keeps one copy per cookie,
which defeats caching of public reads. A view whose answer does not depend on who asks calls
``same_for_everyone()``; its response then carries no ``Vary: Cookie`` and sets no cookie,
unless the view changed the session on purpose.
"""

from __future__ import annotations

from flask import Flask, g
from flask.sessions import SecureCookieSessionInterface

_FLAG = "pitchtank_same_for_everyone"


def same_for_everyone() -> None:
    """Declare that this request's answer does not depend on the session cookie."""
    setattr(g, _FLAG, True)


class PublicAwareSessionInterface(SecureCookieSessionInterface):
    def save_session(self, app: Flask, session, response) -> None:
        if g.get(_FLAG) and not session.modified:
            return  # nothing to store, and the answer does not vary with the cookie
        super().save_session(app, session, response)
