"""The relying party's half of single logout, as a portal of the province writes it.

Three ways the portal takes part, each with the spec it follows:

- RP-Initiated Logout 1.0 (§2, §3): ``end_session_request`` sends the browser to the provider's
  ``end_session_endpoint`` with the ID token as ``id_token_hint``, the registered
  ``post_logout_redirect_uri`` and a fresh ``state`` that the portal checks when the browser returns;
- Back-Channel Logout 1.0: ``verify_logout_token`` checks the logout token the provider POSTs to the
  portal (§2.6), with ``SeenTokens`` refusing a token presented twice;
- Front-Channel Logout 1.0: the provider's signed-out page loads the portal's page in a hidden frame
  with ``iss`` and ``sid``.

Both notices end the portal's sessions through ``EndedSessions``: a portal whose sessions live in
signed cookies cannot delete them from the server, so it remembers which sessions have ended and
refuses their cookies at the next request (see the class).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError

from .relying_party import CLOCK_LEEWAY_SECONDS, Client, Provider, SignInFailed, decode_signed

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TYP = "logout+jwt"
# How long a portal session lasts at most, whatever the provider says: ended sessions need to be
# remembered only that long, since an older cookie is refused anyway.
SESSION_LIFETIME_SECONDS = 8 * 3600
MAX_REMEMBERED = 10_000  # per registry, per process: a bound on memory, far above what a demo sees


class InvalidLogoutToken(Exception):
    """The logout token is refused (the portal answers 400, Back-Channel Logout §2.8)."""


@dataclass(frozen=True)
class LogoutNotice:
    """Whose sessions the provider says have ended: one session (``sid``), or every one of ``sub``."""

    sub: str | None
    sid: str | None


def end_session_request(provider: Provider, client: Client, id_token: str, return_to: str) -> tuple[str, str]:
    """The URL to send the browser to, and the ``state`` to expect back at ``return_to``."""
    state = secrets.token_urlsafe(32)
    # RP-Initiated Logout §2: the hint lets the provider sign the person out without asking, and
    # post_logout_redirect_uri is honoured only when registered for this client, exactly.
    params = {"id_token_hint": id_token, "client_id": client.client_id,
              "post_logout_redirect_uri": return_to, "state": state}
    return provider.endpoint("end_session_endpoint") + "?" + urlencode(params), state


def verify_logout_token(provider: Provider, client: Client, token: str, seen: SeenTokens) -> LogoutNotice:
    """Who is signed out, once Back-Channel Logout §2.6 is satisfied; InvalidLogoutToken otherwise."""
    try:
        decoded = decode_signed(provider, token)
        # §2.6 step 3: iss, aud, iat and exp as for an ID token (OIDC Core §3.1.3.7); §2.4: jti required.
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client.client_id},
            iat={"essential": True}, exp={"essential": True}, jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidLogoutToken(f"not a valid token for this portal ({exc})") from exc
    except SignInFailed as exc:  # the provider's keys could not be fetched
        raise InvalidLogoutToken(exc.reason) from exc
    # §2.4 recommends explicit typing and our provider always sets it: refusing any other typ keeps
    # an ID token or an access token from ever passing for a logout token.
    if decoded.header.get("typ") != LOGOUT_TYP:
        raise InvalidLogoutToken(f"typ is not {LOGOUT_TYP}")
    claims = decoded.claims
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):  # §2.6 step 4
        raise InvalidLogoutToken("no back-channel logout event")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not (isinstance(sub, str) and sub) and not (isinstance(sid, str) and sid):  # §2.6 step 5
        raise InvalidLogoutToken("neither sub nor sid")
    if "nonce" in claims:  # §2.6 step 6: an ID token cannot be replayed as a logout token
        raise InvalidLogoutToken("a logout token has no nonce")
    if not seen.first_time(str(claims["jti"]), until=float(claims["exp"]) + CLOCK_LEEWAY_SECONDS):  # step 7
        raise InvalidLogoutToken("this token has been received before")
    return LogoutNotice(sub=sub if isinstance(sub, str) and sub else None,
                        sid=sid if isinstance(sid, str) and sid else None)


class _Expiring:
    """A bounded, thread-safe map whose entries are forgotten at their own time, oldest first when full."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._limit = limit
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: Hashable, value: Any, *, until: float, now: float) -> bool:
        """Remember ``key`` until ``until``; False, and nothing changed, if it is already remembered."""
        with self._lock:
            self._forget_expired(now)
            if key in self._entries:
                return False
            while len(self._entries) >= self._limit:
                self._entries.popitem(last=False)
            self._entries[key] = (until, value)
            return True

    def get(self, key: Hashable, now: float) -> Any | None:
        with self._lock:
            until, value = self._entries.get(key, (0.0, None))
            return value if until > now else None

    def _forget_expired(self, now: float) -> None:
        for key in [key for key, (until, _) in self._entries.items() if until <= now]:
            del self._entries[key]


class SeenTokens:
    """The ``jti`` of each logout token accepted, kept until the token expires (§2.6 step 7)."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._seen = _Expiring(limit)

    def first_time(self, jti: str, *, until: float) -> bool:
        return self._seen.put(jti, True, until=until, now=time.time())


@dataclass(frozen=True)
class Ended:
    """When the provider ended a session, and how it told the portal ("back-channel", "front-channel")."""

    at: float
    how: str


class EndedSessions:
    """The sessions the provider has ended, so that this process refuses their cookies.

    A portal keeps its sessions in Flask's signed cookies: they live in the browser, and a logout token
    arrives from the provider's server, not from that browser, so the portal cannot delete them. It
    remembers instead: the ``sid`` the provider ended (or, for a token naming only ``sub``, the person
    and the time), and ``ended`` is asked at every request, which then treats the cookie as signed out.

    The memory is this process's: the demo runs one portal process, whose cookies are signed with a key
    made at start (a restart invalidates every cookie anyway). A portal with several processes keeps
    this in a shared store (its database, Redis), or keeps sessions server-side and deletes them.
    Entries are forgotten after SESSION_LIFETIME_SECONDS, when the cookies they refuse have expired
    too; at most MAX_REMEMBERED are kept.
    """

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._ended = _Expiring(limit)

    def end(self, notice: LogoutNotice, how: str) -> None:
        now = time.time()
        # Back-Channel Logout §2.7: with a sid, only that session ends; with a sub alone, all of that
        # person's sessions that started before now.
        key = ("sid", notice.sid) if notice.sid is not None else ("sub", notice.sub)
        self._ended.put(key, Ended(now, how), until=now + SESSION_LIFETIME_SECONDS, now=now)

    def ended(self, *, sid: str | None, sub: str, signed_in_at: float) -> Ended | None:
        """How the session (``sid``, of ``sub``, started at ``signed_in_at``) was ended, or None."""
        now = time.time()
        if sid is not None and (by_sid := self._ended.get(("sid", sid), now)) is not None:
            return by_sid
        by_sub = self._ended.get(("sub", sub), now)
        return by_sub if by_sub is not None and by_sub.at >= signed_in_at else None
