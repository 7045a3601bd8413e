# rdpflex — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch/torchvision pinned to the builds on this machine's disk (other versions are multi-GB downloads).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
JOBS ?= 2

.PHONY: install lint test test-slow test-browser test-install fuzz mutation demo demo-system demo-card demo-rd bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The example external plugin (plugins/examples/rdpflex-refine, its own distribution) is installed beside rdpflex:
# the tests check that it registers, decodes and passes the conformance suite like a third-party plugin.
EXAMPLE_PLUGINS := plugins/examples/rdpflex-refine

$(STAMP): $(PY) pyproject.toml $(EXAMPLE_PLUGINS:%=%/pyproject.toml)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PINS)
	$(PY) -m pip install -q --no-deps $(EXAMPLE_PLUGINS:%=-e %)
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

# The report viewer in headless Chromium (tests marked `browser`; `make test` skips them where no browser is
# present). Debian's chromium (apt, as root), driven by Playwright from the `browser` extra; no browser download.
# Screenshots: test-artifacts/viewer/.
test-browser: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }
	$(PY) -m pip install -q -e '.[browser]' $(TORCH_PINS)
	$(PY) -m pytest -q -p no:cacheprovider -m browser

# The wheel installed (not editable) in a fresh venv, used from an empty directory (tests/test_packaging.py)
test-install: $(STAMP)
	$(PY) -m pytest -q -s -m slow -p no:cacheprovider tests/test_packaging.py

# The .rdp fuzz run of `make test` with many more mutants; outcome counts in fuzz-report.json.
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	RDPFLEX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RDPFLEX_FUZZ_REPORT=fuzz-report.json $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# Mutation testing of the .rdp container and the symbol checksum (docs/reliability.md): mutmut, installed on demand,
# mutates rdpflex/bitstream.py and rdpflex/codecs/checksum.py and runs each mutant against the tests that exercise
# them ([tool.mutmut] in pyproject.toml), from scratch in mutants/ (git-ignored); 10-25 min on the shared 2-core VM.
# Prints every mutant not killed (`$(VENV)/bin/mutmut show NAME` for its diff), then the score per file.
MUTMUT := mutmut==3.8.1
define MUTATION_SCORE
import json, tomllib
from collections import Counter
from mutmut.stats import status_by_exit_code
for path in tomllib.load(open("pyproject.toml", "rb"))["tool"]["mutmut"]["only_mutate"]:
    codes = json.load(open(f"mutants/{path}.meta"))["exit_code_by_key"].values()
    n = Counter(status_by_exit_code[c] for c in codes)
    print(f"{path}: {len(codes)} mutants, {n['killed']} killed, {n['survived']} survived, "
          f"{n['timeout']} timeout, {n['no tests']} no tests ({100 * n['killed'] / len(codes):.1f}% killed)")
endef
export MUTATION_SCORE
mutation: $(STAMP)
	$(PY) -m pip install -q $(MUTMUT) $(TORCH_PINS)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(JOBS)
	$(VENV)/bin/mutmut results
	@$(PY) -c "$$MUTATION_SCORE"

demo: $(STAMP)
	$(VENV)/bin/rdpflex demo -o demo-out

# Rebuild the bundled demo system from the demo/ recipes (codec, idempotence prior, multi-realism and cdiff
# decoders; wall times in docs/benchmarks.md). The demo's photographs (rdpflex.samples.HELDOUT) are never trained on.
BUILD := runs/demo-system-build
RDP := $(VENV)/bin/rdpflex
demo-system: $(STAMP)
	rm -rf $(BUILD)
	$(RDP) train demo/codec --output $(BUILD)/codec
	$(RDP) train demo/idempotence-prior --output $(BUILD)/prior --set prior.system=$(BUILD)/codec/system
	$(RDP) train demo/multirealism-decoder --output $(BUILD)/multirealism --set decoder.system=$(BUILD)/prior/system
	$(RDP) train demo/multirealism-decoder --output $(BUILD)/multirealism --set decoder.system=$(BUILD)/prior/system --resume --set train.steps=5000
	$(RDP) train demo/multirealism-realism --output $(BUILD)/multirealism-realism --set decoder.system=$(BUILD)/multirealism/system --set decoder.settings.init=$(BUILD)/multirealism/system
	$(RDP) train demo/cdiff-decoder --output $(BUILD)/cdiff --set decoder.system=$(BUILD)/multirealism-realism/system
	rm -rf rdpflex/assets/demo-system && cp -r $(BUILD)/cdiff/system rdpflex/assets/demo-system

# The bundled demo system's model card (README.md), for the system built before training exports wrote cards:
# its training runs (the demo/ recipes, in order) and figures measured on its held-out photographs.
demo-card: $(STAMP)
	$(PY) -m rdpflex.train.card rdpflex/assets/demo-system demo/cdiff-decoder --trained-with demo/codec \
		--trained-with demo/idempotence-prior --trained-with "demo/multirealism-decoder --set train.steps=5000" \
		--trained-with demo/multirealism-realism --trained-with demo/cdiff-decoder

# The demo codec's rate-distortion curve against JPEG and WebP (BD-rate): two more operating points
# fine-tuned from the bundled codec, then `rdpflex bench rd` on the held-out photographs.
demo-rd: $(STAMP)
	$(RDP) train demo/codec-rate-point --output $(BUILD)/rate-0035 --set codec.init=rdpflex/assets/demo-system --set codec.lambda=0.0035
	$(RDP) train demo/codec-rate-point --output $(BUILD)/rate-013 --set codec.init=rdpflex/assets/demo-system --set codec.lambda=0.013
	$(RDP) bench rd $(BUILD)/rate-0035/system rdpflex/assets/demo-system $(BUILD)/rate-013/system --json $(BUILD)/rd.json

bench: $(STAMP)
	$(VENV)/bin/rdpflex bench -o docs/benchmarks.md

clean:
	rm -rf $(VENV) build *.egg-info demo-out test-artifacts mutants
