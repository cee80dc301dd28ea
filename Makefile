# One install, then the two jobs: `make demo` (the full assessment of the bundled demo county-year)
# and `make test`. Both create .venv from nothing on a machine with Python 3.11 and apt. `make lab` opens
# the stage notebooks in JupyterLab.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo lab bench clean system-deps fonts

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The Noto CJK fonts (Chinese glyphs for the charts; stand-ins for the office fonts in previews),
# installed with apt where missing (as root, or through sudo). Both jobs install them before anything
# else runs, so `make demo` and `make test` work in either order in a fresh clone; the charts also find
# fonts installed after matplotlib built its font cache (documents/charts.py: ensure_cjk_font).
fonts:
	@if ! command -v fc-list >/dev/null || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    fonts-noto-cjk fontconfig >/dev/null; \
	fi

# LibreOffice (render checks of the documents), poppler (PDF → PNG/text), openssh-client (the tests check
# bundle signatures with `ssh-keygen -Y verify`, as an auditor would), and the fonts above.
system-deps: fonts
	@if ! command -v soffice >/dev/null || ! command -v pdftoppm >/dev/null || ! command -v ssh-keygen >/dev/null || ! fc-list 2>/dev/null | grep -q "Noto Serif CJK"; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    libreoffice-writer fonts-noto-cjk poppler-utils fontconfig openssh-client >/dev/null; \
	fi

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The main job: the full assessment of the bundled demo county-year (synthetic data).
demo: fonts $(STAMP)
	$(BIN)/assessment run --county demo --year 2023 --framework sihong-new-media-2023

# JupyterLab on the stage notebooks (notebooks/), in the venv's own kernel (python3 is the venv's python:
# jupyter is told to look up kernels in the venv before ~/.local). A notebook run here with no bundle_dir writes to the
# draft bundle data/processed/<county>/<year>.draft/; only `assessment run` publishes.
lab: fonts $(STAMP)
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Speed and scale (issue 6): prints a table and writes bench/results.json; data generated into bench/data/.
bench: $(STAMP)
	$(BIN)/python bench/run.py
