"""Liveness for load balancers: answers 200 when this process can reach the database, else 503."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from idp import storage

bp = Blueprint("health", __name__)
logger = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        storage.ping()
    except SQLAlchemyError:
        logger.exception("health check: database unreachable")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok"), 200
