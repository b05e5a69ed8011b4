# lumabench: the three commands of the quickstart, plus lint and housekeeping.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := $(shell grep -v '^\#' config/apt-packages.txt)
CLUSTER_PACKAGES := $(shell grep -v '^\#' config/apt-packages-cluster.txt)
CORES ?= $(shell nproc)

.PHONY: setup system-packages cluster-packages apt-install venv run test lint format schema dvc-plots lock mlflow-ui clean

setup: system-packages venv ## everything the embedded default needs: Debian packages and .venv

system-packages: ## install missing Debian packages (as root or with sudo; otherwise print the command)
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

cluster-packages: ## the SLURM test's Debian packages (slurm-wlm, slurmdbd, munge, MariaDB): CI installs them
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(CLUSTER_PACKAGES)"

apt-install:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "system packages: all present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "missing Debian packages; run: sudo apt-get install -y $$missing"; exit 1; fi

venv: ## create .venv and install lumabench with every extra, at the versions in requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[all]'

run: ## the whole pipeline on the profile in params.yaml (mini by default), with progress and time left
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/lumabench run --cores $(CORES)

test: ## the test suite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

lint: ## ruff (lint + format check) and snakemake's linter
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

format: ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

schema: ## regenerate workflow/schemas/params.schema.json from the pydantic model
	$(BIN)/lumabench params --schema > workflow/schemas/params.schema.json

dvc-plots: ## regenerate dvc.yaml's plots from params.yaml `run` (after changing the grid)
	$(BIN)/python -m lumabench.dvcplots

lock: ## record the exact versions of the current .venv in requirements.lock
	{ echo "# Exact versions every install uses (pip install -c requirements.lock). Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^lumabench'; } > requirements.lock

mlflow-ui: ## browse the MLflow runs of the mini profile on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///results/mini/mlflow.db --host 127.0.0.1 --port 5000

clean: ## remove every output (data/ and results/) and Snakemake's state
	rm -rf data results .snakemake
