# Two commands on a fresh machine with only python3 and pip: `make demo` and `make test`.
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --locked
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint format bench bench-large sync uv clean

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

sync: uv
	@$(UV) sync --locked --quiet

demo: sync
	$(RUN) kappa demo

test: sync
	$(RUN) pytest

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: sync
	$(RUN) python -m benchmarks.ingest --quotes 20000000
	$(RUN) python -m benchmarks.schedule

bench-large: sync
	$(RUN) python -m benchmarks.ingest --quotes 100000000

clean:
	rm -rf .kappa .pytest_cache .mypy_cache .ruff_cache benchmarks/.cache
