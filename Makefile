# One entry point for people and CI. `make demo` and `make test` install what
# they need themselves (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install tools test lint demo bench build deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# What the CI tests run besides Python: gitlab-ci-local (pinned: 4.75+ needs Node 22)
# in a project-local folder, and rsync, which it needs to run any job.
TOOLS := .tools
GITLAB_CI_LOCAL := $(TOOLS)/node_modules/.bin/gitlab-ci-local
GITLAB_CI_LOCAL_VERSION := 4.73.0

tools: $(GITLAB_CI_LOCAL)
	@command -v rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync; }

$(GITLAB_CI_LOCAL):
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)

test: install tools
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
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache
