"""The JSON Web Key Set endpoint (RFC 7517 §5), where relying parties find our public signing keys.

Caching it for five minutes is safe: a key is published a whole rotation before it signs, and a
retired key stays published as long as anything it signed lives.
"""

from __future__ import annotations

from flask import Blueprint, Response

from . import keys

bp = Blueprint("jwks", __name__)
PATH = "/jwks"


@bp.get(PATH)
def jwks() -> Response:
    response = Response(keys.jwks_document(), mimetype="application/json")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    # Public keys: browser-based relying parties on other origins may fetch them.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
