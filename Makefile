# Two commands on a fresh clone: `make demo` brings the demo up, `make test` runs every test.
# Everything else here is a step of those two, or a convenience the README mentions.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes

# Optional local settings (copy .env.example to .env); honcho reads the same file.
-include .env
export

.PHONY: demo serve client test test-postgres bench lint format lock system-deps clean

demo: $(VENV)/.base  ## migrate, certificates, seed, then both servers until Ctrl+C
	$(PY) manage.py prepare_demo
	$(VENV)/bin/honcho start

serve: $(VENV)/.base  ## the same, under granian: DEBUG off, static files collected, TLS
	$(PY) manage.py prepare_demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/honcho -f Procfile.serve start

client: $(VENV)/.base  ## the PKCE command-line client, against the running demo
	@$(PY) manage.py pkce_client $(ARGS)

# Two workers (pytest-xdist): the suite is mostly one busy core, and CI has two. Tests that
# share something of the project's (an xdist_group) run on one worker, in turn.
test: $(VENV)/.dev system-deps lint  ## the whole suite, as CI runs it
	$(PY) -m pytest -n 2 --dist loadgroup
	$(MAKE) --no-print-directory test-postgres

# The database-sensitive tests again, on a throwaway PostgreSQL server (installed if missing).
# fsync off: the data is thrown away at the end, durability buys nothing here.
test-postgres: $(VENV)/.dev
	POSTGRES_SERVER_OPTIONS="-c fsync=off -c full_page_writes=off" \
	  scripts/with-postgres $(PY) -m pytest -m postgres -n 2 --dist loadgroup

# Never part of make test. BENCH_DURATION=3 BENCH_WARMUP=1 make bench for a quick look;
# ARGS passes flags to bench/run.py (--help lists them). Each pass also runs the reference.
bench: $(VENV)/.bench bench/reference/node_modules/.installed  ## refresh and userinfo under granian, SQLite then PostgreSQL, beside oidc-provider
	$(PY) bench/run.py $(ARGS)
	scripts/with-postgres $(PY) bench/run.py --no-ceiling $(ARGS)

# The reference (panva's oidc-provider), exactly as the committed lock file names it, hashes
# checked, no install scripts run.
bench/reference/node_modules/.installed: bench/reference/package-lock.json bench/reference/package.json
	cd bench/reference && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Debian's chromium for the browser tests (Playwright cannot download a browser here),
# and certutil (libnss3-tools) to make it trust the test CA.
system-deps:
	@command -v chromium >/dev/null && command -v certutil >/dev/null || scripts/install-system-packages chromium libnss3-tools

$(VENV)/.base: requirements/base.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/base.txt
	touch $@

$(VENV)/.dev: requirements/dev.txt $(VENV)/.base
	$(PIP) -r requirements/dev.txt
	touch $@

$(VENV)/.bench: requirements/bench.txt $(VENV)/.base
	$(PIP) -r requirements/bench.txt
	touch $@

# Maintainers only: re-resolve the pinned, hashed lock files after editing requirements/*.in.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --no-strip-extras --python-version 3.11
lock: $(VENV)/.base
	$(PY) -m pip install --quiet uv
	$(LOCK) requirements/base.in -o requirements/base.txt
	$(LOCK) requirements/base.in requirements/dev.in -o requirements/dev.txt
	$(LOCK) requirements/base.in requirements/bench.in -o requirements/bench.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var/test-db.sqlite3* bench/reference/node_modules
