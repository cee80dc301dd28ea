# One install, then the two jobs: `make demo` (the full assessment of the bundled demo county-year)
# and `make test`. Both create .venv from nothing on a machine with Python 3.11 and apt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# LibreOffice (render checks of the documents), poppler (PDF → PNG/text) and the Noto CJK fonts
# stand in for the office fonts; installed with apt where missing (as root, or through sudo).
system-deps:
	@if ! command -v soffice >/dev/null || ! command -v pdftoppm >/dev/null || ! fc-list 2>/dev/null | grep -q "Noto Serif CJK"; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    libreoffice-writer fonts-noto-cjk poppler-utils fontconfig >/dev/null; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The main job: the full assessment of the bundled demo county-year (synthetic data).
demo: $(STAMP)
	$(BIN)/assessment run --county demo --year 2023 --framework sihong-new-media-2023

# Speed and scale (issue 6): prints a table and writes bench/results.json; data generated into bench/data/.
bench: $(STAMP)
	$(BIN)/python bench/run.py
