# One virtualenv for everything; `make demo` and `make test` are the Quick start.
#
# `make demo` installs only what a scan needs (the gate and its fuzz loaders): no PyTorch,
# no test tools. `make setup` (run by `make test`) adds the test and benchmark tools and
# PyTorch 2.13.0 CPU, from PyTorch's CPU index (plain PyPI would fetch ~2.7 GB of CUDA
# wheels). Override TORCH_INDEX_URL for a mirror; where no index serves torch, the torch
# tests skip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-$(HASH)
DEMO_STAMP := $(VENV)/.demo-$(HASH)
SHARED ?= ../shared
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu

.PHONY: setup demo-setup demo test bench bench-detect bench-peers comment-picture clean

setup: $(STAMP)

demo-setup:
	@test -f $(STAMP) || $(MAKE) --no-print-directory $(DEMO_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; sys.exit("mlsecops needs Python 3.11 or newer (PYTHON=$(PYTHON) is %d.%d)" % sys.version_info[:2]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The distribution's old name was mlsecops (now mlsecops-gate): an existing venv drops it first.
$(VENV)/.renamed: | $(VENV)/bin/python
	$(BIN)/python -m pip uninstall -q -y mlsecops 2>/dev/null || true
	touch $@

$(DEMO_STAMP): pyproject.toml constraints.txt | $(VENV)/.renamed
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[fuzz,assess]'
	rm -f $(VENV)/.demo-*; touch $@

$(STAMP): pyproject.toml constraints.txt | $(VENV)/.renamed
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,fuzz,assess,bench]'
	# PyTorch for the tests that torch.save real modules (and the fuzz stage's weights_only loader),
	# CPU build only. Without it the torch tests are skipped.
	$(BIN)/python -m pip install -q -c constraints.txt --index-url $(TORCH_INDEX_URL) torch==2.13.0 \
		|| echo "torch not installed: its tests will be skipped"
	rm -f $(VENV)/.installed-* $(VENV)/.demo-*; touch $@ $(DEMO_STAMP)

demo: demo-setup
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

# docs/comment.png: the demo's PR comment as GitHub renders it (needs Chromium).
comment-picture: demo
	$(BIN)/python scripts/comment_picture.py out/report.json docs/comment.png

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
