"""Facts about the client of the current request, in one place so every caller agrees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import request

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def ip() -> str:
    """The client's address (behind trusted proxies, ProxyFix has already put it in remote_addr)."""
    return ip_of(request.environ)


def user_agent() -> str | None:
    return user_agent_of(request.environ)


def ip_of(environ: WSGIEnvironment) -> str:
    """``ip`` of the request ``environ``, also past Flask's request cycle (``idp.web.prebuilt``):
    werkzeug's ``remote_addr`` is this variable."""
    return environ.get("REMOTE_ADDR") or "unknown"


def user_agent_of(environ: WSGIEnvironment) -> str | None:
    """``user_agent`` of the request ``environ``: the one header werkzeug reads for it."""
    return environ.get("HTTP_USER_AGENT")
