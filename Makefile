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

.PHONY: setup run test unit lessons colab browser clean

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

## Every lesson in JupyterLab inside headless Chromium: errors, figures, screenshots (outputs/browser/).
## LESSONS=00,01 picks lessons by name prefix. Installs Debian's chromium, its driver and a Hangul
## font when missing (as root), and the `browser` extra (jupyterlab, selenium); not part of `make test`.
BROWSER_DEBS  := chromium chromium-driver fonts-nanum
BROWSER_STAMP := $(VENV)/.kit-browser-installed
LESSONS ?=

browser: $(BROWSER_STAMP)
	@missing=$$(for p in $(BROWSER_DEBS); do \
		[ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install" $$missing; export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends $$missing \
			|| { apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; }; \
	fi
	$(PY) tests/browser_check.py $(if $(LESSONS),--lessons $(LESSONS))

$(BROWSER_STAMP): $(STAMP) pyproject.toml constraints.txt
	set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS),browser]" 2>&1 \
		| { grep -v "^WARNING: Location 'file://" || true; }
	@touch $@

clean:
	rm -rf outputs .pytest_cache
