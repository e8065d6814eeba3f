# The README's commands. Each bootstraps what it needs (uv, then the locked environment).
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
UNTIL ?= 2013-01-31
START ?= 2013-01-01
PORT ?= 3000
MLFLOW_PORT ?= 5000
export MLOPS_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(MLOPS_DATA_DIR)/dagster_home
# the locked environment first on PATH: dagster dev re-parses dbt with the `dbt` it finds there
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test test-backfill test-spark-graph env env-dev manifest ui mlflow-ui bench lint clean-data

$(UV):
	@echo ">> bootstrapping uv into $(TOOLS)/"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

env: $(UV)  ## the locked runtime environment in .venv
	$(UV) sync --frozen --no-dev --quiet

env-dev: $(UV)  ## runtime + test dependencies, with the deploy (PostgreSQL) and spark extras
	$(UV) sync --frozen --quiet --all-extras

manifest:  ## dbt manifest (dbt parse) when missing or stale
	$(BIN)/python -m mlops_assets.defs.transform.project

demo: env manifest  ## land January, materialize everything for it, start Dagster (NO_UI=1: no UI)
	$(BIN)/mlops init
	$(BIN)/mlops demo --start $(START) --until $(UNTIL)
ifndef NO_UI
	@echo ">> Dagster UI on http://localhost:$(PORT)  (MLflow UI: make mlflow-ui)"
	$(BIN)/dagster dev -w workspace.yaml -p $(PORT)
endif

ui: env manifest  ## start the Dagster webserver and daemon only
	$(BIN)/mlops init
	$(BIN)/dagster dev -w workspace.yaml -p $(PORT)

mlflow-ui: env  ## the MLflow UI on the local store
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(MLOPS_DATA_DIR)/mlflow/mlflow.db" --port $(MLFLOW_PORT)

test: env-dev  ## the test suite (what CI runs)
	./scripts/system-test-deps.sh
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME $(BIN)/python -m mlops_assets.defs.transform.project
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME -u MLOPS_WAREHOUSE -u MLFLOW_TRACKING_URI -u MLOPS_TRAINING_DAYS -u MLOPS_HOLDOUT_DAYS -u MLOPS_RUN_EXECUTOR $(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=12 tests

test-backfill: env-dev  ## only the concurrent-backfill test, also part of make test (a month through dagster-daemon, ~4-7 min; MLOPS_BACKFILL_TEST_DAYS=7: a week)
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME $(BIN)/python -m mlops_assets.defs.transform.project
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME -u MLOPS_WAREHOUSE -u MLFLOW_TRACKING_URI $(BIN)/python -m pytest -q tests/test_backfill_concurrency.py

bench: env-dev  ## benchmarks (figures, not tests); QUICK=1 for the short set; BENCH_ARGS="--only transform,sensor --noisy"
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME -u MLOPS_WAREHOUSE $(BIN)/python -m benchmarks.run $(if $(QUICK),--quick,) $(BENCH_ARGS)

test-spark-graph: env-dev  ## every asset of the graph materialized by Dagster on MLOPS_ENGINE=spark (7 days, ~4-5 min)
	env -u MLOPS_DATA_DIR -u DAGSTER_HOME -u MLOPS_WAREHOUSE -u MLFLOW_TRACKING_URI MLOPS_RUN_SPARK_GRAPH_TEST=1 $(BIN)/python -m pytest -q tests/test_spark.py -k whole_graph

lint: env-dev
	$(BIN)/ruff check mlops_assets tests

clean-data:  ## remove the data folder (warehouse, landing, Dagster and MLflow state)
	rm -rf "$(MLOPS_DATA_DIR)"
