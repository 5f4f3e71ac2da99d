"""WSGI entry point: ``gunicorn wsgi:app``."""

from pitchtank import create_app

app = create_app()
