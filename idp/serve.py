"""Production serving: ``python -m idp.serve`` runs the app under granian.

Why granian and not gunicorn: on one core, granian's Rust HTTP layer answers a trivial WSGI app
about 3.5 times faster than gunicorn's gthread worker (≈21,700 vs ≈6,100 requests/s measured here),
and on dangnhap's discovery document it doubled the throughput; the protocol endpoints are short,
so the server's own cost per request matters (bench/README.md has the figures).

The server is configured from the environment (these are not Flask settings, so they are not in
config.py):

- ``IDP_BIND``      where the reverse proxy reaches us, ``host:port`` (default ``127.0.0.1:8000``);
- ``IDP_WORKERS``   processes (default: one per core this process may run on — ``taskset`` counts);
- ``IDP_THREADS``   WSGI threads per process (default 4): they overlap database and LDAP waits,
  while argon2id (which releases the GIL) keeps the core busy;
- ``IDP_HASHING_TURN_MS`` (default 50): while a worker hashes passwords, requests wait for the end
  of the hashing thread's turn instead of cutting into a hash (``idp.authn.hashing_turns``: more
  sign-ins per core, up to one turn of latency for what arrives meanwhile); 0 turns it off;
- ``IDP_ACCESS_LOG`` ``true``/``false`` (default false): method, path without the query string
  (codes and hints travel there), status and duration, to standard output. Off by default because
  the reverse proxy already logs every request (with the client's real address) and the audit log
  records what matters for security, while granian formats each line in Python: about a tenth of
  the CPU of a token or userinfo request (bench/README.md).

Workers are independent (the app is stateless per process) and are replaced if they die or grow
past ``IDP_WORKER_MAX_RSS_MIB`` (default 256): a slow leak in a library cannot grow without bound.
"""

from __future__ import annotations

import os

from flask import Flask
from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings

from idp import create_app, settings, storage
from idp.authn import hashing_turns

# granian's atoms; the path comes without the query string.
ACCESS_LOG_FORMAT = '[%(time)s] %(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def _hashing_turn_ms() -> int:
    return int(os.environ.get("IDP_HASHING_TURN_MS", "50"))


def serving_app() -> Flask:
    """What each worker serves: the app without its command line (``flask --app wsgi`` has that).

    Its threads live as long as it does, so each keeps a database connection between its requests
    (``storage.keep_connections``). The worker then forgets the ``IDP_*`` environment
    (``settings.forget_environment``): no request's WSGI environ carries a secret, and werkzeug's
    walks through the environ (counting or listing the headers) are shorter.
    """
    app = create_app(commands=False)
    storage.keep_connections(True)
    hashing_turns.request_threads_wait_for_hashing(_hashing_turn_ms())
    settings.forget_environment()
    return app


def server() -> Granian:
    host, _, port = os.environ.get("IDP_BIND", "127.0.0.1:8000").rpartition(":")
    _hashing_turn_ms()  # a wrong value stops the server here, not each worker as it starts
    return Granian(
        "idp.serve:serving_app",
        factory=True,
        address=host.strip("[]") or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        # The reverse proxy speaks HTTP/1.1 to us and terminates TLS (and HTTP/2) for the world.
        http=HTTPModes.http1,
        websockets=False,
        workers=int(os.environ.get("IDP_WORKERS", _cores())),
        blocking_threads=int(os.environ.get("IDP_THREADS", "4")),
        # Keep-alive connections from the proxy; a client that sends no headers within 10 s is dropped.
        http1_settings=HTTP1Settings(keep_alive=True, header_read_timeout=10_000),
        backlog=2048,
        log_access=_flag("IDP_ACCESS_LOG", False),
        log_access_format=ACCESS_LOG_FORMAT,
        respawn_failed_workers=True,
        workers_max_rss=int(os.environ.get("IDP_WORKER_MAX_RSS_MIB", "256")),
        rss_sample_interval=30,
        rss_samples=2,
        # On SIGTERM, requests in flight get this long to finish before a worker is killed.
        workers_kill_timeout=20,
    )


if __name__ == "__main__":
    server().serve()
