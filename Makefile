# Commands on a fresh machine with only python3 and pip: `make demo`, `make lint`, `make test` (`.ci/run` runs
# lint then test).
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --locked
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test test-sweep lint format bench bench-startup bench-xl bench-csv bench-csv-day bench-formats sync uv clean

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

sync: uv
	@$(UV) sync --locked --quiet

demo: sync
	$(RUN) kappa demo

# two workers, a test file each at a time (its module fixtures stay on one worker), the longest files first
# (tests/conftest.py: LONGEST_FIRST): the suite waits on Prefect servers and subprocesses as much as it computes
test: sync
	$(RUN) pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not sweep"

# the long seeded sweeps (tests marked `sweep`), one worker
test-sweep: sync
	$(RUN) pytest -n 0 -m sweep

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# the whole night at three sizes beside pandas and the floor (data generated once, ~12 GiB under benchmarks/.cache);
# a flow command on the home's Prefect server, cold and reused, beside the plain functions
bench: sync
	$(RUN) python -m benchmarks.harness --sizes small,medium,large --runs 3
	$(RUN) python -m benchmarks.schedule
	$(RUN) python -m benchmarks.server --symbols 3 --runs 3
	$(RUN) python -m benchmarks.csv_day
	$(MAKE) --no-print-directory bench-startup

# CPU time of `kappa --help`, every command's --help and one schedule, beside `import numpy, typer, rich`
bench-startup: sync
	$(RUN) python -m benchmarks.startup --runs 5

# a real-market-sized day (330 M quotes, 70 M trades, 8,000 symbols): Kappa's night beside the floor's steps
bench-xl: sync
	$(RUN) python -m benchmarks.harness --sizes xl --runs 1 --variants nightly,floor

# loading CSV (text parsing and validation) at 20 M quotes
bench-csv: sync
	$(RUN) python -m benchmarks.ingest --quotes 20000000

# a CSV day (5 M quotes) loaded and calibrated by Kappa's commands beside one pandas script, and where a CSV
# load's time goes, stage by stage
bench-csv-day: sync
	$(RUN) python -m benchmarks.csv_day
	$(RUN) python -m benchmarks.csv_profile

# each input format (TAQ, WRDS, LOBSTER, DBN, FIX) beside Kappa's CSV: records/s and peak memory of a load
bench-formats: sync
	$(RUN) python -m benchmarks.formats --records 1000000

clean:
	rm -rf .kappa .pytest_cache .mypy_cache .ruff_cache benchmarks/.cache
