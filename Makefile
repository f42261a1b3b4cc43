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
# Reproductions: PROFILE=full (the paper's protocol) or quick (same code path, minutes on a CPU).
PROFILE ?= quick
VARIANT ?= paper
SEEDS_full := 0,1,2,3,4
SEEDS_quick := 0,1
SEEDS ?= $(SEEDS_$(PROFILE))
ROWS_IV ?= cnn1 lenet5 resnet20 resnet32 mobilenetv2 mobilenetv2_clr
ROWS_VII ?= resnet20 resnet32
CIFAR_DATA ?= cifar10
LAUNCHER ?=
# reproduce-* targets write their tables, figures and report here (git-ignored: quick output proves nothing, and a
# GPU's full-profile output becomes evidence only when its records are copied into a results/<paper>/<table>/ folder)
REPRODUCE_OUT ?= runs/reproduce

.PHONY: help venv fashion-mnist demo train test test-fast test-full test-faults lint bench-allocator evidence-lenet5 evidence-cnn1 evidence-lenet5-tfkeras-start evidence-tables summary bench bench-deepeutaxy reproduce-table-iv reproduce-table-vii summary clean reports

help: ## this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $@

venv: $(VENV)/.installed ## create .venv and install trainfix (torch==2.14.1, torchvision==0.29.1 pinned)

fashion-mnist: ## install the real Fashion-MNIST from Debian's package (the offline default data)
	@test -f $(FASHION_DEB) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q dataset-fashion-mnist; }

demo: venv fashion-mnist ## LEAP Table 1's Fashion-MNIST row, quick profile, offline on the real Fashion-MNIST: paper vs ours -> runs/demo/leap_table_1/
	$(PY) -m trainfix.train -m experiment=leap/table_1/fashion_mnist profile=quick strategy=leap,spld,random_subset seed=0 \
	  task_name=leap_table_1_fashion_mnist_quick paths.multirun_dir=runs/demo trainer.enable_progress_bar=false $(ARGS)
	$(PY) -m trainfix.results leap --runs runs/demo/leap_table_1_fashion_mnist_quick --out runs/demo/leap_table_1 --rows fashion_mnist

train: venv ## python -m trainfix.train $(ARGS)
	$(PY) -m trainfix.train $(ARGS)

# pytest-xdist: 2 workers; --dist loadgroup keeps each @pytest.mark.xdist_group on one worker (docs/testing.md)
PYTEST_WORKERS ?= 2
XDIST = -n $(PYTEST_WORKERS) --dist loadgroup
test: venv fashion-mnist ## every tier (unit, integration, system, reliability), CPU, 2 xdist workers: the CI command (ARGS=tests/system: one tier)
	$(PY) -m pytest -q $(XDIST) -m "not gpu" $(ARGS)

test-fast: venv ## the unit tier alone (no training run, no subprocess, no make): under 2 minutes on 2 cores
	$(PY) -m pytest -q $(XDIST) tests/unit -m "not gpu" $(ARGS)

test-faults: venv ## the fault suite alone (kill -9, signals, second process, damaged checkpoints, read-only/full disk, bad data/config): prints its tally
	$(PY) -m pytest -q $(XDIST) tests/reliability $(ARGS)

test-full: venv fashion-mnist ## every tier including GPU-marked tests where a GPU exists
	$(PY) -m pytest -q $(XDIST) $(ARGS)

lint: venv ## ruff (pinned): lint rules (pyproject.toml [tool.ruff]) and formatting of src, tests, benchmarks
	$(PY) -m ruff check src tests benchmarks && $(PY) -m ruff format --check src tests benchmarks

bench: venv ## seconds/epoch of our Lightning path vs a plain PyTorch loop, and their ratio
	$(PY) benchmarks/bench_epoch.py $(ARGS)

reproduce-table-iv: venv ## DeepEutaxy Tables IV-VI + Figure 3 (PROFILE=quick|full VARIANT=paper|authors_code ROWS_IV=... CIFAR_DATA=cifar10|cifar10_jpeg)
	@for row in $(ROWS_IV); do \
	  case $$row in cnn1|lenet5) data=;; *) data=data=$(CIFAR_DATA);; esac; \
	  $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/$$row profile=$(PROFILE) variant=$(VARIANT) $$data \
	    strategy=baseline,spl,deepeutaxy seed=$(SEEDS) trainer.enable_progress_bar=false $(LAUNCHER) $(ARGS) || exit 1; \
	done
	$(PY) -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv_$(PROFILE) --out $(REPRODUCE_OUT)/deepeutaxy/table_iv_$(PROFILE)_$(VARIANT) --variant $(VARIANT)
	$(if $(filter authors_code,$(VARIANT)),$(PY) -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv_$(PROFILE) \
	  --out $(REPRODUCE_OUT)/deepeutaxy/table_iv_$(PROFILE)_$(VARIANT)_code_measure --variant $(VARIANT) --train-measure code)

reproduce-table-vii: venv ## DeepEutaxy Table VII (needs reproduce-table-iv's SPL runs of the same PROFILE and VARIANT)
	@for row in $(ROWS_VII); do \
	  $(PY) -m trainfix.train -m experiment=deepeutaxy/table_vii/$$row profile=$(PROFILE) variant=$(VARIANT) data=$(CIFAR_DATA) \
	    strategy=spl,deepeutaxy,spl_deepeutaxy seed=$(SEEDS) trainer.enable_progress_bar=false $(LAUNCHER) $(ARGS) || exit 1; \
	done
	$(PY) -m trainfix.results deepeutaxy --table vii --runs multirun/deepeutaxy_table_vii_$(PROFILE) \
	  --base-runs multirun/deepeutaxy_table_iv_$(PROFILE) --out $(REPRODUCE_OUT)/deepeutaxy/table_vii_$(PROFILE)_$(VARIANT) --variant $(VARIANT)

bench-allocator: venv ## CPU epoch time with glibc's default allocator vs extras.keep_freed_memory=true (the default), alternating fresh runs, ratio
	$(PY) benchmarks/bench_allocator.py $(ARGS)

bench-deepeutaxy: venv ## DE refresh time / one epoch, and SPL epoch time / baseline epoch time
	$(PY) benchmarks/bench_deepeutaxy.py $(ARGS)

summary: venv ## mean ± std over seeds per configuration of a sweep (RUNS=multirun/<task_name>; ARGS="--out summary.md")
	@test -n "$(RUNS)" || { echo "make summary: give RUNS=<a folder of run folders>, e.g. RUNS=multirun/deepeutaxy_table_iv_quick" >&2; exit 2; }
	$(PY) -m trainfix.results summary --runs $(RUNS) $(ARGS)

clean: ## remove caches (not runs/ or multirun/)
	rm -rf .pytest_cache **/__pycache__

REPORTS_MANIFEST ?= results/manifest.yaml
reports: venv ## rebuild every evidence folder of results/manifest.yaml offline from its committed runs/: tables, figures, report.html, PROVENANCE.md (FOLDERS=results/<paper>/<table> for some)
	$(PY) -m trainfix.results.provenance --manifest $(REPORTS_MANIFEST) --build $(FOLDERS)

EVIDENCE_DIR ?= $(abspath ../evidence-runs)
# de_tables(folder, out, variant, row[, options]): copy the records of each run of `row` and `variant` in folder (run.json,
# metrics.csv, convergence.json, de_refreshes.jsonl, the Hydra overrides.yaml; not checkpoints) into out/runs/, then build Tables IV-VI, the per-seed
# table, Figure 3 and the report from those copies, so a committed results folder rebuilds by itself. Unfinished runs are
# copied too: the per-seed table shows them so far; the tables count finished runs only.
define de_tables
	@for run in $(1)/$(4)_*_$(3)_seed*/; do test -f $$run/run.json || continue; dest=$(2)/runs/$$(basename $$run); mkdir -p $$dest; \
	  for f in run.json metrics.csv convergence.json de_refreshes.jsonl; do test ! -f $$run/$$f || cp $$run/$$f $$dest/; done; \
	  test ! -f $$run/.hydra/overrides.yaml || cp $$run/.hydra/overrides.yaml $$dest/; done
	$(PY) -m trainfix.results deepeutaxy --runs $(2)/runs --out $(2) --variant $(3) --rows $(4) $(5)
endef

evidence-lenet5: venv ## DeepEutaxy Table IV's LeNet-5 row at the paper's protocol on this CPU: 3 seeds x BL/SPL/DE x both variants, 2 runs side by side (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/lenet5 profile=full trainer=cpu \
	  variant=paper,authors_code seed=0,1,2 strategy=baseline,spl,deepeutaxy paths.multirun_dir=$(EVIDENCE_DIR) \
	  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(ARGS)
	$(MAKE) --no-print-directory evidence-tables

evidence-cnn1: venv ## DeepEutaxy Table IV's CNN1 row at the paper's protocol on this CPU, seed 0, BL/SPL/DE (~10 h a run; resumable, tables label unfinished runs)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/cnn1 profile=full trainer=cpu \
	  variant=paper seed=0 strategy=baseline,spl,deepeutaxy paths.multirun_dir=$(EVIDENCE_DIR) \
	  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(ARGS)
	$(MAKE) --no-print-directory evidence-tables

evidence-lenet5-tfkeras-start: venv ## the LeNet-5 row, variant=paper with tf.keras' Adagrad start (accumulators 0.1, as the authors' code ran): 3 seeds x BL/SPL/DE, own folder (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/lenet5 profile=full trainer=cpu \
	  variant=paper optimizer.initial_accumulator_value=0.1 seed=0,1,2 strategy=baseline,spl,deepeutaxy \
	  task_name=deepeutaxy_table_iv_full_tfkeras_start paths.multirun_dir=$(EVIDENCE_DIR) hydra/launcher=joblib hydra.launcher.n_jobs=2 $(ARGS)
	$(MAKE) --no-print-directory evidence-tables

DE_EVIDENCE = $(EVIDENCE_DIR)/deepeutaxy_table_iv_full
DE_TFKERAS = $(EVIDENCE_DIR)/deepeutaxy_table_iv_full_tfkeras_start
EVIDENCE_RESULTS ?= results/deepeutaxy
evidence-tables: venv ## copy the DeepEutaxy CPU evidence records into results/deepeutaxy/<table>/runs and rebuild their tables (no training; any time, runs finished or not)
	$(if $(wildcard $(DE_EVIDENCE)/lenet5_*_paper_seed*),$(call de_tables,$(DE_EVIDENCE),$(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_paper,paper,lenet5))
	$(if $(wildcard $(DE_EVIDENCE)/lenet5_*_authors_code_seed*),$(call de_tables,$(DE_EVIDENCE),$(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_authors_code,authors_code,lenet5))
	@# the same authors_code runs with DE's train accuracy measured as the code did (fit history's running mean); its runs/ links to theirs
	$(if $(wildcard $(DE_EVIDENCE)/lenet5_*_authors_code_seed*),mkdir -p $(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_authors_code_code_measure \
	  && ln -sfn ../table_iv_lenet5_cpu_authors_code/runs $(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_authors_code_code_measure/runs \
	  && $(PY) -m trainfix.results deepeutaxy --runs $(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_authors_code/runs \
	  --out $(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_authors_code_code_measure --variant authors_code --rows lenet5 --train-measure code)
	$(if $(wildcard $(DE_EVIDENCE)/cnn1_*_paper_seed*),$(call de_tables,$(DE_EVIDENCE),$(EVIDENCE_RESULTS)/table_iv_cnn1_cpu_paper,paper,cnn1))
	$(if $(wildcard $(DE_TFKERAS)/lenet5_*_paper_seed*),$(call de_tables,$(DE_TFKERAS),$(EVIDENCE_RESULTS)/table_iv_lenet5_cpu_paper_tfkeras_start,paper,lenet5,--allow-off-protocol))

# ---- training monitor (AutoTrainer) and the oscillating-loss study: docs/monitor.md ----------------------
OL_SEEDS_quick := 0,1,2
OL_SEEDS_full := $(shell seq -s, 0 99)
OL_SEEDS ?= $(OL_SEEDS_$(PROFILE))
OL_EPOCHS_quick := 20
OL_EPOCHS_full := 50
OL_EPOCHS ?= $(OL_EPOCHS_$(PROFILE))
OL_LAYERS ?= 20
# quick: 2,000 MNIST images at the thesis' batch 32 (same code path; its numbers prove nothing)
OL_QUICK_ARGS_quick := quick.batch_size=32
OL_RUNS ?= multirun/monitor_ol_$(PROFILE)

.PHONY: reproduce-ol-distribution compare-checking-frequency bench-monitor evidence-monitor-ol
reproduce-ol-distribution: venv ## thesis Tables 3-1/3-2: ol_judge detection rate + pair index, histograms (PROFILE=quick|full OL_EPOCHS=50 OL_LAYERS=20|34 OL_SEEDS=...)
	$(PY) -m trainfix.train -m experiment=monitor/oscillating_loss/mlp_mnist profile=$(PROFILE) trainer.max_epochs=$(OL_EPOCHS) \
	  model.params.hidden_layers=$(OL_LAYERS) seed=$(OL_SEEDS) trainer.enable_progress_bar=false $(OL_QUICK_ARGS_$(PROFILE)) $(LAUNCHER) $(ARGS)
	$(PY) -m trainfix.results monitor --runs $(OL_RUNS) --out $(REPRODUCE_OUT)/monitor/oscillating_loss_$(PROFILE)

compare-checking-frequency: venv reproduce-ol-distribution ## constant vs dynamic checking on the study's runs: checks, delay, measured t1/t2, Eq. 4.1 overhead (PROFILE=quick|full)
	$(PY) benchmarks/monitor_overhead.py --models mlp $(if $(filter quick,$(PROFILE)),--quick,) --out $(REPRODUCE_OUT)/monitor/checking_$(PROFILE)/timing.json
	$(PY) -m trainfix.results monitor --runs $(OL_RUNS) --out $(REPRODUCE_OUT)/monitor/checking_$(PROFILE) --timing $(REPRODUCE_OUT)/monitor/checking_$(PROFILE)/timing.json

bench-monitor: venv ## monitor overhead: monitor off and each schedule interleaved, repeated, identical work; observed ratio with its spread (MLP; --models resnet20 adds it)
	$(PY) benchmarks/monitor_overhead.py $(ARGS)

evidence-monitor-ol: venv ## the study at the thesis' settings on this CPU: full MNIST, 50 epochs, 20 seeds, one process (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=monitor/oscillating_loss/mlp_mnist profile=full trainer=cpu seed=$(shell seq -s, 0 19) \
	  trainer.enable_progress_bar=false paths.multirun_dir=$(EVIDENCE_DIR_OL) $(ARGS)
	@# the records travel with the tables (run.json, metrics.csv, overrides.yaml per run); checkpoints stay in the runs folder
	@for run in $(EVIDENCE_DIR_OL)/monitor_ol_full/*/; do \
	  test -f $$run/run.json || continue; dest=$(OL_EVIDENCE_OUT)/runs/$$(basename $$run); mkdir -p $$dest; \
	  for f in run.json metrics.csv; do test ! -f $$run/$$f || cp $$run/$$f $$dest/; done; \
	  test ! -f $$run/.hydra/overrides.yaml || cp $$run/.hydra/overrides.yaml $$dest/; \
	done
	$(PY) -m trainfix.results monitor --runs $(OL_EVIDENCE_OUT)/runs --out $(OL_EVIDENCE_OUT) --timing $(OL_EVIDENCE_OUT)/timing_quick.json
EVIDENCE_DIR_OL ?= $(abspath ../evidence-runs/monitor_ol)
OL_EVIDENCE_OUT ?= results/monitor/oscillating_loss_mnist_cpu

# ------------------------------------------------------------------------------ Apricot (seeds/apricot.txt)
APRICOT_ROWS ?= cnn1
APRICOT_SEEDS_full := 0,1,2,3,4
APRICOT_SEEDS_quick := 0
APRICOT_SEEDS ?= $(APRICOT_SEEDS_$(PROFILE))
APRICOT_WINDOWS_full := range(0,40000,2000)
APRICOT_WINDOWS_quick := range(0,1501,375)
APRICOT_TRAIN_quick := trainer.max_epochs=2 quick.test_subset=500
APRICOT_ADAPT_quick := retrain_epochs=1 max_batches=2
APRICOT_ADAPT ?= $(APRICOT_ADAPT_$(PROFILE))
APRICOT_RUNS = multirun/apricot_$(PROFILE)
.PHONY: reproduce-apricot-table-v bench-apricot evidence-apricot-mnist evidence-apricot-mnist-adjust-only evidence-apricot-mnist-validation
reproduce-apricot-table-v: venv ## Apricot Tables II-V + Fig. 2-3 + report, strategies 1-3 x both signs and the no-adjustment control (PROFILE=quick|full APRICOT_ROWS=cnn1 APRICOT_SEEDS=0 CIFAR_DATA=cifar10|cifar10_jpeg APRICOT_ADAPT="max_batches=..")
	@for row in $(APRICOT_ROWS); do \
	  $(PY) -m trainfix.train -m experiment=apricot/table_v/$$row profile=$(PROFILE) data=$(CIFAR_DATA) seed=$(APRICOT_SEEDS) \
	    trainer.enable_progress_bar=false $(APRICOT_TRAIN_$(PROFILE)) $(LAUNCHER) $(ARGS) || exit 1; \
	  $(PY) -m trainfix.train -m experiment=apricot/table_v/$${row}_reduced profile=$(PROFILE) data=$(CIFAR_DATA) seed=$(APRICOT_SEEDS) \
	    'data.train_window.start=$(APRICOT_WINDOWS_$(PROFILE))' trainer.enable_progress_bar=false $(APRICOT_TRAIN_$(PROFILE)) $(LAUNCHER) $(ARGS) || exit 1; \
	  for seed in $$(echo $(APRICOT_SEEDS) | tr , ' '); do \
	    $(PY) -m trainfix.apricot -m runs=$(APRICOT_RUNS) row=$$row model_seed=$$seed apricot_strategy=1,2,3 direction=toward,printed $(APRICOT_ADAPT) || exit 1; \
	    $(PY) -m trainfix.apricot runs=$(APRICOT_RUNS) row=$$row model_seed=$$seed adjust=false $(APRICOT_ADAPT) || exit 1; \
	  done; \
	done
	$(PY) -m trainfix.results apricot --runs $(APRICOT_RUNS) --out $(REPRODUCE_OUT)/apricot/table_v_$(PROFILE)

APRICOT_MNIST_ADAPT ?= retrain_epochs=1 max_batches=200
APRICOT_MNIST_RUNS = $(EVIDENCE_DIR)/apricot_mnist_$(PROFILE)
# the committed evidence folder at PROFILE=full; any other profile's tables go to the git-ignored REPRODUCE_OUT
APRICOT_MNIST_OUT = $(if $(filter full,$(PROFILE)),results/apricot/lenet5_mnist_cpu,$(REPRODUCE_OUT)/apricot/lenet5_mnist_cpu_$(PROFILE))
evidence-apricot-mnist: venv ## Apricot on LeNet-5 / official MNIST (NOT the paper's setting; CNN1's recipe): input model, 20 rDLMs, strategies 1-3 x both signs + control (APRICOT_MNIST_ADAPT), two processes (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=apricot/mnist/lenet5 profile=$(PROFILE) trainer=cpu seed=0 \
	  trainer.enable_progress_bar=false paths.multirun_dir=$(EVIDENCE_DIR) $(APRICOT_TRAIN_$(PROFILE)) $(ARGS)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=apricot/mnist/lenet5_reduced profile=$(PROFILE) trainer=cpu seed=0 \
	  'data.train_window.start=$(APRICOT_WINDOWS_$(PROFILE))' trainer.enable_progress_bar=false paths.multirun_dir=$(EVIDENCE_DIR) \
	  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_TRAIN_$(PROFILE)) $(ARGS)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot -m runs=$(APRICOT_MNIST_RUNS) row=lenet5_mnist model_seed=0 apricot_strategy=1,2,3 \
	  direction=toward,printed hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_MNIST_ADAPT)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot runs=$(APRICOT_MNIST_RUNS) row=lenet5_mnist model_seed=0 adjust=false $(APRICOT_MNIST_ADAPT)
	@# the records travel with the tables (run.json, metrics.csv; each pass's result, settings, rDLM facts, history), which are
	@# built from those copies; checkpoints and the passes' state.pt stay in the runs folder
	@$(call copy_apricot_records,$(APRICOT_MNIST_RUNS),$(APRICOT_MNIST_OUT)/runs)
	$(PY) -m trainfix.results apricot --runs $(APRICOT_MNIST_OUT)/runs --out $(APRICOT_MNIST_OUT)

# $(1): an Apricot runs folder, $(2): where its records go; passes without result.json (not started) are left out
define copy_apricot_records
out=$(2); for run in $(1)/lenet5_mnist_*/; do test -f $$run/run.json || continue; test ! -L $${run%/} || continue; \
  mkdir -p $$out/$$(basename $$run); cp $$run/run.json $$run/metrics.csv $$out/$$(basename $$run)/; \
  test ! -f $$run/.hydra/overrides.yaml || cp $$run/.hydra/overrides.yaml $$out/$$(basename $$run)/; done; \
for pass in $(1)/adapt/lenet5_mnist_*/; do test -f $$pass/result.json || continue; mkdir -p $$out/adapt/$$(basename $$pass); \
  for f in result.json config.json reduced.json history.csv; do test ! -f $$pass/$$f || cp $$pass/$$f $$out/adapt/$$(basename $$pass)/; done; done
endef

# Variants on evidence-apricot-mnist's trained runs, each in its own runs folder and results folder (a
# Table V cell holds one configuration): $(1) the variant's runs folder, $(2) its results folder
define link_apricot_mnist_runs
test -d $(APRICOT_MNIST_RUNS) || { echo "no $(APRICOT_MNIST_RUNS): run make evidence-apricot-mnist PROFILE=$(PROFILE) first (its input model and rDLMs)" >&2; exit 2; }; \
mkdir -p $(1) && for run in $(APRICOT_MNIST_RUNS)/lenet5_mnist_*/; do ln -sfn $${run%/} $(1)/$$(basename $$run); done
endef
define tables_apricot_mnist_variant
$(call copy_apricot_records,$(1),$(2)/runs); \
for run in $(APRICOT_MNIST_OUT)/runs/lenet5_mnist_*/; do \
  ln -sfn ../../$(notdir $(APRICOT_MNIST_OUT))/runs/$$(basename $$run) $(2)/runs/$$(basename $$run); done; \
$(PY) -m trainfix.results apricot --runs $(2)/runs --out $(2)
endef

# The adjustment alone: no retraining, one walk over the whole training set (3,000 batches of 20), so every
# change of the model is Eqs. 2-4's; one folder per step size r
APRICOT_MNIST_R ?= 0.001
APRICOT_MNIST_ADJUST_ONLY ?= retrain_epochs=0 max_batches=3000
APRICOT_MNIST_R_RUNS = $(APRICOT_MNIST_RUNS)_adjust_only_r$(APRICOT_MNIST_R)
evidence-apricot-mnist-adjust-only: venv ## Apricot LeNet-5/MNIST, the adjustment alone (no retraining, the whole training set) at step size APRICOT_MNIST_R: S1-3 x both signs on evidence-apricot-mnist's input model and rDLMs
	@$(call link_apricot_mnist_runs,$(APRICOT_MNIST_R_RUNS))
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot -m runs=$(APRICOT_MNIST_R_RUNS) row=lenet5_mnist model_seed=0 apricot_strategy=1,2,3 \
	  direction=toward,printed r=$(APRICOT_MNIST_R) hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_MNIST_ADJUST_ONLY)
	@$(call tables_apricot_mnist_variant,$(APRICOT_MNIST_R_RUNS),$(APRICOT_MNIST_OUT)_adjust_only_r$(APRICOT_MNIST_R))

# Selection without the test set: each batch's model is kept on 5,000 held-out test images and reported on
# the other 5,000 (eval_on=validation), for the control and strategy 1 (toward), as evidence-apricot-mnist
APRICOT_MNIST_VALIDATION ?= eval_on=validation retrain_epochs=1 max_batches=200
evidence-apricot-mnist-validation: venv ## Apricot LeNet-5/MNIST with selection on half the test set, reported on the other half: the control and S1 toward, 200 batches
	@$(call link_apricot_mnist_runs,$(APRICOT_MNIST_RUNS)_validation)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot -m runs=$(APRICOT_MNIST_RUNS)_validation row=lenet5_mnist model_seed=0 adjust=false,true \
	  apricot_strategy=1 direction=toward hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_MNIST_VALIDATION)
	@$(call tables_apricot_mnist_variant,$(APRICOT_MNIST_RUNS)_validation,$(APRICOT_MNIST_OUT)_validation)

bench-apricot: venv ## Apricot: seconds per adaptation batch, naive per-sample vs port vs vectorized (full, lazy rDLM predictions), ratios, weight difference
	$(PY) benchmarks/bench_apricot.py $(ARGS)

# ------------------------------------------------------------------ LEAP (seeds/leap.txt, docs/leap.md)
LEAP_ROWS ?= mnist fashion_mnist cifar10 cifar100 svhn
LEAP_CIFAR_DATA ?= cifar10_jpeg
LEAP_SEEDS_full := 0,1,2,3,4
LEAP_SEEDS_quick := 0,1
LEAP_SEEDS ?= $(LEAP_SEEDS_$(PROFILE))
.PHONY: reproduce-leap-table-1 bench-leap evidence-leap-mnist evidence-leap-mnist-authors-recipe

reproduce-leap-table-1: venv ## LEAP Table 1, curves vs updates, 2-D embeddings, report (PROFILE=quick|full LEAP_ROWS=... LEAP_SEEDS=...)
	@for row in $(LEAP_ROWS); do \
	  case $$row in cifar10) data=data=$(LEAP_CIFAR_DATA);; *) data=;; esac; \
	  case $$row in cifar100|svhn) seeds=$$(echo $(LEAP_SEEDS) | cut -d, -f1-4);; *) seeds=$(LEAP_SEEDS);; esac; \
	  $(PY) -m trainfix.train -m experiment=leap/table_1/$$row profile=$(PROFILE) variant=$(VARIANT) $$data \
	    strategy=leap,spld,random_subset seed=$$seeds trainer.enable_progress_bar=false $(LAUNCHER) $(ARGS) \
	    || echo "note: row $$row: runs failed (absent data shows as 'data missing' in Table 1)" >&2; \
	done
	$(PY) -m trainfix.results leap --runs multirun/leap_table_1_$(PROFILE) --out $(REPRODUCE_OUT)/leap/table_1_$(PROFILE)_$(VARIANT)

bench-leap: venv ## LEAP: student updates/s alone, with the embedding steps interleaved (concurrent) and on their own thread (background): ratios, refresh time
	$(PY) benchmarks/bench_leap.py $(ARGS)

evidence-leap-mnist: venv ## LEAP Table 1 MNIST row on this CPU: full MNIST, seeds 0-2, the code's 23,400 updates (LEAP_UPDATES=n: fewer, own folders)
	$(PY) -m trainfix.train -m experiment=leap/table_1/mnist seed=0,1,2 strategy=random_subset,spld,leap \
	  $(if $(LEAP_UPDATES),leap.max_updates=$(LEAP_UPDATES) hydra.sweep.dir=multirun/leap_mnist_$(LEAP_UPDATES)_updates,hydra.sweep.dir=multirun/leap_mnist_full_protocol) \
	  trainer.enable_progress_bar=false $(ARGS)
	$(call leap_mnist_tables,$(LEAP_MNIST_RUNS),$(LEAP_MNIST_OUT))
LEAP_MNIST_RUNS = $(if $(LEAP_UPDATES),multirun/leap_mnist_$(LEAP_UPDATES)_updates,multirun/leap_mnist_full_protocol)
LEAP_MNIST_OUT = $(if $(LEAP_UPDATES),results/leap/table_1_mnist_cpu_$(LEAP_UPDATES)_updates,results/leap/table_1_mnist_cpu)

# leap_mnist_tables(runs folder, results folder): the records travel with the tables (run.json, metrics.csv,
# convergence.json, leap_embedding.csv, the Hydra overrides.yaml; not checkpoints), then Table 1's MNIST row from the copies.
define leap_mnist_tables
	@for run in $(1)/*/; do \
	  test -f $$run/run.json || continue; dest=$(2)/runs/$$(basename $$run); mkdir -p $$dest; \
	  for f in run.json metrics.csv convergence.json leap_embedding.csv; do test ! -f $$run/$$f || cp $$run/$$f $$dest/; done; \
	  test ! -f $$run/.hydra/overrides.yaml || cp $$run/.hydra/overrides.yaml $$dest/; \
	done
	$(PY) -m trainfix.results leap --rows mnist --runs $(2)/runs --out $(2)
endef

# Issue 27: the MNIST row with the authors' paper-era student (model=leap_lenet, SPL-ADVisE 6b8d9d8..bccac11) and the
# authors' Random (strategy.count=all), 3 seeds x LEAP/SPLD/Random, 23,400 updates, one intra-op thread per run.
LEAP_AUTHORS_RUNS = $(EVIDENCE_DIR)/leap_mnist_authors_recipe
LEAP_AUTHORS_OUT = results/leap/table_1_mnist_cpu_authors_recipe
LEAP_JOBS ?= 2
evidence-leap-mnist-authors-recipe: venv ## LEAP Table 1 MNIST row (issue 27): the authors' paper-era student and Random, seeds 0-2, 23,400 updates, LEAP_JOBS runs side by side, under EVIDENCE_DIR (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=leap/table_1/mnist seed=0,1,2 strategy=leap,spld,random_subset \
	  hydra.sweep.dir=$(LEAP_AUTHORS_RUNS) hydra/launcher=joblib hydra.launcher.n_jobs=$(LEAP_JOBS) \
	  trainer.enable_progress_bar=false $(ARGS)
	$(call leap_mnist_tables,$(LEAP_AUTHORS_RUNS),$(LEAP_AUTHORS_OUT))

# ---- Mini-batch trimming (issue 9): Table 1, the strategy benchmark, the CPU evidence -----------------------------
SEEDS_TRIM_full := 0,1,2,3,4,5,6,7,8,9
SEEDS_TRIM_quick := 0,1
TRIM_SEEDS ?= $(SEEDS_TRIM_$(PROFILE))
TRIM_MODELS ?= resnet34 densenet121
TRIM_DATA ?= svhn,cifar10_jpeg,cifar100
TRIM_LAUNCHER ?= hydra/launcher=joblib hydra.launcher.n_jobs=2
.PHONY: reproduce-trimming-table-1 bench-strategies evidence-trimming-fmnist

# A sweep exits 1 when a job failed, data errors included: the table's --strict then fails the target only for
# cells that failed for another reason than missing data files (those cells say `data missing`).
reproduce-trimming-table-1: venv ## Mini-batch trimming Table 1 (PROFILE=quick|full VARIANT=paper|authors_code TRIM_MODELS=... TRIM_DATA=svhn,cifar10_jpeg,cifar100 TRIM_SEEDS=...)
	@for model in $(TRIM_MODELS); do \
	  $(PY) -m trainfix.train -m experiment=trimming/table_1/$$model profile=$(PROFILE) variant=$(VARIANT) data=$(TRIM_DATA) \
	    strategy=shuffle,trimming seed=$(TRIM_SEEDS) trainer.enable_progress_bar=false $(TRIM_LAUNCHER) $(ARGS); \
	  status=$$?; [ $$status -le 1 ] || exit $$status; \
	done
	$(PY) -m trainfix.results trimming --runs multirun/trimming_table_1_$(PROFILE) --out $(REPRODUCE_OUT)/trimming/table_1_$(PROFILE)_$(VARIANT) --strict

bench-strategies: venv ## epoch time of every strategy vs the shuffle loop in one run, and its throughput ratio (trimming target >= 0.97)
	$(PY) benchmarks/bench_strategies.py $(ARGS)

TRIM_EVIDENCE_DIR ?= $(abspath ../evidence-runs)
evidence-trimming-fmnist: venv ## trimming off vs on, full Fashion-MNIST, LeNet-5, 30 epochs, seeds 0-2, one process on this CPU (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=trimming/fmnist/lenet5 trainer=cpu task_name=trimming_fmnist \
	  paths.multirun_dir=$(TRIM_EVIDENCE_DIR) hydra/launcher=basic seed=0,1,2 strategy=shuffle,trimming trainer.enable_progress_bar=false $(ARGS)
	@# The records travel with the tables (run.json, metrics.csv, overrides.yaml per run); checkpoints stay in the runs folder.
	@for run in $(TRIM_EVIDENCE_DIR)/trimming_fmnist/*/; do \
	  test -f $$run/run.json || continue; dest=results/trimming/fmnist_lenet5_cpu/runs/$$(basename $$run); mkdir -p $$dest; \
	  cp $$run/run.json $$dest/; test ! -f $$run/metrics.csv || cp $$run/metrics.csv $$dest/; \
	  test ! -f $$run/.hydra/overrides.yaml || cp $$run/.hydra/overrides.yaml $$dest/; \
	done
	$(PY) -m trainfix.results trimming --runs results/trimming/fmnist_lenet5_cpu/runs --out results/trimming/fmnist_lenet5_cpu \
	  --title "Mini-batch trimming on this CPU: Fashion-MNIST, LeNet-5 (not the paper's setting)"
