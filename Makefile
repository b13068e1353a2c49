# unlearn: `make demo` and `make test` are all a fresh machine needs (they run the set-up first).
SHELL := /bin/bash
CACHE ?= $(or $(UNLEARN_CACHE),$(HOME)/.cache/unlearn)
export UNLEARN_CACHE := $(CACHE)
# an absolute, stable path, so every clone builds torch-sys with the same LIBTORCH and can share
# the cached build
export LIBTORCH := $(CACHE)/libtorch
ifeq ($(CI),true)
# CI runs in a fresh clone: keep the cargo target dir in the cache so torch-sys's C++ wrapper
# (about 6.5 minutes on 2 cores) is built once per machine
export CARGO_TARGET_DIR ?= $(CACHE)/target
endif
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
BIN = $(TARGET_DIR)/release/unlearn
CARGO ?= cargo
# tests and the demo share one (release) build
CARGO_FLAGS ?= --release

.PHONY: setup build demo forget-demo test test-slurm bench gpu-bundle fmt lint clean help notebook notebook-setup test-notebooks

help:
	@echo "make demo   set up (first time), build, run scripts/quickstart.rhai on the built-in MNIST"
	@echo "make test   set up (first time), build, run all tests;  make test-slurm  sweeps on a local Slurm"
	@echo "make forget-demo  a CNN trained in PyTorch forgets 800 digits with \`unlearn forget\`"
	@echo "make bench  time every phase (scaled down on the CPU);  make gpu-bundle  binary + scripts for a GPU machine"
	@echo "make fmt / make lint  formatting and clippy"
	@echo "make notebook  set up evcxr + JupyterLab (first time) and open examples/;  make test-notebooks  run them headlessly"

setup:
	@bash .ci/setup.sh

build: setup
	$(CARGO) build $(CARGO_FLAGS)

demo: build
	$(BIN) run scripts/quickstart.rhai

# `unlearn forget` on a model from PyTorch (README, "Your own PyTorch model"): the built-in digits
# as an MNIST folder, a CNN trained there in PyTorch and saved as TorchScript, 800 training digits
# forgotten; the report is results/forget-demo/deletion-1/report.html
FORGET_DEMO = results/forget-demo
forget-demo: build
	$(CACHE)/venv/bin/python examples/pytorch/mnist_cnn.py export-builtin $(FORGET_DEMO)/mnist
	$(CACHE)/venv/bin/python examples/pytorch/mnist_cnn.py train $(FORGET_DEMO)/mnist $(FORGET_DEMO)/model
	$(CACHE)/venv/bin/python examples/pytorch/mnist_cnn.py request 800 $(FORGET_DEMO)/deletion-request.txt
	$(BIN) forget --model $(FORGET_DEMO)/model/model.pt --init $(FORGET_DEMO)/model/init.pt \
		--data mnist:$(FORGET_DEMO)/mnist --mean 0.1307 --std 0.3081 \
		--forget $(FORGET_DEMO)/deletion-request.txt --out $(FORGET_DEMO)/deletion-1 --overwrite

# (headless Chromium for the report-page test: installed when missing, see .ci/browser.sh)
test: setup
	bash .ci/browser.sh
	$(CARGO) test $(CARGO_FLAGS) --no-fail-fast

# the sweep's Slurm executor against a real Slurm on localhost (issue 10): installs slurm-wlm and
# munge when missing (root or password-less sudo), starts the daemons, compares with the local executor
test-slurm: build
	BIN=$(BIN) bash .ci/slurm-test.sh

# every phase of the pipeline (features, k-means, split, Blend, A-CF, Fine-tune, Retrain, MIA) and
# the scaling sweep: the full CIFAR-shaped workload of docs/benchmark.md on a GPU, a scaled-down
# one (about a minute) on the CPU; BENCH_ARGS="--device cuda --acf-variants fp32,bf16+cl" etc.
BENCH_ARGS ?=
bench: build
	$(BIN) bench --out results/bench $(BENCH_ARGS)

# what a GPU machine without Rust needs: the stripped binary and the device scripts of
# benches/gpu, in the git-ignored .device/ (carry it); the machine's Python must have
# torch 2.11.0+cu130, whose lib/ the scripts put on LD_LIBRARY_PATH
gpu-bundle: build
	mkdir -p .device
	cp $(BIN) .device/unlearn && strip .device/unlearn
	cp benches/gpu/* .device/

fmt:
	$(CARGO) fmt --all

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings

clean:
	$(CARGO) clean

# notebooks (evcxr Jupyter kernel): set-up is idempotent; the first one builds evcxr_jupyter (about
# 5 minutes on 2 cores, JupyterLab installs meanwhile) and warms the kernel (compiles the crate for
# it, about 3.5 minutes, with a progress line); later ones take about 20 s
notebook-setup: setup
	@bash .ci/notebook-setup.sh

notebook: notebook-setup
	JUPYTER_PATH=$(CACHE)/jupyter $(CACHE)/venv/bin/jupyter lab examples/

test-notebooks: notebook-setup
	bash .ci/test-notebooks.sh
