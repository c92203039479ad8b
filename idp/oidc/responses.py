"""Answering the client at its redirect URI: query string or auto-submitted form (form_post); and
sending the person to the portal's page where they act on a parked request.

Every answer carries ``iss`` (RFC 9207, mix-up defence) and echoes ``state``. form_post needs a
script to submit the form; it is a static file, so the CSP still forbids inline script, and the CSP's
form-action lets that one page's form go to the client's origin too.

A redirect has no body: browsers follow the Location, and werkzeug's default body (an English page
repeating the URL) would cost each SSO authorization its building for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from flask import Response, current_app, make_response, render_template
from werkzeug.routing import MapAdapter
from werkzeug.urls import iri_to_uri

from idp.web import app_request
from idp.web.security_headers import forms_going_to

from . import flow, prompt_policy


def _values(state: str | None, params: dict[str, str]) -> dict[str, str]:
    values = {k: v for k, v in params.items() if v is not None}
    if state is not None:
        values["state"] = state
    values["iss"] = current_app.config["IDP_ISSUER"]
    return values


@lru_cache(maxsize=1024)
def _as_uri(redirect_uri: str) -> str:
    """The registered URI as werkzeug sends a Location (``iri_to_uri``): the same for the views'
    answers and for those sent past Flask's request cycle. Registered URIs are few: kept."""
    return iri_to_uri(redirect_uri)


def query_location(redirect_uri: str, state: str | None, params: dict[str, str]) -> str:
    """Where the query response mode sends the browser; a URI (not an IRI), so that werkzeug sends
    it unchanged."""
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return _as_uri(redirect_uri) + separator + urlencode(_values(state, params))


def redirect(location: str) -> Response:
    """A 302 to ``location``, without a body."""
    return Response(status=302, headers={"Location": location})


def to_client(redirect_uri: str, mode: str, state: str | None, **params: str) -> Response:
    if mode == "form_post":
        values = _values(state, params)
        response = make_response(render_template("oidc/form_post.html", action=redirect_uri, values=values))
        response.headers["Content-Security-Policy"] = forms_going_to(redirect_uri)
        return response
    return redirect(query_location(redirect_uri, state, params))


def interaction_page(uid: str, prompt: str, *, login_hint: str | None, ui_locales: str | None,
                     urls: MapAdapter | None = None) -> str:
    """The portal page where the person acts on the parked request ``uid``; built with ``urls``, the
    URL adapter of a request answered past Flask's request cycle (``early_authorization``), or else
    with the request's own, as ``url_for`` builds.

    A sign-in or a second factor goes straight to its form, as Keycloak's and node-oidc-provider's
    authorization endpoints do: every sign-in then costs the browser one round trip fewer than a
    detour through /interaction. Choosing an account and consenting are the interaction's own pages.
    """
    urls = urls or app_request.url_adapter()
    if prompt == prompt_policy.LOGIN:
        return urls.build("portal.login_page", {"interaction": uid, "login_hint": login_hint, "ui_locales": ui_locales})
    if prompt == prompt_policy.SECOND_FACTOR:
        return urls.build("portal.second_factor_page", {"interaction": uid, "ui_locales": ui_locales})
    return urls.build("portal.interaction", {"uid": uid, "ui_locales": ui_locales})


def location_of(decision: flow.Decision, urls: Callable[[], MapAdapter]) -> str | None:
    """Where the view's bodiless 302 for ``decision`` sends the browser, for an answer sent past
    Flask's request cycle: the client's redirect URI in the query response mode (a code, or an error)
    or the page where the person acts (built with the request's URL adapter, which ``urls`` makes only
    then); None for what the view answers with a page (an error page, form_post)."""
    if isinstance(decision, flow.ToClient) and decision.response_mode == "query":
        return query_location(decision.redirect_uri, decision.state, decision.params)
    if isinstance(decision, flow.Interact):
        return interaction_page(decision.uid, decision.prompt, login_hint=decision.login_hint,
                                ui_locales=decision.ui_locales, urls=urls())
    return None
