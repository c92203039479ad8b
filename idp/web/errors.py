"""Error pages in the site's style: a clear message, a way back, never a stack trace.

Unexpected exceptions are logged with their traceback (server side only) and answered with the
generic 500 page; whatever the request had started is rolled back.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from idp import storage

logger = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Invalid request"), _l("The request could not be understood. Please go back and try again.")),
    403: (_l("Access denied"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("The page you are looking for does not exist or has moved.")),
    405: (_l("Method not allowed"), _l("This page cannot be used this way.")),
    413: (_l("Request too large"), _l("The data sent is too large.")),
    429: (_l("Too many requests"), _l("Please wait a moment and try again.")),
    500: (_l("System error"), _l("Something went wrong on our side. Please try again later.")),
    503: (_l("Service unavailable"), _l("The service is temporarily unavailable. Please try again shortly.")),
}
CSRF_MESSAGE = (_l("Form expired"), _l("This form has expired or was not sent from our page. Please try again."))


def render_error(status: int, title: str | None = None, message: str | None = None) -> tuple[str, int]:
    default_title, default_message = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    return render_template("errors/error.html", status=status, title=title or default_title,
                           message=message or default_message), status


API_PATHS_KEY = "dangnhap.api_paths"
_API_ERRORS = {401: "invalid_client", 404: "not_found", 405: "invalid_request", 413: "invalid_request",
               429: "temporarily_unavailable", 503: "temporarily_unavailable"}


def register_api_paths(app: Flask, prefixes: tuple[str, ...]) -> None:
    """Requests under these path prefixes come from programs: answer their errors in JSON."""
    app.extensions[API_PATHS_KEY] = app.extensions.get(API_PATHS_KEY, ()) + prefixes


def _wants_json() -> bool:
    return request.path.startswith(current_app.extensions.get(API_PATHS_KEY, ()))


def _json_error(status: int) -> tuple[Response, int]:
    error = _API_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")
    return jsonify(error=error, error_description=HTTP_STATUS_CODES.get(status, "error")), status


def _http_error(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error
    if _wants_json():
        body, status = _json_error(error.code)
    elif isinstance(error, CSRFError):
        body, status = render_error(400, *CSRF_MESSAGE)
    else:
        body, status = render_error(error.code)
    response = make_response(body, status)
    # Keep what the error itself says in headers (e.g. Allow on 405, RFC 9110 §15.5.6).
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(error: Exception) -> tuple[str, int] | tuple[Response, int]:
    storage.rollback()
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        error = error.original_exception
    logger.error("unhandled error", exc_info=error)
    return _json_error(500) if _wants_json() else render_error(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
