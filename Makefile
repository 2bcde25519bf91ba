# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install run test bench lint format check-deploy clean

install: $(VENV)/.installed

# Everything the tests, lint and benchmarks need; production installs requirements.txt only.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py cdp_demo
	PORT=$(PORT) $(BIN)/python manage.py cdp_run

# Two xdist workers (each with its own test database); PYTEST_ARGS= runs in one process.
PYTEST_ARGS ?= -n 2
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every bench/*.py (helpers start with "_"), against PostgreSQL: BENCH_DATABASE_URL.
bench: install
	@set -e; for script in $(filter-out bench/_%,$(wildcard bench/*.py)); do \
		echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS); \
	done

# ruff (style, complexity budget), the layers contract (pyproject.toml), mypy.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/test_cdp*.sqlite3* var/broker var/results var/cache
