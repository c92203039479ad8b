"""Absolute URLs of our endpoints, built from the issuer (what relying parties were told).

The issuer may carry a path when dangnhap is served under one; ``url_for`` already includes the
mount point, so only the issuer's origin is prepended.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for


def issuer() -> str:
    return current_app.config["IDP_ISSUER"]


def endpoint(name: str, **values: str) -> str:
    parts = urlsplit(issuer())
    return f"{parts.scheme}://{parts.netloc}{url_for(name, **values)}"
