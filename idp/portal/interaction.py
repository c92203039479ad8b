"""The person's side of an authorization request: choose an account, agree or refuse.

Each page loads the parked interaction, shows what it needs, records the person's answer through
``idp.oidc.interactions`` and sends the browser back to the protocol to resume.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.oidc import flow, interactions, prompt_policy
from idp.oidc.endpoints import answer
from idp.oidc.responses import interaction_page
from idp.web import sso_cookie
from idp.web.security_headers import let_forms_go_to

from . import bp

SCOPE_DESCRIPTIONS = {
    "openid": _l("Who you are on this system (a code, not your ID number)"),
    "profile": _l("Your name and profile"),
    "email": _l("E-mail"),
    "phone": _l("Phone number"),
    "address": _l("Address"),
    "org": _l("Your unit and roles"),
}


def _gone() -> tuple[str, int]:
    return render_template("oidc/untrusted.html", reason="interaction_expired"), 400


@bp.get("/interaction/<uid>")
def interaction(uid: str) -> Response | tuple[str, int] | str:
    parked = flow.parked(uid)
    if parked is None:
        return _gone()
    row, auth_request, client = parked
    # Choosing an account and consenting end at the application (a code, or access_denied).
    let_forms_go_to(request.environ, auth_request.redirect_uri)
    session = sso_cookie.current_record()
    prompt = prompt_policy.LOGIN if session is None else row.prompt
    if prompt in (prompt_policy.LOGIN, prompt_policy.SECOND_FACTOR):
        return redirect(interaction_page(uid, prompt, login_hint=auth_request.login_hint,
                                         ui_locales=auth_request.ui_locales))
    if prompt == prompt_policy.SELECT_ACCOUNT:
        return render_template("portal/select_account.html", uid=uid, client=client, subject=session.subject)
    scopes = [SCOPE_DESCRIPTIONS[s] for s in sorted(auth_request.consent_scopes(), key=list(SCOPE_DESCRIPTIONS).index)]
    return render_template("portal/consent.html", uid=uid, client=client, subject=session.subject, scopes=scopes)


@bp.post("/interaction/<uid>/select")
def select_account(uid: str) -> Response | tuple[str, int]:
    parked = flow.parked(uid)
    if parked is None:
        return _gone()
    row = parked[0]
    session = sso_cookie.current_record()
    if request.form.get("choice") == "continue" and session is not None:
        interactions.record_account_selected(row)
        return answer(flow.resume(parked, session))
    interactions.park(row, prompt_policy.LOGIN)
    return redirect(url_for("portal.login_page", interaction=uid))


@bp.post("/interaction/<uid>/consent")
def consent(uid: str) -> Response | tuple[str, int]:
    parked = flow.parked(uid)
    if parked is None:
        return _gone()
    session = sso_cookie.current_record()
    if request.form.get("decision") == "deny":
        return answer(flow.deny(parked))
    if session is None:
        return redirect(url_for("portal.interaction", uid=uid))
    interactions.record_consent(parked[0], session.subject)
    return answer(flow.resume(parked, session))
