"""WSGI entry point: ``python -m idp.serve`` (granian) serves it; ``flask --app wsgi ...`` for commands."""

from idp import create_app

app = create_app()
