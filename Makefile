# lrchain: `make sweep` and `make test` set everything up on a fresh machine.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup sweep ui test lint bench clean

setup: $(STAMP)

# Re-install only when the project's dependencies change; a present .venv is kept.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet -e ".[dev,server]"
	touch $(STAMP)

sweep: setup
	$(PY) train.py -m sched=step,exp,chain

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# MLflow's UI on the store of this folder: http://127.0.0.1:5000 (the sweep prints direct links).
ui: setup
	.venv/bin/mlflow ui --host 127.0.0.1 --port 5000

test: lint
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/bench.py

clean:
	rm -rf outputs multirun mlflow.db optuna.db mlruns/[0-9]* lrchain-preview.* comparison cmp logged
