"""Issuing authorization codes: short-lived, single-use, bound to everything the token endpoint checks."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app

from idp import audit
from idp.authn.levels import acr_for
from idp.storage import grants
from idp.storage.clients import ClientRecord
from idp.storage.sessions import SessionRecord

from . import client_policy, tokens
from .authorization import AuthorizationRequest


def issue(request: AuthorizationRequest, client: ClientRecord, session: SessionRecord, now: datetime) -> str:
    """A new code for ``request`` on behalf of the session's subject; only its hash is stored. In the
    caller's transaction, which also ends the interaction that led here."""
    value = secrets.token_urlsafe(32)
    # The scope granted: what was asked, plus scopes whose claims the claims parameter asked for,
    # within what the client may have (the person consented to all of these).
    scope = [s for s in request.scope] + sorted(
        (request.consent_scopes() - set(request.scope)) & client_policy.allowed_scopes(client))
    amr = session.amr.split()
    lifetime = timedelta(seconds=current_app.config["IDP_CODE_LIFETIME_SECONDS"])
    grants.add_code(
        code_hash=tokens.hash_token(value), client_id=client.client_id, subject_id=session.subject_id,
        redirect_uri=request.redirect_uri, scope=" ".join(scope), nonce=request.nonce,
        code_challenge=request.code_challenge, code_challenge_method=request.code_challenge_method,
        sid=session.sid, auth_time=session.auth_time, amr=session.amr, acr=acr_for(amr),
        claims_request=request.claims, created_at=now, expires_at=now + lifetime)
    audit.record("authorization.granted", subject=session.subject, client=client.client_id, scope=" ".join(scope))
    return value
