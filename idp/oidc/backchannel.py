"""Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0): a signed logout token POSTed
to every application that took part in an ended session.

The person's page never waits for an application: ``enqueue`` only adds a ``LogoutDelivery`` row in
the transaction that ends the session (a rolled-back sign-out sends nothing) and wakes this process's
dispatcher once that transaction commits. The dispatcher, a daemon thread per app and per process,
sends what is due, retries failures with exponential back-off and audits each final outcome. Pending
deliveries are rows, so a restart loses none: a process looks for them at its first request.

Any number of processes may send: a row is taken for one attempt by one atomic UPDATE that sets a
lease (``claimed_until``), so no two processes send it at once, and the rows of a sender that died
are taken again once its lease ends. No transaction is open while an application is being waited on.
``flask idp logout deliver`` runs one round by hand or from cron.
"""

from __future__ import annotations

import enum
import http.client
import logging
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from idp import audit
from idp.storage import call_after_commit, rollback, transaction, utcnow
from idp.storage import logout as rows
from idp.storage.clients import ClientRecord
from idp.storage.logout import DeliveryStatus, LogoutDelivery

from . import client_cache, keys

logger = logging.getLogger(__name__)

EXTENSION = "dangnhap.backchannel"
# Short-lived, as ASVS 5.0 (10.5.5) recommends: two minutes, so a token intercepted is soon useless.
TOKEN_LIFETIME_SECONDS = 120
# A sender keeps a row this much longer than its HTTP timeout before another process may take it.
LEASE_MARGIN = timedelta(seconds=60)
# Set on the database session by enqueue: the dispatcher to wake when the transaction commits.
_WAKE_ON_COMMIT = "dangnhap.backchannel.wake"


class Outcome(enum.StrEnum):
    """What one attempt came to."""

    DELIVERED = "delivered"
    RETRIED = "retried"  # this attempt failed; another is scheduled
    FAILED = "failed"  # the last attempt failed


def enqueue(client: ClientRecord, claims: dict[str, Any], now: datetime) -> None:
    """Queue a logout token for ``client`` in the caller's transaction; it is sent once that commits.

    ``claims`` are iss, aud, sub and/or sid, events: iat, exp and jti are set at each attempt.
    """
    rows.add(LogoutDelivery(client_id=client.client_id, uri=client.backchannel_logout_uri, claims=claims,
                            status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now))
    wake = dispatcher(current_app).wake
    call_after_commit(_WAKE_ON_COMMIT, wake)


def has_pending() -> bool:
    """Whether any delivery, due or not, held by any process or none, is still to be made."""
    return rows.has_pending_deliveries()


def deliver_due(now: datetime) -> Counter[Outcome]:
    """Attempt, once each, the deliveries due at ``now`` that no other sender holds; count the outcomes.

    Each claim and each outcome is its own short transaction.
    """
    with transaction():
        due = rows.due_deliveries(now)
    outcomes: Counter[Outcome] = Counter()
    for row_id in due:
        job = _claim(row_id, now)
        if job is not None:
            outcomes[_attempt(job)] += 1
    return outcomes


@dataclass(frozen=True)
class _Job:
    """A claimed delivery, copied out of its row so that no transaction stays open while sending."""

    id: int
    client_id: str
    uri: str
    claims: dict[str, Any]
    alg: str
    attempts: int  # made before this one


def _claim(row_id: int, now: datetime) -> _Job | None:
    """Take the row for one attempt, unless another sender holds it or has finished it."""
    lease = timedelta(seconds=current_app.config["IDP_BACKCHANNEL_TIMEOUT_SECONDS"]) + LEASE_MARGIN
    with transaction():
        row = rows.claim_delivery(row_id, now, now + lease)
        if row is None:
            return None
        client = client_cache.lookup(row.client_id)
        # A client deleted since is still told: its sessions may live on in the application.
        alg = client.id_token_signed_response_alg if client else current_app.config["IDP_SIGNING_ALGS"][0]
        return _Job(row.id, row.client_id, row.uri, dict(row.claims), alg, row.attempts)


def _attempt(job: _Job) -> Outcome:
    issued_at = int(utcnow().timestamp())
    claims = {**job.claims, "iat": issued_at, "exp": issued_at + TOKEN_LIFETIME_SECONDS,
              "jti": secrets.token_urlsafe(16)}
    try:
        token = keys.sign(claims, alg=job.alg, typ="logout+jwt")  # §2.4: typ logout+jwt
    except keys.UnknownAlgorithm:
        error: str | None = f"cannot sign with {job.alg}"
    else:
        rollback()  # signing may have read the key table: hold no connection while the application answers
        error = _post(job.uri, token, current_app.config["IDP_BACKCHANNEL_TIMEOUT_SECONDS"])
    return _record(job, error, utcnow())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: following it would turn the POST into a GET without the token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(uri: str, token: str, timeout: float) -> str | None:
    """POST the token as a form (§2.5); None if the application took it, else a short reason."""
    if urlsplit(uri).scheme not in ("https", "http"):
        return "not an http(s) URI"
    request = urllib.request.Request(  # noqa: S310 (scheme checked)
        uri, data=urlencode({"logout_token": token}).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except urllib.error.URLError as exc:
        return str(exc.reason)[:200]
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, malformed answers
        return f"{type(exc).__name__}: {exc}"[:200]
    # §2.8: 200 OK; some frameworks answer an empty 200 with 204 No Content, which the OP should accept.
    return None if status in (200, 204) else f"HTTP {status}"


def _record(job: _Job, error: str | None, now: datetime) -> Outcome:
    cfg = current_app.config
    attempts = job.attempts + 1
    sub, sid = job.claims.get("sub"), job.claims.get("sid")
    with transaction():
        row = rows.delivery(job.id)
        row.attempts, row.claimed_until, row.last_error = attempts, None, error
        if error is None:
            row.status, row.finished_at = DeliveryStatus.DELIVERED, now
            audit.record("logout.backchannel.delivered", subject=sub, client=job.client_id, sid=sid,
                         attempts=attempts)
            return Outcome.DELIVERED
        logger.warning("back-channel logout to %s: attempt %d failed: %s", job.client_id, attempts, error)
        if attempts >= cfg["IDP_BACKCHANNEL_MAX_ATTEMPTS"]:
            row.status, row.finished_at = DeliveryStatus.FAILED, now
            audit.record("logout.backchannel.failed", subject=sub, client=job.client_id, sid=sid,
                         attempts=attempts, error=error)
            return Outcome.FAILED
        row.next_attempt_at = now + timedelta(seconds=cfg["IDP_BACKCHANNEL_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))
        return Outcome.RETRIED


class Dispatcher:
    """This app's sender thread in this process: started when there is something to send, ended when
    nothing is pending any more.

    Started lazily, never in ``create_app``: a server may fork its workers from a master that loaded
    the app (gunicorn --preload does), and a thread does not survive a fork, so the process id is
    checked at every wake-up.
    """

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0  # the process the thread runs in
        self._looked_in = 0  # the process whose first request looked for pending rows
        self._stopped = False

    def wake(self) -> None:
        """Run a round soon, starting the thread if this process has none."""
        with self._lock:
            if self._stopped:
                return
            self._wanted.set()
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="backchannel-logout", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread for good: no later wake-up starts another (tests make many apps)."""
        with self._lock:
            self._stopped = True
            thread, self._thread = self._thread, None
            self._wanted.set()
        if thread is not None:
            thread.join(timeout)

    def look_for_pending(self) -> None:
        """Before this process's first request: send what an earlier process left (a restart, a crash)."""
        if self._looked_in == os.getpid():
            return
        try:
            pending = has_pending()
        except SQLAlchemyError:
            rollback()  # the request goes on (the health check must say 503); look again at the next one
            logger.warning("back-channel logout: cannot look for pending deliveries", exc_info=True)
            return
        self._looked_in = os.getpid()
        if pending:
            self.wake()

    def _run(self) -> None:
        while not self._stopped:
            self._wanted.clear()
            if not self._round() and self._retire():
                return
            self._wanted.wait(self._app.config["IDP_BACKCHANNEL_POLL_SECONDS"])

    def _round(self) -> bool:
        """Send what is due; whether anything is still pending (to poll for). Never raises."""
        try:
            with self._app.app_context():
                deliver_due(utcnow())
                return has_pending()
        except Exception:
            logger.exception("back-channel logout: delivery round failed; will retry")
            return True

    def _retire(self) -> bool:
        """End the thread, unless a wake-up came meanwhile (its transaction may have added rows)."""
        with self._lock:
            if self._wanted.is_set() and not self._stopped:
                return False
            self._thread = None
            return True


def dispatcher(app: Flask) -> Dispatcher:
    return app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Dispatcher(app)
    app.before_request(app.extensions[EXTENSION].look_for_pending)
