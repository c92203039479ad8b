"""The protocol's HTTP endpoints: thin views over flow, the Authlib server and the userinfo answer."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.datastructures import MultiDict

from idp.storage import writing
from idp.web import prebuilt, sso_cookie

from . import discovery, early_authorization, flow, keys, server
from . import userinfo as userinfo_answer
from .responses import interaction_page, redirect, to_client

bp = Blueprint("oidc", __name__)
bp.register_error_handler(OAuth2Error, server.answer_error)



def _params() -> MultiDict[str, str]:
    return request.args if request.method == "GET" else request.form


def answer(decision: flow.Decision) -> Response | tuple[str, int]:
    """Turn a flow decision into the HTTP response: error page, client redirect or portal page."""
    if isinstance(decision, flow.Untrusted):
        return render_template("oidc/untrusted.html", reason=decision.reason), 400
    if isinstance(decision, flow.ToClient):
        return to_client(decision.redirect_uri, decision.response_mode, decision.state, **decision.params)
    return redirect(interaction_page(decision.uid, decision.prompt, login_hint=decision.login_hint,
                                     ui_locales=decision.ui_locales))


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    decision = early_authorization.decided(request.environ)  # a GET may have been decided already
    return answer(decision or flow.authorize(_params(), sso_cookie.current_record()))


@bp.get("/authorize/resume/<uid>")
def resume(uid: str) -> Response | tuple[str, int]:
    """Where earlier releases sent the browser after each step. The pages now resume in their own
    response, but during a rolling upgrade a redirect issued by an older worker may arrive here."""
    return answer(flow.resume(flow.parked(uid), sso_cookie.current_record()))


@bp.post("/token")
def token() -> Response:
    keys.prepare()
    # Committed whatever the outcome: a refused reuse of a code or refresh token revokes its grant.
    # Every grant writes through plain statements, so the change commits on a connection of its own.
    with writing():
        return server.get().create_token_response()


def _bearer_error(status: int, error: str | None = None, description: str | None = None) -> Response:
    challenge = "Bearer"
    if error:
        challenge += f' error="{error}"' + (f', error_description="{description}"' if description else "")
    response = jsonify({"error": error, "error_description": description} if error else {})
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    return response


def _presented_token() -> tuple[str | None, bool]:
    """The access token from the Authorization header or the form body (RFC 6750 §2.1, §2.2)."""
    header = request.headers.get("Authorization", "")
    in_form = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded" \
        and "access_token" in request.form
    if header and in_form:
        return None, True  # two methods at once is a malformed request (RFC 6750 §2)
    if header:
        return userinfo_answer.token_in_header(header)
    if in_form:
        return request.form["access_token"], False
    return None, False


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    token, malformed = _presented_token()
    if malformed:
        return _bearer_error(400, "invalid_request", "malformed authorization")
    if token is None:
        return _bearer_error(401)
    try:
        body = userinfo_answer.claims_of(token)
    except userinfo_answer.Refused as refused:
        return _bearer_error(refused.status, refused.error, refused.description)
    return Response(prebuilt.json_document(body), mimetype="application/json")


# OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same document at both well-known paths.
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@bp.get(METADATA_PATHS[0])
@bp.get(METADATA_PATHS[1])
def provider_metadata() -> Response:
    response = Response(discovery.document(), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
