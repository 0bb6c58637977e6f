# One entry point for people and CI. `make demo` and `make test` install what
# they need themselves (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench build deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: install
	$(BIN)/pytest -n 2 tests

lint: install
	$(BIN)/ruff check functions scripts tests benchmarks
	$(BIN)/ruff format --check functions scripts tests benchmarks
	$(BIN)/cfn-lint template.yaml setup/*.yaml

demo: install
	$(BIN)/stackrelay local demo

bench: install
	$(BIN)/python -m benchmarks.polling

build:
	sam build

deploy:
	sam deploy

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
