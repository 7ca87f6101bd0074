# Tessera developer commands. Needs only GNU make and Python 3.11+ (no system packages).
#
#   make run     start the embedded development server (SQLite, console SMS/email)
#   make test    run the test suite, one worker per core (extra pytest arguments:
#                make test PYTEST_ARGS='-k login -x'; one process: make test PYTEST_WORKERS=0)
#   make bench   Tessera's token path (gunicorn, SQLite and PostgreSQL) beside
#                node-oidc-provider under wrk, with the machine's argon2/ES256 ceilings
#                (a few minutes; BENCH_SECONDS=5 per operation; needs wrk, node, npm)
#   make bench-lookups  customer lookups at 10k/100k/1M customers on PostgreSQL, with EXPLAIN
#   make translations   extract the strings marked for translation and update every
#                catalog (app/translations/<locale>/LC_MESSAGES/messages.po)
#   make clean   remove the virtualenv and build artefacts (keeps instance/: your data)

PYTHON ?= python3
PORT ?= 5000
PYTEST_ARGS ?=
# pytest-xdist workers: each has its own PostgreSQL, Redis and SQLite template, so the
# suite runs in about half the time on a 2-core machine.
PYTEST_WORKERS ?= auto
# Seconds of wrk per operation and server in `make bench`.
BENCH_SECONDS ?= 5
# More arguments for bench/token_path.py, e.g. BENCH_ARGS='--tessera /tmp/tessera-head'.
BENCH_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
# One stamp per install flavour: each is redone when pyproject.toml is newer than it.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test demo bench bench-lookups translations translations-compile clean

# Translation catalogs: messages.po is the source (committed), messages.mo is compiled at
# build time (here for run, demo, test and bench; in the Dockerfile for the image).
TRANSLATIONS := app/translations
CATALOGS := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

# The virtualenv itself; made once, kept until `make clean`.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

# `make run` is always the embedded development mode: it sets TESSERA_ENV=development
# whatever your shell says (production settings belong to the Docker image / gunicorn),
# and the issuer to the address it serves on, so PORT=5050 gives a consistent issuer. The
# issuer is http://localhost, not 127.0.0.1: browsers refuse passkeys on an IP address.
run: export TESSERA_ENV := development
run: export TESSERA_ISSUER := http://localhost:$(PORT)
run: $(RUN_STAMP) $(COMPILED)
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app clients ensure-demo
	@echo
	@echo "Tessera is running at http://localhost:$(PORT)/ — sign up at http://localhost:$(PORT)/signup;"
	@echo "codes sent by SMS/email are printed here and appended to instance/outbox.jsonl"
	@echo
	@exec $(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

# Tessera on 5000 and two example apps on 5001 and 5002 that log in through it (SSO).
demo: export TESSERA_ENV := development
demo: $(RUN_STAMP) $(COMPILED)
	$(BIN)/flask --app app db upgrade
	@exec $(BIN)/python -m app.demo

# pytest's exit status is make's, so a failing test fails `make test`.
test: $(DEV_STAMP) $(COMPILED)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# node-oidc-provider, latest 9.x from the npm registry, into bench/peer/node_modules
# (ignored; no lock file: the bench measures the current release).
PEER_STAMP := bench/peer/node_modules/.installed
$(PEER_STAMP): bench/peer/package.json
	cd bench/peer && npm install --no-audit --no-fund --no-package-lock
	touch $@

# Every process it starts (gunicorn, node, PostgreSQL) is stopped when it ends.
bench: $(RUN_STAMP) $(PEER_STAMP) $(COMPILED)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/token_path.py --seconds $(BENCH_SECONDS) $(BENCH_ARGS)

# Lookups at 10k/100k/1M customers on a throwaway PostgreSQL, with EXPLAIN (7-8 minutes).
bench-lookups: $(RUN_STAMP) $(COMPILED)
	$(BIN)/python bench/million.py

# One catalog compiled; Babel comes with the app's dependencies (either install flavour).
$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(BIN)/python
	@test -x $(BIN)/pybabel || $(MAKE) --no-print-directory $(RUN_STAMP)
	$(BIN)/pybabel compile --statistics -l $* -i $< -o $@

translations-compile: $(COMPILED)

# Extract every marked string (code and templates) and merge it into each catalog; new
# strings arrive untranslated, changed ones are marked fuzzy (tests/test_translations.py
# fails until a translator fills them in).
translations: $(RUN_STAMP)
	$(BIN)/pybabel extract -F $(TRANSLATIONS)/babel.cfg -k _l -k lazy_gettext \
	    --add-comments=TRANSLATORS: --no-wrap --sort-by-file --project Tessera -o $(TRANSLATIONS)/messages.pot . >/dev/null
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-wrap \
	    --ignore-obsolete
	$(MAKE) --no-print-directory translations-compile

# instance/ (database, secret key, outbox) is deliberately kept; so is .hypothesis/
# (the failing examples Hypothesis replays first).
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
