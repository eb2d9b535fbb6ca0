# trackflow — two commands on a fresh machine: `make run` and `make test`.
# Both create .venv when missing and install the pinned dependencies (requirements.lock) once;
# later calls skip the install until requirements.lock or pyproject.toml change.

PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= demo
PYTEST_ARGS ?=
# pytest-xdist workers of `make test` (each test file runs whole on one worker; pyproject.toml);
# 0, or PYTEST_ARGS=-n0, runs the suite serially in one process
TEST_WORKERS ?= 2
BENCH_HOME ?= /tmp/trackflow-bench-passing
BENCH_WEEKS ?= 1-8
UI_PORT ?= 5000
AIRFLOW_PORT ?= 8080
# pid and log of `make airflow` (the project-local AIRFLOW_HOME of conf/trackflow.yaml)
AIRFLOW_STATE ?= .airflow

.DEFAULT_GOAL := help
.PHONY: help run test ui airflow airflow-stop bench bench-etl bench-passing lock java clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "trackflow needs Python 3.11: '$(PYTHON)' was not found (set PYTHON=/path/to/python3.11)." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

java:  ## check that Java 17+ is there (Spark needs it)
	@command -v java >/dev/null 2>&1 || { echo "trackflow needs Java 17 or newer for Spark, and 'java' is not on the PATH." >&2; \
	  echo "Install it (Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME and PATH." >&2; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then echo "trackflow needs Java 17 or newer for Spark; found: $$(java -version 2>&1 | head -1)" >&2; exit 1; fi

run: java $(STAMP)  ## the whole pipeline on the demo profile: Airflow runs preseason_retraining, then a summary
	$(BIN)/trackflow --profile $(PROFILE) airflow dags test preseason_retraining
	$(BIN)/trackflow --profile $(PROFILE) runs show

ui: $(STAMP)  ## the MLflow UI on http://127.0.0.1:5000 (UI_PORT=…) over the project's runs and registry
	$(BIN)/trackflow --profile $(PROFILE) ui --port $(UI_PORT)

airflow: java $(STAMP)  ## Airflow standalone on http://127.0.0.1:8080 (AIRFLOW_PORT=…) in the background; `make airflow-stop` stops it
	@mkdir -p $(AIRFLOW_STATE)
	@if [ -f $(AIRFLOW_STATE)/standalone.pid ] && kill -0 $$(cat $(AIRFLOW_STATE)/standalone.pid) 2>/dev/null; then \
	  echo "Airflow is already running (process group $$(cat $(AIRFLOW_STATE)/standalone.pid)); make airflow-stop stops it"; exit 0; fi; \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) setsid $(BIN)/trackflow --profile $(PROFILE) airflow standalone \
	  > $(AIRFLOW_STATE)/standalone.log 2>&1 < /dev/null & echo $$! > $(AIRFLOW_STATE)/standalone.pid; \
	echo "Airflow starting on http://127.0.0.1:$(AIRFLOW_PORT) (process group $$(cat $(AIRFLOW_STATE)/standalone.pid), log $(AIRFLOW_STATE)/standalone.log)"; \
	echo "the admin password is in $(AIRFLOW_STATE)/simple_auth_manager_passwords.json.generated once it is up"

airflow-stop:  ## stop what `make airflow` started (its whole process group)
	@if [ -f $(AIRFLOW_STATE)/standalone.pid ] && kill -0 $$(cat $(AIRFLOW_STATE)/standalone.pid) 2>/dev/null; then \
	  kill -TERM -$$(cat $(AIRFLOW_STATE)/standalone.pid); rm -f $(AIRFLOW_STATE)/standalone.pid; echo "Airflow stopped"; \
	else rm -f $(AIRFLOW_STATE)/standalone.pid; echo "Airflow is not running"; fi

test: java $(STAMP)  ## run the test suite on 2 workers (TEST_WORKERS=0 or PYTEST_ARGS=-n0: serially)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)  ## benchmarks: simulate a full season (272 games), print plays/s and peak memory
	$(BIN)/python bench/simulate_season.py

bench-etl: $(STAMP) java  ## benchmarks: CPU s per play of the anomaly filter + features (4 and 8 weeks), pandas reference
	$(BIN)/python bench/etl --weeks 4

bench-passing: java $(STAMP)  ## the passing model's bars on demo weeks (ingest, prepare, select, train), then its inference speed
	export TRACKFLOW_PROFILE=demo TRACKFLOW__PATHS__HOME=$(BENCH_HOME) && \
	  $(BIN)/trackflow ingest --season 2025 --weeks $(BENCH_WEEKS) && \
	  $(BIN)/trackflow prepare --season 2025 --weeks $(BENCH_WEEKS) && \
	  $(BIN)/trackflow select --season 2025 --weeks $(BENCH_WEEKS) && \
	  $(BIN)/trackflow train passing --season 2025 --weeks $(BENCH_WEEKS) && \
	  $(BIN)/python bench/passing_inference.py --home $(BENCH_HOME) --weeks $(BENCH_WEEKS) && \
	  if command -v c++ >/dev/null 2>&1; then \
	    $(BIN)/python bench/passing_inference.py --home $(BENCH_HOME) --weeks $(BENCH_WEEKS) --compiled --bf16; \
	  else echo "no C++ compiler: the compiled (torch.compile) inference is not timed"; fi

lock:  ## re-resolve requirements.in into requirements.lock in a scratch venv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.in
	{ echo "# Generated by \`make lock\` from requirements.in on Python 3.11 (linux x86_64). Do not edit by hand."; \
	  .lockenv/bin/python -m pip freeze --all --exclude pip --disable-pip-version-check; } > requirements.lock
	rm -rf .lockenv

clean:  ## remove what the pipeline wrote (lake, simulated data, MLflow, Airflow home); keeps .venv
	rm -rf lake data mlflow .airflow
