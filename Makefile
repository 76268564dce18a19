# k-nlp-kit: two commands matter — `make run` (the whole course) and `make test` (what CI runs).
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.kit-installed
# Extras installed locally: lessons, the LLM track (bitsandbytes, trl), the server and the test tools.
EXTRAS ?= notebooks,llm,serve,dev
PYTEST_ARGS ?=

export MPLBACKEND ?= Agg
export PYTHONUNBUFFERED := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test unit lessons colab clean

setup: $(STAMP)

# One install: torch 2.13.0 (the CPU build on this machine) and the exact pins of constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# (the grep drops this machine's pip notices about unreachable local index folders)
	set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]" 2>&1 \
		| { grep -v "^WARNING: Location 'file://" || true; }
	@touch $(STAMP)
	@echo "environment ready: $(VENV)"

## Run every lesson headlessly (smoke mode without a GPU); results under outputs/.
run: setup
	$(PY) -m helpers.course run

## Unit tests, the docstring examples of helpers/, every lesson under nbval, and the Colab-sync check.
test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests helpers notebooks --doctest-modules --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --durations=15 $(PYTEST_ARGS)

unit: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests helpers --doctest-modules --durations=15 $(PYTEST_ARGS)

lessons: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest notebooks --nbval-lax --nbval-current-env --durations=15 $(PYTEST_ARGS)

## Regenerate colab/ from notebooks/ after editing a lesson.
colab: setup
	$(PY) -m helpers.colab build

clean:
	rm -rf outputs .pytest_cache
