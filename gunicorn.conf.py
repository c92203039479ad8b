"""Production serving with gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden by gunicorn's own environment variable (GUNICORN_CMD_ARGS) or the
variables named below. The app is stateless per process, so workers and hosts scale out freely
behind a load balancer (see deploy/README.md).
"""

import multiprocessing
import os

# Where the reverse proxy (TLS) reaches us. Keep it on loopback or a private interface.
bind = os.environ.get("IDP_BIND", "127.0.0.1:8000")

# Sign-in is CPU-bound (argon2id, ~20 ms per password), the protocol endpoints are short: one
# synchronous worker per core, a couple of threads each to overlap database and LDAP waits.
workers = int(os.environ.get("IDP_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("IDP_THREADS", "4"))

# Keep connections from the proxy open between requests; answer slow clients within bounds.
keepalive = 30
timeout = 30  # a request that takes longer is stuck (LDAP timeouts are 3 s); the worker is replaced
graceful_timeout = 20

# Load the app once before forking: templates, translations and settings are shared read-only. The
# back-channel logout sender starts lazily in each worker (it checks its pid), never before the fork.
preload_app = True

# Recycle workers now and then, so a slow leak in a library cannot grow without bound.
max_requests = 20000
max_requests_jitter = 2000

# Logs to standard output/error for the service manager; the audit log is in the database.
accesslog = "-"
errorlog = "-"
# The access log must not carry query strings: authorization codes and hints travel there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
