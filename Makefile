# Two commands on a fresh machine:  make demo   |   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ANVIL_VERSION := 1.7.1
ANVIL := tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

.PHONY: demo test lint typecheck install anvil clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## anvil, the real node, from the pinned npm package (into tools/, not on the system)
$(ANVIL):
	npm install --silent --no-audit --no-fund --save-exact --ignore-scripts --prefix tools @foundry-rs/anvil@$(ANVIL_VERSION)

anvil: $(ANVIL)

demo: $(STAMP)
	$(VENV)/bin/novation demo
	$(VENV)/bin/novation stress --out runs/stress

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy protocol oracles contracts_py

test: $(STAMP) $(ANVIL)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy protocol oracles contracts_py
	PATH="$(CURDIR)/$(dir $(ANVIL)):$$PATH" $(PY) -m pytest -n 2 -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) tools/node_modules .pytest_cache .mypy_cache .ruff_cache
