"""The authorization endpoint's decisions, as plain results the views turn into responses.

authorize → (trust the client) → parse → prompt policy → either a code for the client now, or an
interaction for the person; resume and deny continue a parked interaction. Nothing here reads the
HTTP request: the views pass the parameters and the current SSO session in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from idp import audit
from idp.storage import utcnow, writing
from idp.storage.clients import ClientRecord
from idp.storage.interactions import InteractionRecord
from idp.storage.sessions import SessionRecord

from . import authorization, client_cache, codes, interactions, prompt_policy
from .authorization import AuthorizationRequest
from .errors import AuthorizationError, UntrustedRequest


@dataclass(frozen=True)
class Untrusted:
    """Show an error page; never redirect (unknown client or unregistered redirect URI)."""

    reason: str


@dataclass(frozen=True)
class ToClient:
    """Answer the client at its redirect URI (a code or an error)."""

    redirect_uri: str
    response_mode: str
    state: str | None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Interact:
    """The person must act: send them to the portal's page for ``prompt``."""

    uid: str
    prompt: str
    ui_locales: str | None
    login_hint: str | None


Decision = Untrusted | ToClient | Interact
# A live parked request: the interaction row, the request it holds, and its (enabled) client.
Parked = tuple[InteractionRecord, AuthorizationRequest, ClientRecord]


def _error(redirect_uri: str, mode: str, state: str | None, error: AuthorizationError) -> ToClient:
    return ToClient(redirect_uri, mode, state, {"error": error.error, "error_description": error.description})


def _raw_state(params: MultiDict[str, str]) -> str | None:
    values = params.getlist("state")
    return values[0] if len(values) == 1 and len(values[0]) <= authorization.MAX_PARAM_LENGTH else None


def _decide(request: AuthorizationRequest, client: ClientRecord, session: SessionRecord | None,
            progress: prompt_policy.Progress, interaction: InteractionRecord | None) -> Decision:
    now = utcnow()
    try:
        prompt = prompt_policy.next_prompt(request, client, session, progress, now)
    except AuthorizationError as error:
        if interaction is not None:
            with writing():
                interactions.finish(interaction)
        return _error(request.redirect_uri, request.response_mode, request.state, error)
    if prompt is None and session is not None:  # the policy asks for a sign-in whenever there is no session
        with writing():  # a code, and the interaction used up by it: one change
            code = codes.issue(request, client, session, now)
            if interaction is not None:
                interactions.finish(interaction)
        return ToClient(request.redirect_uri, request.response_mode, request.state, {"code": code})
    prompt = prompt or prompt_policy.LOGIN
    if interaction is None:
        uid = interactions.start(request, prompt, now)
    else:
        interactions.park(interaction, prompt)
        uid = interaction.uid
    return Interact(uid, prompt, request.ui_locales, request.login_hint)


def authorize(params: MultiDict[str, str], session: SessionRecord | None) -> Decision:
    try:
        client, redirect_uri = authorization.trusted_client(params)
    except UntrustedRequest as untrusted:
        return Untrusted(untrusted.reason)
    mode = authorization.response_mode(params)
    try:
        request = authorization.parse(params, client, redirect_uri)
    except AuthorizationError as error:
        with writing():
            audit.record("authorization.refused", client=client.client_id, error=error.error)
        return _error(redirect_uri, mode, _raw_state(params), error)
    return _decide(request, client, session, prompt_policy.Progress(), None)


def parked(uid: str) -> Parked | None:
    """The live interaction ``uid`` with its request and client (None when expired or gone)."""
    row = interactions.load(uid, utcnow())
    if row is None:
        return None
    request = interactions.request_of(row)
    client = client_cache.enabled(request.client_id)
    if client is None or request.redirect_uri not in client.redirect_uris:
        return None
    return row, request, client


def resume(found: Parked | None, session: SessionRecord | None) -> Decision:
    """Decide again for the parked request once the person has acted (the page that took the step
    passes what it loaded, so the row is read once per request)."""
    if found is None:
        return Untrusted("interaction_expired")
    row, request, client = found
    progress = interactions.progress_of(row)
    # The sign-in done within this interaction only counts for the session it created.
    if progress.signed_in_here and (session is None or session.sid != row.login_sid):
        progress = prompt_policy.Progress(account_selected=progress.account_selected,
                                          consent_shown=progress.consent_shown)
    return _decide(request, client, session, progress, row)


def deny(found: Parked) -> Decision:
    """The person refused the parked request: the client learns access_denied (RFC 6749 §4.1.2.1)."""
    row, request, _client = found
    with writing():
        audit.record("consent.denied", client=request.client_id)
        interactions.finish(row)
    return _error(request.redirect_uri, request.response_mode, request.state,
                  AuthorizationError("access_denied", "the person refused the request"))
