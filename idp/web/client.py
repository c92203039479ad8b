"""Facts about the client of the current request, in one place so every caller agrees."""

from __future__ import annotations

from flask import request


def ip() -> str:
    """The client's address (behind trusted proxies, ProxyFix has already put it in remote_addr)."""
    return request.remote_addr or "unknown"


def user_agent() -> str | None:
    return request.headers.get("User-Agent")
