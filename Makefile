# Willay: `make run` serves it on embedded defaults; `make test` runs every test on real services.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/willay audio build --if-missing
	$(BIN)/willay serve

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	scripts/services.sh start
	status=0; \
	WILLAY_TEST_REQUIRE_SERVICES=1 \
	WILLAY_TEST_REDIS_URL=redis://127.0.0.1:$${WILLAY_TEST_REDIS_PORT:-6379}/0 \
	WILLAY_TEST_MQTT_URL=mqtt://127.0.0.1:$${WILLAY_TEST_MQTT_PORT:-1883} \
	WILLAY_TEST_INFLUX_URL=http://127.0.0.1:$${WILLAY_TEST_INFLUX_PORT:-8086} \
	  $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	scripts/services.sh stop; \
	exit $$status

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
