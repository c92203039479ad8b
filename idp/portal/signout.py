"""Signing out: our own page, the OpenID end-session endpoint, and "sign out everywhere".

All three end sessions through ``idp.oidc.end_session`` and show the same signed-out page, which
loads the applications' front-channel logout pages in hidden frames and then, when an application
asked for it with a registered URI, returns the browser there.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import make_response, redirect, render_template, request, session
from werkzeug.wrappers import Response

from idp.oidc import client_cache, end_session
from idp.web import client, csrf, sso_cookie
from idp.web.security_headers import CSP, let_forms_go_to, source_of

from . import bp


def _return_uri(done: end_session.SignedOut) -> str | None:
    if done.redirect_uri is None:
        return None
    separator = "&" if urlsplit(done.redirect_uri).query else "?"
    return done.redirect_uri + (separator + urlencode({"state": done.state}) if done.state else "")


def signed_out_page(done: end_session.SignedOut) -> Response:
    """The end of every sign-out: front-channel frames, then back to the application if it asked."""
    back = _return_uri(done)
    if back is not None and not done.frontchannel:
        response = redirect(back)
    else:
        response = make_response(render_template("portal/signed_out.html", frames=done.frontchannel, back=back))
        if done.frontchannel:
            origins = " ".join(sorted({source for uri in done.frontchannel if (source := source_of(uri))})) or "'none'"
            response.headers["Content-Security-Policy"] = f"{CSP}; frame-src {origins}"
    session.pop("csrf_token", None)
    sso_cookie.clear_cookie(response)
    return response


def _confirm(fields: dict[str, str]) -> str:
    """The confirmation page; its form returns the browser to the application when it asked."""
    if return_uri := fields.get("post_logout_redirect_uri"):
        let_forms_go_to(request.environ, return_uri)
    client_id = fields.get("client_id")
    app = client_cache.lookup(client_id)
    return render_template("portal/logout.html", fields=fields, app_name=app.client_name if app else None)


@bp.get("/logout")
def logout_page() -> Response | str:
    if sso_cookie.current_including_pending() is None:
        return signed_out_page(end_session.SignedOut())
    return _confirm({})


@bp.post("/logout")
def logout_submit() -> Response | tuple[str, int]:
    """Our own sign-out button, and the confirmation of an end-session request (both CSRF-checked)."""
    try:
        wanted = end_session.parse(request.form)
    except end_session.InvalidLogoutRequest:
        return render_template("oidc/logout_error.html"), 400
    # A session still owing its second factor is ended too.
    return signed_out_page(end_session.finish(wanted, sso_cookie.current_including_pending(), ip=client.ip()))


@bp.route("/session/end", methods=["GET", "POST"])
@csrf.exempt
def end_session_endpoint() -> Response | tuple[str, int] | str:
    """OpenID RP-Initiated Logout: applications send the browser here (GET or form POST)."""
    params = request.args if request.method == "GET" else request.form
    try:
        wanted = end_session.parse(params)
    except end_session.InvalidLogoutRequest:
        return render_template("oidc/logout_error.html"), 400
    current = sso_cookie.current()
    if end_session.needs_confirmation(wanted, current):
        return _confirm(wanted.as_form())
    return signed_out_page(end_session.finish(wanted, current, ip=client.ip()))


@bp.post("/account/sign-out-everywhere")
def sign_out_everywhere() -> Response:
    current = sso_cookie.current()
    if current is None:
        return signed_out_page(end_session.SignedOut())
    frames = end_session.sign_out_everywhere(current.subject, ip=client.ip())
    return signed_out_page(end_session.SignedOut(frames))
