# rdpflex — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch/torchvision pinned to the builds on this machine's disk (other versions are multi-GB downloads).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
JOBS ?= 2

.PHONY: install lint test test-slow fuzz demo demo-system bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PINS)
	@touch $(STAMP)

install: $(STAMP)

# ruff (lint + format check, settings in pyproject.toml) and mypy on the core modules
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n $(JOBS) -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The .rdp fuzz run of `make test` with many more mutants; outcome counts in fuzz-report.json.
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	RDPFLEX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RDPFLEX_FUZZ_REPORT=fuzz-report.json $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

demo: $(STAMP)
	$(VENV)/bin/rdpflex demo -o demo-out

# Rebuild the bundled demo system from the quick recipes (about 8 minutes on an idle 2-core CPU).
BUILD := runs/demo-system-build
demo-system: $(STAMP)
	rm -rf $(BUILD)
	$(VENV)/bin/rdpflex train recipes/quick/codec.yaml --output $(BUILD)/codec
	$(VENV)/bin/rdpflex train recipes/quick/multirealism-joint.yaml --output $(BUILD)/joint --set joint.init=$(BUILD)/codec/system
	$(VENV)/bin/rdpflex train recipes/quick/multirealism-decoder.yaml --output $(BUILD)/decoder --set decoder.system=$(BUILD)/joint/system
	rm -rf rdpflex/assets/demo-system && cp -r $(BUILD)/decoder/system rdpflex/assets/demo-system

bench: $(STAMP)
	$(VENV)/bin/rdpflex bench -o docs/benchmarks.md

clean:
	rm -rf $(VENV) build *.egg-info demo-out
