# Two commands on a fresh machine:  make demo   |   make test
#
# Python packages come from uv.lock (exact versions, one lock for Python 3.11-3.13), installed by
# uv into .venv; uv itself is bootstrapped with pip into tools/uv. anvil comes from its pinned npm
# package into tools/node_modules. Nothing is installed outside the checkout.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV := tools/uv/bin/uv
ANVIL_VERSION := 1.7.1
ANVIL := tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
PACKAGES := novation methodology simulator contracts_py oracles protocol
VYPER_SOURCES := $(shell find contracts_py/contracts -name '*.vy' | sort)
# mamushi (Vyper formatter) pins click 8.1.3, which .venv cannot share: its own locked environment
MAMUSHI_ENV := tools/vyper-format
MAMUSHI := $(MAMUSHI_ENV)/bin/mamushi
# mamushi 0.1.2 can neither split an `initializes:` declaration nor parse a split one: the line
# length is that of the longest declaration (clearing_house.vy's socialized_loss, 215 characters)
MAMUSHI_LINE_LENGTH := 216
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test audit lint typecheck layers format format-vy check-vy-bytecode merge-vy mutation install lock check-wheels anvil chromium clean

$(UV):
	$(PYTHON) -m venv tools/uv
	tools/uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	touch $(STAMP)

install: $(STAMP)

$(MAMUSHI): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(MAMUSHI_ENV) $(UV) sync --locked --only-group vyper-format --python $(PYTHON) --quiet
	touch $(MAMUSHI)

## re-resolve uv.lock after editing the dependency ranges in pyproject.toml
lock: $(UV)
	$(UV) lock --python $(PYTHON)

## every locked package ships a wheel for every supported Python and platform (queries PyPI)
check-wheels: $(UV)
	UV=$(UV) $(PYTHON) scripts/check_wheels.py

## anvil, the real node, from the pinned npm package (into tools/, not on the system)
$(ANVIL):
	npm install --silent --no-audit --no-fund --save-exact --ignore-scripts --prefix tools @foundry-rs/anvil@$(ANVIL_VERSION)

anvil: $(ANVIL)

## Debian's chromium for the monitor's browser test (system package, installed only when absent,
## without prompts; CI runs as root)
CHROMIUM := /usr/bin/chromium
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the monitor test needs Debian's chromium at $(CHROMIUM); install it"; exit 1; }
	$(APT_GET) install --no-install-recommends chromium || ($(APT_GET) update && $(APT_GET) install --no-install-recommends chromium)

chromium: $(CHROMIUM)

demo: $(STAMP)
	$(VENV)/bin/novation demo
	$(VENV)/bin/novation stress --out runs/stress

## ruff on Python; mamushi (format check) and natrix (through the contracts) on every .vy file
lint: $(STAMP) $(MAMUSHI)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAMUSHI) --check --line-length $(MAMUSHI_LINE_LENGTH) $(VYPER_SOURCES)
	$(PY) scripts/lint_vyper.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy $(PACKAGES)

## import-linter: the packages are layered, imports run top to bottom only
layers: $(STAMP)
	$(VENV)/bin/lint-imports

format: $(STAMP) format-vy
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## mamushi over every .vy file, in place (after scripts/vy_preformat.py: what mamushi cannot do)
format-vy: $(STAMP) $(MAMUSHI)
	$(PY) scripts/vy_preformat.py $(VYPER_SOURCES)
	$(MAMUSHI) --line-length $(MAMUSHI_LINE_LENGTH) $(VYPER_SOURCES)

## the contracts compile to the same code as at REF (a formatting-only change: make format-vy)
REF ?= main
check-vy-bytecode: $(STAMP)
	$(PY) scripts/check_vy_bytecode.py $(REF)

## merging a branch that edits .vy files into this formatted tree (run during `git merge REF`,
## conflicts or not): take REF's version of every .vy file and of the gas snapshot, format, check
## the code is REF's, then regenerate the snapshot (only deploy rows move: the init code's CBOR
## metadata hashes the sources)
merge-vy: $(STAMP) $(MAMUSHI)
	git checkout $(REF) -- tests/chain/gas_snapshot.json \
	  $$(git ls-tree -r --name-only $(REF) contracts_py/contracts | grep '\.vy$$')
	$(MAKE) format-vy check-vy-bytecode REF=$(REF)
	NOVATION_UPDATE_GAS=1 $(PY) -m pytest -q -p no:randomly tests/chain/test_gas.py
	git diff --stat $(REF) -- tests/chain/gas_snapshot.json
	git add contracts_py/contracts tests/chain/gas_snapshot.json

test: lint typecheck layers $(ANVIL) $(CHROMIUM)
	PATH="$(CURDIR)/$(dir $(ANVIL)):$$PATH" $(PY) -m pytest -n 2 -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

## invariant campaigns at fuzzer scale: 1,000,000 actions on the model (2 workers) and 50,000 on anvil; contract coverage (titanoboa)
audit: $(STAMP) $(ANVIL)
	$(VENV)/bin/novation audit --chain model --actions 1000000 --sequence-length 2000 --workers 2 --out runs/audit-model
	PATH="$(CURDIR)/$(dir $(ANVIL)):$$PATH" $(VENV)/bin/novation audit --chain anvil --actions 50000 \
	  --sequence-length 5000 --out runs/audit-anvil
	$(VENV)/bin/novation audit --chain boa --workers 1 --profile coverage --actions 7500 --sequence-length 500 \
	  --seed 2 --coverage runs/audit-coverage

## mutation score of the model (mutmut) and the contracts (seeded sample of 150), report in runs/mutation;
## not part of make test (hours for every mutant); MUTATION_ARGS="--contract-sample 0" runs them all
MUTATION_ARGS ?=
mutation: $(STAMP)
	$(PY) tests/mutation/run_mutation.py --out runs/mutation $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(MAMUSHI_ENV) mutants tools/uv tools/node_modules .pytest_cache .mypy_cache .ruff_cache
