"""The OAuth 2.0 / OpenID Connect protocol, on Authlib.

It never renders a sign-in form and never talks to an identity source: when the person must act, it
stores the request as an interaction and hands over to the portal, then resumes.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the protocol's endpoints (one blueprint per endpoint module)."""
