"""Interactions: an authorization request parked while the person signs in, chooses or consents.

The portal calls the ``record_*`` functions when a step is done, then ``flow.resume`` in the same
request: the protocol re-evaluates the prompt policy, and the page's response carries its answer.
A step is recorded on the record the request goes on with, and written by what the flow decides: with
the next prompt when the interaction waits again (``park``), or not at all when the application is
answered and the row deleted: most sign-ins answer at once, and the write would be undone there.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime, timedelta

from flask import current_app

from idp import audit
from idp.storage import found_or_made, grants, interactions, transaction, utcnow, writing
from idp.storage.grants import Consent
from idp.storage.interactions import InteractionRecord
from idp.storage.subjects import Subject, SubjectRecord

from .authorization import AuthorizationRequest
from .prompt_policy import Progress


def start(request: AuthorizationRequest, prompt: str, now: datetime) -> str:
    """Park ``request`` waiting for ``prompt``; returns the interaction's public id."""
    lifetime = timedelta(seconds=current_app.config["IDP_INTERACTION_LIFETIME_SECONDS"])
    uid = secrets.token_urlsafe(24)
    with writing():  # one INSERT: on PostgreSQL one round trip, without BEGIN and COMMIT
        interactions.add(uid=uid, client_id=request.client_id,
                         params={"request": request.to_dict(), "progress": asdict(Progress())},
                         prompt=prompt, created_at=now, expires_at=now + lifetime)
    return uid


def load(uid: str, now: datetime) -> InteractionRecord | None:
    """The live interaction ``uid``, or None when unknown or expired."""
    if not uid or len(uid) > 64:
        return None
    row = interactions.by_uid(uid)
    return row if row is not None and row.expires_at > now else None


def request_of(row: InteractionRecord) -> AuthorizationRequest:
    return AuthorizationRequest.from_dict(row.params["request"])


def progress_of(row: InteractionRecord) -> Progress:
    return Progress(**row.params["progress"])


def _progressed(row: InteractionRecord, **done: bool) -> None:
    row.params = {**row.params, "progress": {**row.params["progress"], **done}}


def park(row: InteractionRecord, prompt: str) -> None:
    """Write where the interaction stands: the prompt it now waits for, and the steps recorded."""
    with writing():
        interactions.change(row, prompt=prompt, params=row.params, login_sid=row.login_sid)


def record_sign_in(row: InteractionRecord, sid: str) -> None:
    row.login_sid = sid
    _progressed(row, signed_in_here=True)


def record_account_selected(row: InteractionRecord) -> None:
    _progressed(row, account_selected=True)


def record_consent(row: InteractionRecord, subject: Subject | SubjectRecord) -> None:
    """Remember the scopes agreed to (added to earlier consent) and mark the step done."""
    request = request_of(row)
    now = utcnow()
    scopes = request.consent_scopes()
    with transaction():
        # A double click on "Allow" sends the form twice: the second finds the first's consent.
        consent, created = found_or_made(lambda: grants.consent_for(subject.id, request.client_id),
                                         lambda: _new_consent(subject.id, request.client_id, scopes, now))
        if not created:
            consent.scope = " ".join(sorted(scopes | set(consent.scope.split())))
            consent.granted_at = now
        audit.record("consent.granted", subject=subject, client=request.client_id, scope=" ".join(sorted(scopes)))
    _progressed(row, consent_shown=True)


def _new_consent(subject_id: int, client_id: str, scopes: set[str], now: datetime) -> Consent:
    consent = Consent(subject_id=subject_id, client_id=client_id, scope=" ".join(sorted(scopes)), granted_at=now)
    grants.add(consent)
    return consent


def finish(row: InteractionRecord) -> None:
    """The interaction is over (code issued or request refused): it cannot be resumed again. In the
    caller's transaction, with what ends it."""
    interactions.delete_interaction(row)
