# One entry point for people and CI. `make demo` and `make test` install what
# they need themselves (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install tools test lint asl demo bench build deploy clean

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
# The template tests: asl-validator (npm, same folder) on the state machine definitions,
# and the SAM CLI for `sam validate --lint`, in its own venv (it pins its own boto3).
ASL_VALIDATOR := $(TOOLS)/node_modules/.bin/asl-validator
ASL_VALIDATOR_VERSION := 4.0.0
# esbuild for SAM's `BuildMethod: esbuild` (TypeScript apps): the SAM CLI finds it on
# PATH, and the tests put $(TOOLS)/node_modules/.bin there.
ESBUILD := $(TOOLS)/node_modules/.bin/esbuild
ESBUILD_VERSION := 0.28.2
SAM_VENV := .sam-venv
SAM_CLI_VERSION := 1.170.0
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)

tools: $(GITLAB_CI_LOCAL) $(ASL_VALIDATOR) $(ESBUILD) $(SAM_STAMP)
	@command -v rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync; }

$(GITLAB_CI_LOCAL):
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)

# Order-only on gitlab-ci-local: two npm installs must not share $(TOOLS) at once (make -j).
$(ASL_VALIDATOR): | $(GITLAB_CI_LOCAL)
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error asl-validator@$(ASL_VALIDATOR_VERSION)

$(ESBUILD): | $(ASL_VALIDATOR)
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error esbuild@$(ESBUILD_VERSION)

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	touch $(SAM_STAMP)

test: install tools
	$(BIN)/pytest -n 2 --dist loadfile tests

# What CI runs before the tests (.ci/run): lint, format, types, templates, and the
# checked-in ASL is what its source builds.
lint: install
	$(BIN)/ruff check functions scripts tests benchmarks
	$(BIN)/ruff format --check functions scripts tests benchmarks
	$(BIN)/mypy functions/stackrelay scripts/stackrelay_cli scripts/stackrelay_local scripts/build_asl.py
	$(BIN)/cfn-lint template.yaml setup/*.yaml
	$(BIN)/python scripts/build_asl.py --check

# statemachine/*.asl.json (what template.yaml ships) is built from statemachine/src/.
asl: install
	$(BIN)/python scripts/build_asl.py

# The demo publishes the sample app with the SAM CLI, like CI: it installs it too.
demo: install $(SAM_STAMP)
	$(BIN)/stackrelay local demo

bench: install tools
	$(BIN)/python -m benchmarks.polling
	$(BIN)/python -m benchmarks.completion
	$(BIN)/python -m benchmarks.release
	$(BIN)/python -m benchmarks.imports
	$(BIN)/python -m benchmarks.throughput
	$(BIN)/python -m benchmarks.ci_wall_time

build:
	sam build

deploy:
	sam deploy

clean:
	rm -rf $(VENV) $(TOOLS) .sam-venv .aws-sam .pytest_cache
