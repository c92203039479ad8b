# dangnhap: the two commands of the README, and their helpers.
#   make run    start the IdP on http://127.0.0.1:$(PORT) with SQLite and demo data
#   make test   lint, then the whole suite on SQLite and on PostgreSQL
SHELL := /bin/bash
.DEFAULT_GOAL := help

# .venv is made by the distribution's python3 when it is 3.11 or newer, else by the first python3 on
# PATH; PYTHON=... chooses another. Debian's interpreter is faster than a build from source with the
# defaults (pyenv's, first on PATH on some machines): userinfo and introspection cost 9-13% less CPU
# under Debian's 3.11 than under pyenv's 3.11 (bench/README.md), so make bench measures what a
# Debian host serves with.
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $(SYSTEM_PYTHON) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
CATALOG := idp/translations/vi/LC_MESSAGES/messages
POSTGRES_URL ?= $(or $(IDP_TEST_POSTGRES_URL),postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
INTEROP := tests/interop

.PHONY: help run test lint translations extract-messages venv clean slapd chromium

help:
	@echo "make run    start dangnhap on http://127.0.0.1:$(PORT) (SQLite, demo data)"
	@echo "make test   ruff, then pytest on SQLite and on PostgreSQL"
	@echo "make translations        compile the message catalogue"
	@echo "make extract-messages    update the catalogue from the code and templates"
	@echo "make bench               protocol endpoints and sign-in flows under load, vs node-oidc-provider"
	@echo "make bench-profile       profiles of the token endpoint, userinfo, SSO and a flow into bench/profiles/"
	@echo "make bench-ldap          time the directory sync of 50,000 officials (bench/README.md)"

# A virtual environment needs python3-venv on Debian/Ubuntu; install it when we can (as root).
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "dangnhap needs Python 3.11 or newer" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
		else echo "install python3-venv (sudo apt-get install python3-venv)" >&2; exit 1; fi; \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

venv: $(VENV)/.runtime

$(CATALOG).mo: $(CATALOG).po $(VENV)/.runtime
	$(BIN)/pybabel -q compile -d idp/translations

translations: $(CATALOG).mo

extract-messages: $(VENV)/.dev
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o /tmp/dangnhap-messages.pot .
	$(BIN)/pybabel -q update -i /tmp/dangnhap-messages.pot -d idp/translations --width 100

# The issuer follows PORT unless IDP_ISSUER says otherwise. The demo portals (demo/portals.py, on
# DEMO_PORTAL_PORTS, default 5001 5002) run in the background beside the provider; whichever way the
# recipe ends (Ctrl-C, kill, the provider stopping), the trap stops both by PID.
run: export IDP_ISSUER := $(or $(IDP_ISSUER),http://127.0.0.1:$(PORT))
run: $(VENV)/.runtime translations
	$(FLASK) db upgrade
	$(FLASK) idp demo seed
	@echo "dangnhap: $(IDP_ISSUER)/  (Ctrl-C stops it and the demo portals)"
	@trap 'kill $$pids 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM; \
	$(BIN)/python -m demo.portals & pids=$$!; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT) & pids="$$pids $$!"; \
	wait $$!

lint: $(VENV)/.dev
	$(BIN)/ruff check .

# The interop test runs openid-client (npm) against a live server. npm comes with Node.js; install
# both when we can (as root on Debian/Ubuntu). openid-client 6 needs Node.js 20 or newer. npm ci
# again only when the lockfile changes (npm ci writes node_modules/.package-lock.json).
.PHONY: node
node:
	@command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; \
		else echo "install Node.js 20+ and npm (sudo apt-get install nodejs npm)" >&2; exit 1; fi; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || \
		{ echo "openid-client and oidc-provider need Node.js 20 or newer, not $$(node --version)" >&2; exit 1; }

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package-lock.json
	@$(MAKE) -s node
	npm ci --prefix $(INTEROP) --no-audit --no-fund
	@touch $@

# The LDAP tests start their own slapd (tests/helpers/slapd.py) on free loopback ports; they need
# Debian's slapd and ldap-utils (slapadd). Install both when we can (as root on Debian/Ubuntu). The
# package's own system instance is never used: should its postinst have started it, stop it by its
# PID and keep it from starting at boot.
SLAPD_PACKAGES := slapd ldap-utils
SLAPD_BIN ?= /usr/sbin/slapd
slapd:
	@if [ ! -x $(SLAPD_BIN) ] || ! command -v slapadd >/dev/null || ! command -v ldapadd >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SLAPD_PACKAGES) || exit 1; \
			pid=$$(cat /run/slapd/slapd.pid 2>/dev/null); \
			if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then \
				echo "stopping the system slapd (PID $$pid) the package started: the tests run their own"; \
				service slapd stop >/dev/null 2>&1 || kill "$$pid" 2>/dev/null || true; \
			fi; \
			systemctl disable slapd >/dev/null 2>&1 || update-rc.d slapd disable >/dev/null 2>&1 || true; \
		else echo "the LDAP tests need OpenLDAP's slapd and slapadd: install the Debian packages" \
			"$(SLAPD_PACKAGES) (sudo apt-get install $(SLAPD_PACKAGES)), or run make test as root" >&2; exit 1; fi; \
	fi
	@[ -x $(SLAPD_BIN) ] && command -v slapadd >/dev/null || \
		{ echo "$(SLAPD_BIN) or slapadd still missing after installing $(SLAPD_PACKAGES)" >&2; exit 1; }

# The browser test (tests/ldap/test_browser_enrolment.py) drives Debian's Chromium with Playwright;
# `playwright install` is never run (it downloads browsers of its own). Install chromium when we can
# (as root on Debian/Ubuntu), without its recommends (with them: ~480 MB, systemd included); fetch the
# package lists first should the install fail on stale or empty ones (a fresh container).
CHROMIUM_BIN := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM_BIN) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q --no-install-recommends chromium || \
				{ apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } || exit 1; \
		else echo "the browser test needs Debian's Chromium at $(CHROMIUM_BIN): install the Debian package" \
			"chromium (sudo apt-get install --no-install-recommends chromium), or run make test as root" >&2; exit 1; fi; \
	fi
	@[ -x $(CHROMIUM_BIN) ] || { echo "$(CHROMIUM_BIN) still missing after installing chromium" >&2; exit 1; }

# The directory sync benchmark (bench/ldap_sync.py): a throwaway slapd with 50,000 officials, then
# full, repeated and incremental syncs on SQLite and, when it answers, PostgreSQL at $(POSTGRES_URL).
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--repeat 3" or "--officials 5000".
.PHONY: bench-ldap
bench-ldap: $(VENV)/.dev slapd
	IDP_TEST_POSTGRES_URL='$(POSTGRES_URL)' $(BIN)/python -m bench.ldap_sync $(BENCH_ARGS)

# The protocol benchmark (bench/protocol.py): dangnhap under granian (idp/serve.py) on SQLite and PostgreSQL, and
# node-oidc-provider (bench/node, its lockfile pinned), each on one core, loaded by wrk and
# bench/loader.py from the other. Needs Debian's wrk (installed when we can, as root), Node.js 20+,
# slapd for the officials' flow. BENCH_ARGS passes options, e.g. BENCH_ARGS="--seconds 10".
BENCH_NODE := bench/node
.PHONY: bench wrk
bench: $(VENV)/.dev translations slapd wrk $(BENCH_NODE)/node_modules/.package-lock.json
	IDP_TEST_POSTGRES_URL='$(POSTGRES_URL)' $(BIN)/python -m bench.protocol $(BENCH_ARGS)

wrk:
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; } || exit 1; \
		else echo "make bench needs wrk (sudo apt-get install wrk)" >&2; exit 1; fi; }

# Profiles of the token endpoint and userinfo (bench/profile.py) into bench/profiles/.
.PHONY: bench-profile
bench-profile: $(VENV)/.dev translations
	$(BIN)/python -m bench.profile $(BENCH_ARGS)

$(BENCH_NODE)/node_modules/.package-lock.json: $(BENCH_NODE)/package-lock.json
	@$(MAKE) -s node
	npm ci --prefix $(BENCH_NODE) --no-audit --no-fund
	@touch $@

# PostgreSQL: the server at $(POSTGRES_URL). Outside CI a missing server skips that half with a
# loud message; under CI=true it fails the run.
test: $(VENV)/.dev translations lint slapd chromium $(INTEROP)/node_modules/.package-lock.json
	IDP_TEST_DB=sqlite $(BIN)/pytest
	@if $(BIN)/python -c 'import sys, psycopg, sqlalchemy as sa; \
		url = sa.make_url(sys.argv[1]).set(drivername="postgresql"); \
		psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=3).close()' \
		'$(POSTGRES_URL)' 2>/dev/null; then \
		IDP_TEST_DB=postgresql IDP_TEST_POSTGRES_URL='$(POSTGRES_URL)' $(BIN)/pytest; \
	elif [ "$$CI" = true ]; then \
		echo "PostgreSQL is required in CI and is not reachable at $(POSTGRES_URL)" >&2; exit 1; \
	else \
		echo "*** PostgreSQL not reachable at $(POSTGRES_URL): the PostgreSQL half was NOT run ***" >&2; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
	rm -f $(CATALOG).mo
