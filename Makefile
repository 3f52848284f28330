# Every target creates .venv and installs what it needs on first use.
# Recipes are silent so that `make bench` prints exactly one JSON object on stdout.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

export QT_PREFERRED_BINDING := PySide6
export QT_API := pyside6

.PHONY: run test bench screenshot bundle clean

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (first run only)..." >&2
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >&2
	@$(PY) -m pip install -q -e ".[dev]" >&2
	@touch $(STAMP)

run: $(STAMP)
	@$(PY) -m studio_app $(ARGS)

screenshot: $(STAMP)
	@QT_QPA_PLATFORM=offscreen $(PY) -m studio_app.screenshots --quiet --out docs

test: $(STAMP)
	@QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	@$(PY) -m benchmarks

bundle: $(STAMP)
	@$(PY) packaging/build.py

clean:
	rm -rf $(VENV) build dist *.egg-info
