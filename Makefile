# One virtualenv for everything; `make demo` and `make test` are the Quick start.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
SHARED ?= ../shared

.PHONY: setup demo test bench bench-detect bench-peers clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,fuzz,bench]'
	# PyTorch for the tests that torch.save real modules (and the fuzz stage's
	# weights_only loader). Set PIP_INDEX_URL to PyTorch's CPU index to avoid CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0 || echo "torch not installed: its tests will be skipped"
	rm -f $(VENV)/.installed-*; touch $@

demo: setup
	$(BIN)/python examples/make_demo_repo.py examples/demo-repo
	mkdir -p out
	-$(BIN)/mlsecops scan examples/demo-repo --base demo-base --head demo-head \
		--advisory-db examples/advisories --fuzz-budget 10 \
		--sarif out/mlsecops.sarif --json out/report.json --markdown out/comment.md; \
		echo "exit code: $$? (1 = the planted problems block the merge, as they should)"
	@echo "wrote out/mlsecops.sarif out/report.json out/comment.md"

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py

bench-detect: setup
	$(BIN)/python benchmarks/detection.py --corpus $(SHARED)/corpus --check

# ModelAudit needs numpy>=2.4.3 (Python 3.11), modelscan breaks above 2.2: it gets its own venv,
# pinned by benchmarks/modelaudit-constraints.txt (no torch: modelaudit's torch is an optional extra).
MODELAUDIT_VENV := benchmarks/work/modelaudit-venv
bench-peers: $(MODELAUDIT_VENV)/.installed

$(MODELAUDIT_VENV)/.installed: benchmarks/modelaudit-constraints.txt
	test -x $(MODELAUDIT_VENV)/bin/python || $(PYTHON) -m venv $(MODELAUDIT_VENV)
	$(MODELAUDIT_VENV)/bin/python -m pip install -q -c benchmarks/modelaudit-constraints.txt modelaudit==0.2.54
	touch $@

clean:
	rm -rf $(VENV) out examples/demo-repo benchmarks/work .pytest_cache
