"""Two demo portals that sign in with dangnhap: single sign-on across two apps, seen from the apps' side.

``python -m demo.portals`` (``make run`` starts it) serves, in one process, each portal that
``flask --app wsgi idp demo seed`` registered, on the loopback port of its redirect URI (5001 and 5002
unless DEMO_PORTAL_PORTS said otherwise at seed time). The seed wrote their client IDs and secrets to
instance/demo-portals.json; nothing is configured by hand. Environment: IDP_ISSUER (default
http://127.0.0.1:5000) and IDP_INSTANCE_PATH (default instance/), as for the provider.

Each portal is an ordinary Flask app: a home page with a "Đăng nhập" button, the code flow of
``relying_party`` behind /login and /callback, then the person's claims and a link to the other portal,
which signs in without a password. "Đăng xuất" clears the portal's own session only.

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
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from . import relying_party
from .relying_party import Pending, Provider, SignInFailed

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ISSUER = "http://127.0.0.1:5000"
PORTALS_FILE = "demo-portals.json"
EXTENSION = "demo_portal"
VIETNAM_TIME = timezone(timedelta(hours=7))  # UTC+7 all year

CSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

# Claims in the order shown, with their Vietnamese labels (OIDC Core §2 and §5.1, plus our org scope).
CLAIM_LABELS = {
    "name": "Họ và tên", "family_name": "Họ", "given_name": "Tên", "birthdate": "Ngày sinh",
    "email": "Email", "email_verified": "Email đã xác minh", "phone_number": "Số điện thoại",
    "phone_number_verified": "Số điện thoại đã xác minh", "address": "Địa chỉ",
    "preferred_username": "Tên đăng nhập", "locale": "Ngôn ngữ", "updated_at": "Hồ sơ cập nhật lúc",
    "org_unit": "Đơn vị", "roles": "Vai trò",
    "sub": "Mã người dùng (không phải số định danh)", "iss": "Hệ thống cấp", "aud": "Cấp cho ứng dụng",
    "azp": "Ứng dụng yêu cầu", "auth_time": "Đăng nhập lúc", "iat": "Cấp lúc", "exp": "Hết hạn lúc",
    "acr": "Mức độ xác thực", "amr": "Phương thức xác thực", "sid": "Mã phiên đăng nhập",
    "nonce": "Nonce (chống phát lại)", "at_hash": "Mã băm access token",
}
TIME_CLAIMS = frozenset({"auth_time", "iat", "exp", "updated_at"})


@dataclass(frozen=True)
class Portal:
    name: str
    client: relying_party.Client

    @property
    def home(self) -> str:
        parts = urlsplit(self.client.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}/"


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


def create_portal(portal: Portal, *, issuer: str, others: list[Portal]) -> Flask:
    """One portal app; ``others`` are the portals it links to."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # per process: a restart signs everyone out of the portals
        SESSION_COOKIE_NAME=f"{portal.client.client_id}_session",
        SESSION_COOKIE_SAMESITE="Lax",  # sent on the provider's top-level redirect to /callback
    )
    app.extensions[EXTENSION] = _Setup(portal, Provider(issuer), others)
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


@bp.get("/")
def home() -> tuple[str, int]:
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
    session["id_token_claims"] = signed_in.id_token_claims
    session["userinfo"] = signed_in.userinfo
    return redirect(url_for(".home"))


@bp.post("/logout")
def logout() -> Response:
    # Only this portal's own pages may sign the person out of it (browsers send Origin with every POST).
    if request.headers.get("Origin") != request.host_url.rstrip("/"):
        abort(403)
    session.clear()
    flash("Bạn đã đăng xuất khỏi cổng này. Phiên tại hệ thống đăng nhập một lần vẫn còn: "
          "bấm Đăng nhập để vào lại ngay, không cần mật khẩu.")
    return redirect(url_for(".home"))


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def claim_rows(claims: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, claim name, value as shown) for each claim: known ones in CLAIM_LABELS order, then the rest."""
    order = list(CLAIM_LABELS)
    names = sorted(claims, key=lambda n: (order.index(n) if n in CLAIM_LABELS else len(order), n))
    return [(CLAIM_LABELS.get(n, n), n, _shown(n, claims[n])) for n in names]


def _shown(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if name in TIME_CLAIMS and isinstance(value, int | float):
        return datetime.fromtimestamp(value, VIETNAM_TIME).strftime("%d/%m/%Y %H:%M")
    if name == "birthdate" and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value  # e.g. 0000-05-17 when the year is withheld (OIDC Core §5.1)
    if isinstance(value, dict):
        return str(value.get("formatted") or ", ".join(f"{k}: {v}" for k, v in value.items()))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


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
