# trainfix — `make help` lists the targets. Every target creates the virtual environment when missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
export WANDB_MODE ?= offline
# Real data: ../shared/data when it is beside the checkout, else ./data (torchvision layout).
export TRAINFIX_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
FASHION_DEB := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
ARGS ?=

.PHONY: help venv fashion-mnist demo train test test-full bench clean

help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create .venv and install trainfix (torch==2.14.1, torchvision==0.29.1 pinned)

fashion-mnist: ## install the real Fashion-MNIST from Debian's package (the offline default data)
	@test -f $(FASHION_DEB) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q dataset-fashion-mnist; }

demo: venv fashion-mnist ## 1-epoch LeNet-5 on the real Fashion-MNIST (offline), writes runs/demo/...
	$(PY) -m trainfix.train task_name=demo data=fashion_mnist model=lenet5 strategy=shuffle \
	  optimizer=adam optimizer.lr=0.001 data.batch_size=128 trainer.max_epochs=1 $(ARGS)

train: venv ## python -m trainfix.train $(ARGS)
	$(PY) -m trainfix.train $(ARGS)

test: venv fashion-mnist ## the test suite (CPU, minutes)
	$(PY) -m pytest -q -m "not gpu" $(ARGS)

test-full: venv fashion-mnist ## the test suite including GPU-marked tests where a GPU exists
	$(PY) -m pytest -q $(ARGS)

bench: venv ## seconds/epoch of our Lightning path vs a plain PyTorch loop, and their ratio
	$(PY) benchmarks/bench_epoch.py $(ARGS)

clean: ## remove caches (not runs/ or multirun/)
	rm -rf .pytest_cache **/__pycache__
