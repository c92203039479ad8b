"""Which steps the person must still take before a code can be issued, and why.

Declarative, as in node-oidc-provider's interaction policy: each rule looks at the request, the SSO
session and what this interaction already did, and names a prompt. ``prompt=none`` turns a needed
prompt into the error OIDC Core §3.1.2.6 defines for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idp.mfa import policy as mfa_policy
from idp.storage import grants
from idp.storage.clients import ClientRecord
from idp.storage.sessions import SessionRecord

from .authorization import AuthorizationRequest
from .errors import AuthorizationError

LOGIN = "login"
SECOND_FACTOR = "mfa"
CONSENT = "consent"
SELECT_ACCOUNT = "select_account"

_PROMPT_NONE_ERRORS = {
    LOGIN: "login_required",
    SELECT_ACCOUNT: "account_selection_required",
    # OIDC Core §3.1.2.6: more interaction than a sign-in is needed.
    SECOND_FACTOR: "interaction_required",
    CONSENT: "consent_required",
}


@dataclass(frozen=True)
class Progress:
    """What this interaction has already done (a fresh request has done nothing)."""

    signed_in_here: bool = False
    account_selected: bool = False
    consent_shown: bool = False


def _login_needed(request: AuthorizationRequest, session: SessionRecord | None, progress: Progress,
                  now: datetime) -> bool:
    if session is None:
        return True
    if progress.signed_in_here:
        return False
    if "login" in request.prompt:
        return True
    if request.max_age is not None and (now - session.auth_time).total_seconds() > request.max_age:
        return True
    # The request names someone else than the signed-in person: they must sign in as that person.
    return _someone_else(request, session)


def _someone_else(request: AuthorizationRequest, session: SessionRecord) -> bool:
    return request.expected_sub is not None and request.expected_sub != session.subject.sub


def _second_factor_needed(request: AuthorizationRequest, client: ClientRecord, session: SessionRecord) -> bool:
    """The session has no second factor, and the person, the client or the request asks for one
    (a password-only session is stepped up here)."""
    if "mfa" in session.amr.split():
        return False
    # The policy's facts come with the session: read with it, or by the sign-in that started it.
    return mfa_policy.requirement_for(session.subject, client=client, acr_values=request.acr_values,
                                      enrolment=session.enrolment).required


def _consent_needed(request: AuthorizationRequest, client: ClientRecord, session: SessionRecord,
                    progress: Progress) -> bool:
    if client.skip_consent:
        return False
    if "consent" in request.prompt and not progress.consent_shown:
        return True
    granted = grants.consent_for(session.subject_id, client.client_id)
    return granted is None or not request.consent_scopes() <= set(granted.scope.split())


def next_prompt(request: AuthorizationRequest, client: ClientRecord, session: SessionRecord | None,
                progress: Progress, now: datetime) -> str | None:
    """The first step still needed, or None when a code may be issued now."""
    needed: str | None = None
    if session is not None and progress.signed_in_here and _someone_else(request, session):
        # OIDC Core §3.1.2.1/§5.5.1: a positive answer only for the person the request named.
        raise AuthorizationError("login_required", "signed in as someone other than the request names")
    if _login_needed(request, session, progress, now):
        needed = LOGIN
    elif "select_account" in request.prompt and not progress.account_selected and not progress.signed_in_here:
        needed = SELECT_ACCOUNT
    elif session is not None and _second_factor_needed(request, client, session):
        needed = SECOND_FACTOR
    elif session is not None and _consent_needed(request, client, session, progress):
        needed = CONSENT
    if needed is not None and "none" in request.prompt:
        raise AuthorizationError(_PROMPT_NONE_ERRORS[needed], f"{needed} is required")
    return needed
