# The two commands of the README's Quick start: `make demo` and `make test`.
# Both create .venv/ on first use and install the pinned requirements plus this package into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CORES ?= all

.PHONY: demo test venv clean rulegraph readme-summary envs

venv: $(INSTALLED)

# pip (not uv/poetry): torch and torchvision come from local disk on the project's machines. This package is
# built with the setuptools pinned in requirements.txt, not in an isolated build environment (5 s less).
$(INSTALLED): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(INSTALLED)
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES) --configfile config.yaml
	$(BIN)/snakemake --configfile config.yaml --report results/report.html
	@echo "taskspace demo done: figures in results/figures/, report in results/report.html"

test: $(INSTALLED)
	$(BIN)/python -m pytest
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --configfile config.yaml

# Refresh the rule graph in the README (tests/test_readme.py fails when it is stale).
rulegraph: $(INSTALLED)
	$(BIN)/snakemake --configfile config.yaml --rulegraph mermaid-js | $(BIN)/python -m tools.rulegraph README.md

# After `make demo`: the README's demo tables from results/summary.md, with the commit they were measured at.
readme-summary: $(INSTALLED)
	$(BIN)/python -m tools.readme_summary README.md results/summary.md

# Write the rules' conda envs (envs/*.yaml) from requirements.txt (tests/test_envs.py fails when they are stale).
envs: $(INSTALLED)
	$(BIN)/python tools/envs.py

clean:
	rm -rf results logs .snakemake
