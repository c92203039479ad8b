"""Two demo portals that sign in with dangnhap: single sign-on across two apps, seen from the apps' side.

``python -m demo.portals`` (``make run`` starts it) serves, in one process, each portal that
``flask --app wsgi idp demo seed`` registered, on the loopback port of its redirect URI (5001 and 5002
unless DEMO_PORTAL_PORTS said otherwise at seed time). The seed wrote their client IDs and secrets to
instance/demo-portals.json; nothing is configured by hand. Environment: IDP_ISSUER (default
http://127.0.0.1:5000) and IDP_INSTANCE_PATH (default instance/), as for the provider.

Each portal is an ordinary Flask app: a home page with a "Đăng nhập" button, the code flow of
``relying_party`` behind /login and /callback, then the person's claims and a link to the other portal,
which signs in without a password. "Đăng xuất" signs out everywhere (``single_logout``): the portal
ends its own session and sends the browser to the provider's end-session endpoint, which tells every
other portal of that session, by a logout token POSTed to /backchannel-logout and by loading
/frontchannel-logout in a hidden frame of its signed-out page; then the browser comes back here.

All three servers share the host 127.0.0.1, and cookies are per host, not per port: each portal names
its session cookie after its client ID, so it neither reads nor overwrites the others' (the provider's
are dn_sso and dn_form).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from . import relying_party, single_logout
from .claims import claim_rows, local_time
from .relying_party import Pending, Provider, SignInFailed
from .single_logout import Ended, EndedSessions, InvalidLogoutToken, LogoutNotice, SeenTokens

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ISSUER = "http://127.0.0.1:5000"
PORTALS_FILE = "demo-portals.json"
EXTENSION = "demo_portal"

# The sign-out form's answer is a redirect to the provider's end-session endpoint, and browsers check
# form-action on it: the provider's origin is named there ({provider}).
CSP = "default-src 'none'; style-src 'self'; form-action 'self' {provider}; frame-ancestors 'none'; base-uri 'none'"
# The front-channel logout page: nothing to load, framed by the provider's signed-out page and nobody else.
FRONTCHANNEL_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors {origin}"



@dataclass(frozen=True)
class Portal:
    name: str
    client: relying_party.Client

    @property
    def home(self) -> str:
        """Also the post_logout_redirect_uri; the logout URIs below share the redirect URI's origin."""
        parts = urlsplit(self.client.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}/"

    @property
    def backchannel_logout_uri(self) -> str:
        return self.home + "backchannel-logout"

    @property
    def frontchannel_logout_uri(self) -> str:
        return self.home + "frontchannel-logout"


def load_portals(instance_path: Path) -> list[Portal]:
    """The portals the seed registered, from instance/demo-portals.json."""
    path = instance_path / PORTALS_FILE
    if not path.exists():
        raise ValueError(f"{path} does not exist: run `flask --app wsgi idp demo seed` first (make run does)")
    entries = json.loads(path.read_text(encoding="utf-8"))["portals"]
    return [Portal(entry["client_name"], relying_party.Client(entry["client_id"], entry["client_secret"],
                                                             entry["redirect_uri"])) for entry in entries]


@dataclass(frozen=True)
class _Setup:
    """What a portal app's views need, kept in ``app.extensions``."""

    portal: Portal
    provider: Provider
    others: list[Portal]
    ended: EndedSessions  # sessions the provider has ended: their cookies are refused
    seen_tokens: SeenTokens  # logout tokens accepted, against replay


def create_portal(portal: Portal, *, issuer: str, others: list[Portal]) -> Flask:
    """One portal app; ``others`` are the portals it links to."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # per process: a restart signs everyone out of the portals
        SESSION_COOKIE_NAME=f"{portal.client.client_id}_session",
        SESSION_COOKIE_SAMESITE="Lax",  # sent on the provider's top-level redirect to /callback
    )
    app.extensions[EXTENSION] = _Setup(portal, Provider(issuer), others, EndedSessions(), SeenTokens())
    app.before_request(_drop_ended_session)
    app.register_blueprint(bp)
    app.after_request(_security_headers)
    return app


def create_portals(portals: list[Portal], issuer: str) -> list[Flask]:
    return [create_portal(p, issuer=issuer, others=[o for o in portals if o is not p]) for p in portals]


bp = Blueprint("portal", __name__)


def _here() -> _Setup:
    return current_app.extensions[EXTENSION]


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    here = _here()
    return render_template("portal.html", portal=here.portal, others=here.others, **context), status


def _signed_out_by_provider(ended: Ended | None) -> None:
    session.clear()
    if ended is None:
        flash("Phiên của bạn tại cổng này đã hết hạn. Vui lòng đăng nhập lại.")
        return
    at = local_time(ended.at, "%H:%M:%S")
    flash(f"Bạn đã được đăng xuất khỏi cổng này: phiên đăng nhập một lần đã kết thúc lúc {at} "
          f"(hệ thống đăng nhập báo cho cổng này qua {ended.how}).")


def _drop_ended_session() -> None:
    """Before every request: a session the provider has ended, or too old, is signed out here."""
    claims = session.get("id_token_claims")
    if claims is None:
        return
    signed_in_at = session.get("signed_in_at", 0.0)
    ended = _here().ended.ended(sid=claims.get("sid"), sub=claims["sub"], signed_in_at=signed_in_at)
    if ended is not None or time.time() - signed_in_at > single_logout.SESSION_LIFETIME_SECONDS:
        _signed_out_by_provider(ended)


@bp.get("/")
def home() -> Response | tuple[str, int]:
    if "state" in request.args:  # back from the provider's end-session endpoint
        return _back_from_logout(request.args["state"])
    if "id_token_claims" not in session:
        return _page()
    return _page(name=session["userinfo"].get("name") or session["id_token_claims"]["sub"],
                 id_token_rows=claim_rows(session["id_token_claims"]), userinfo_rows=claim_rows(session["userinfo"]))


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    here = _here()
    try:
        url, pending = relying_party.start(here.provider, here.portal.client)
    except SignInFailed as exc:
        return _page(502, error=exc.reason)
    session["pending"] = asdict(pending)
    return redirect(url)


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    here = _here()
    saved = session.pop("pending", None)
    try:
        signed_in = relying_party.finish(here.provider, here.portal.client,
                                         Pending(**saved) if saved else None, request.args.to_dict())
    except SignInFailed as exc:
        return _page(400, error=exc.reason)
    session.clear()  # a fresh session for the person who just signed in
    session["id_token"] = signed_in.id_token
    session["id_token_claims"] = signed_in.id_token_claims
    session["userinfo"] = signed_in.userinfo
    session["signed_in_at"] = time.time()
    return redirect(url_for(".home"))


@bp.post("/logout")
def logout() -> Response:
    """Sign out everywhere: this portal first, then the provider, which tells the other portals."""
    # Only this portal's own pages may sign the person out of it (browsers send Origin with every POST).
    if request.headers.get("Origin") != request.host_url.rstrip("/"):
        abort(403)
    here, id_token = _here(), session.get("id_token")
    session.clear()  # this portal's session ends now, whatever the provider answers
    if id_token is None:
        return redirect(url_for(".home"))
    try:
        url, state = single_logout.end_session_request(here.provider, here.portal.client, id_token, here.portal.home)
    except (SignInFailed, KeyError):  # unreachable, or no end_session_endpoint in its discovery document
        flash("Bạn đã đăng xuất khỏi cổng này, nhưng không liên lạc được với hệ thống đăng nhập: "
              "phiên đăng nhập một lần có thể vẫn còn.")
        return redirect(url_for(".home"))
    session["logout_state"] = state
    return redirect(url)


def _back_from_logout(state: str) -> Response | tuple[str, int]:
    # RP-Initiated Logout §3: state ties the return to the request this browser made.
    expected = session.pop("logout_state", None)
    if expected is None or not secrets.compare_digest(state, expected):
        return _page(400, error_title="Đăng xuất", error="Phản hồi đăng xuất không khớp với yêu cầu của cổng này.")
    flash("Bạn đã đăng xuất khỏi cổng này và khỏi hệ thống Đăng nhập một lần. "
          "Các ứng dụng khác bạn đã mở trong phiên đó cũng đã được báo để đăng xuất.")
    return redirect(url_for(".home"))


@bp.post("/backchannel-logout")
def backchannel_logout() -> Response:
    """Back-Channel Logout 1.0: the provider POSTs a logout token (§2.5); 200 once done, 400 if refused."""
    here = _here()
    tokens = request.form.getlist("logout_token")
    try:
        if len(tokens) != 1:
            raise InvalidLogoutToken("exactly one logout_token is expected")
        notice = single_logout.verify_logout_token(here.provider, here.portal.client, tokens[0], here.seen_tokens)
    except InvalidLogoutToken as exc:
        current_app.logger.warning("back-channel logout refused: %s", exc)
        # §2.8: 400 when the logout failed, optionally with an OAuth-style error.
        body = json.dumps({"error": "invalid_request", "error_description": str(exc)})
        return Response(body, 400, mimetype="application/json")
    here.ended.end(notice, "back-channel")
    return Response(status=200)


@bp.get("/frontchannel-logout")
def frontchannel_logout() -> Response:
    """Front-Channel Logout 1.0: loaded in a hidden frame of the provider's signed-out page."""
    here = _here()
    iss, sid = request.args.get("iss"), request.args.get("sid")
    # §3: the portal registered frontchannel_logout_session_required, so iss and sid come along, and
    # iss must be our provider's.
    if iss != here.provider.issuer or not sid:
        response = Response("Yêu cầu đăng xuất không hợp lệ.", 400, mimetype="text/plain")
    else:
        # The sid is remembered, not only matched against the cookie this frame brought: a browser
        # that withholds cookies from frames (third-party cookie blocking) is still signed out at its
        # next visit. A sid is unguessable, and the provider gives it only to the applications.
        here.ended.end(LogoutNotice(sub=None, sid=sid), "front-channel")
        _drop_ended_session()  # the cookie this frame brought, if it is that session's, is cleared now
        response = Response("<!doctype html><title>Đăng xuất</title><p>Đã đăng xuất.</p>", mimetype="text/html")
    response.headers["Content-Security-Policy"] = FRONTCHANNEL_CSP.format(origin=_origin(here.provider.issuer))
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP.format(provider=_origin(_here().provider.issuer)))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


class _QuietHandler(WSGIRequestHandler):
    """The provider's log already shows the flow; the portals log only errors."""

    def log_request(self, *args: Any) -> None:
        pass


def _server(portal: Portal, app: Flask) -> BaseWSGIServer:
    """A threaded server on the host and port of the portal's redirect URI (raises OSError if taken)."""
    parts = urlsplit(portal.home)
    return make_server(parts.hostname or "127.0.0.1", parts.port or 80, app, threaded=True,
                       request_handler=_QuietHandler)


def main() -> None:
    issuer = os.environ.get("IDP_ISSUER", DEFAULT_ISSUER)
    instance_path = Path(os.environ.get("IDP_INSTANCE_PATH") or PROJECT_ROOT / "instance")
    try:
        portals = load_portals(instance_path)
        apps = create_portals(portals, issuer)
        servers = [_server(portal, app) for portal, app in zip(portals, apps, strict=True)]
    except (OSError, ValueError) as exc:
        sys.exit(f"demo portals: {exc}")
    except SystemExit:  # werkzeug has printed which port is taken
        sys.exit("demo portals: not started; choose free ports with DEMO_PORTAL_PORTS='6001 6002' make run")
    for portal in portals:
        print(f"demo portal: {portal.home}  {portal.name}  (provider {issuer})", flush=True)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
