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
# Their sweeps: PROFILE=quick under runs/ as well (git-ignored, thrown away), full in multirun/ (kept: skip/resume carries
# a long table on over several invocations)
SWEEPS_quick := $(REPRODUCE_OUT)/multirun
SWEEPS_full := multirun
SWEEPS ?= $(SWEEPS_$(PROFILE))
# After a sweep: go on to the next sweep and the table when it exited 0 or 1 (a job failed, e.g. its dataset files are
# absent: the table shows `data missing` or `failed` in those cells); stop on 2 (a configuration mistake) and above.
SWEEP_GO_ON = status=$$?; [ $$status -le 1 ] || exit $$status
# Extra options for every reproduce target's table command, e.g. TABLE_ARGS=--allow-off-protocol (DeepEutaxy) when ARGS
# shrank the runs below their profile (the system test does)
TABLE_ARGS ?=
# PROFILE=quick: the first caption line of every table a reproduce target builds (--note, quick_note): what was
# reduced, and which rows are a PIPELINE CHECK (they cannot learn in minutes on a CPU: their numbers test the code path)
QUICK_NOTE_deepeutaxy_iv = Profile quick (seeds $(SEEDS)): LeNet-5 10 of 200 epochs on all MNIST at batch 1000; CNN1 3 epochs \
of 6,000 MNIST images at batch 100 (variant paper: SPL selects no sample in its first ~11 epochs, chance level here; \
authors_code ~95 %); PIPELINE CHECK for the CIFAR-10 rows (ResNet-20/32, MobileNetV2, MobileNetV2-2: 1,000 images, \
5 epochs; they do not learn, their numbers prove nothing)
QUICK_NOTE_deepeutaxy_vii = Profile quick (seeds $(SEEDS)): PIPELINE CHECK (ResNet-20/32 on 1,000 CIFAR-10 images, 5 epochs \
from quick Table IV SPL models; they do not learn, the numbers prove nothing)
QUICK_NOTE_monitor = Profile quick (seeds $(OL_SEEDS)): PIPELINE CHECK (2,000 MNIST images at batch 32, $(OL_EPOCHS) epochs; \
detection rates of so few runs prove nothing)
QUICK_NOTE_apricot = Profile quick (seeds $(APRICOT_SEEDS)): PIPELINE CHECK (CNN1 on 2,000 CIFAR-10 images, 2 epochs, 5 rDLM \
windows, 2 adaptation batches; nothing learns, the numbers prove nothing)
QUICK_NOTE_leap = Profile quick (seeds $(LEAP_SEEDS)): PIPELINE CHECK for every row (5 epochs of a 2,000-image subset, 500 for \
the ResNet/WRN rows, a few dozen updates at the papers learning rate 0.001; the students do not learn)
QUICK_NOTE_trimming = Profile quick (seeds $(TRIM_SEEDS)): PIPELINE CHECK (64 images, 2 epochs per cell; ResNet-34 and \
DenseNet-121 do not learn, the numbers prove nothing)
# quick_note(paper): under PROFILE=quick, the table command's --note QUICK_NOTE_<paper> (first caption line of every
# table, bold under the report's title)
quick_note = $(if $(filter quick,$(PROFILE)),--note "$(strip $(QUICK_NOTE_$(1)))")

.PHONY: help venv fashion-mnist demo demo-fashion-mnist train test test-fast test-full test-faults check-evidence lint bench-allocator evidence-lenet5 evidence-cnn1 evidence-lenet5-tfkeras-start evidence-tables summary bench bench-deepeutaxy reproduce-deepeutaxy-table-iv reproduce-deepeutaxy-table-vii clean reports findings

help: ## this list: the reproduce targets first, the multi-hour evidence-* runs last
	@echo "Reproduce a published table: make reproduce-<paper>-<table> PROFILE=quick (default: minutes on a CPU, output under"
	@echo "runs/; rows that cannot learn that fast say PIPELINE CHECK in their table) or PROFILE=full (the paper's protocol)"
	@grep -hE '^reproduce-[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-30s %s\n", $$1, $$2}'
	@echo "  (old names still work: reproduce-table-iv, reproduce-table-vii, reproduce-ol-distribution, compare-checking-frequency)"
	@echo "Everything else:"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | grep -vE '^(reproduce|evidence)-' \
	  | awk -F':.*## ' '{printf "  %-30s %s\n", $$1, $$2}'
	@echo "Evidence on this CPU at the papers' protocol, into results/ (MULTI-HOUR runs, resumable; evidence-tables only rebuilds):"
	@grep -hE '^evidence-[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk -F':.*## ' '{printf "  %-30s %s%s\n", $$1, ($$1 == "evidence-tables" ? "" : "[hours] "), $$2}'

# Old target names, kept as aliases (reproduce-<paper>-<table> is the scheme)
.PHONY: reproduce-table-iv reproduce-table-vii reproduce-ol-distribution compare-checking-frequency
reproduce-table-iv: reproduce-deepeutaxy-table-iv
reproduce-table-vii: reproduce-deepeutaxy-table-vii
reproduce-ol-distribution: reproduce-monitor-table-3-1
compare-checking-frequency: reproduce-monitor-figure-4-2

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

# make demo: DeepEutaxy Table IV's LeNet-5/MNIST row through reproduce-deepeutaxy-table-iv's code path (profile=quick:
# the paper's data and batch, 10 of its 200 epochs; conf/experiment/deepeutaxy/table_iv/lenet5.yaml), one seed,
# variant=authors_code (the paper variant's SPL selects no sample for its first ~11 epochs), 2 runs side by side.
DEMO_OUT ?= runs/demo
DEMO_TABLE = $(DEMO_OUT)/deepeutaxy_table_iv
DEMO_NOTE = Reduced for make demo: 1 seed (paper 5), 10 of 200 epochs on all 60,000 MNIST images at batch 1000, \
variant authors_code; accuracies at epoch 10 (the paper: at Eq. 12 convergence, epochs 65 to 109), so the epochs-to-converge \
columns cannot be reached
demo: venv ## DeepEutaxy Table IV's LeNet-5/MNIST row, 1 seed x 10 epochs (~4 min on 2 cores): paper vs ours, within 10 points -> runs/demo/
	@test -d $(TRAINFIX_DATA_DIR)/MNIST/raw || { echo "make demo: no MNIST under $(TRAINFIX_DATA_DIR)/MNIST/raw (the data root \
	  beside the checkout, ../shared/data, or TRAINFIX_DATA_DIR=<torchvision layout>). With Debian's Fashion-MNIST alone: \
	  make demo-fashion-mnist (LEAP Table 1's Fashion-MNIST row, a pipeline check)" >&2; exit 2; }
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/lenet5 profile=quick variant=authors_code \
	  strategy=deepeutaxy,baseline,spl seed=0 paths.multirun_dir=$(DEMO_OUT) hydra/launcher=joblib hydra.launcher.n_jobs=2 \
	  trainer.enable_progress_bar=false $(ARGS)
	$(PY) -m trainfix.results deepeutaxy --runs $(DEMO_OUT)/deepeutaxy_table_iv_quick --out $(DEMO_TABLE) --table iv \
	  --variant authors_code --rows lenet5 --note "$(strip $(DEMO_NOTE))" $(TABLE_ARGS) > $(DEMO_OUT)/results.log
	@$(call print_accuracies,$(DEMO_TABLE)/table_iv_values.csv,DeepEutaxy Table IV / LeNet-5 on MNIST. $(DEMO_NOTE).)
	@echo "Table: $(DEMO_TABLE)/table_iv.md (every column; numbers: table_iv_values.csv); report: $(DEMO_TABLE)/report.html"

demo-fashion-mnist: venv fashion-mnist ## LEAP Table 1's Fashion-MNIST row on Debian's Fashion-MNIST, 1 seed, quick: a pipeline check (ResNet-18 does not learn in minutes on a CPU) -> runs/demo/
	$(PY) -m trainfix.train -m experiment=leap/table_1/fashion_mnist profile=quick strategy=leap,spld,random_subset seed=0 \
	  paths.multirun_dir=$(DEMO_OUT) trainer.enable_progress_bar=false $(ARGS)
	$(PY) -m trainfix.results leap --runs $(DEMO_OUT)/leap_table_1_quick --out $(DEMO_OUT)/leap_table_1 --rows fashion_mnist \
	  --note "$(strip $(QUICK_NOTE_leap))"

# print_accuracies(values csv, title): the accuracy cells of a table's values file: paper, ours, ours - paper
define print_accuracies
$(PY) -c "import sys, pandas as pd; v = pd.read_csv(sys.argv[1], comment='#'); \
p, o = ('paper_mean', 'ours_mean') if 'ours_mean' in v else ('paper', 'ours'); \
v = v[(v['kind'] == 'acc') & v[p].notna()]; print(); print(sys.argv[2]); \
print(f\"{'':<16} {'paper %':>8} {'ours %':>8} {'diff':>7}\"); \
[print(f\"{r['column']:<16} {r[p]:8.2f} {r[o]:8.2f} {r[o] - r[p]:+7.2f}\") for _, r in v.iterrows()]; \
far = v[~((v[o] - v[p]).abs() <= 10)]; \
print('every ours within 10 points of the paper' if far.empty else 'MORE than 10 points from the paper: ' + ', '.join(far['column']))" \
  $(1) "$(strip $(2))"
endef

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

check-evidence: venv ## after `git add` of new evidence: the folders' layout, stale PROVENANCE or findings, and the 12 MB budget of tracked results/ (seconds)
	$(PY) -m pytest -q tests/unit/test_evidence_layout.py tests/unit/test_findings.py tests/integration/test_results_budget.py $(ARGS)

lint: venv ## ruff (pinned): lint rules (pyproject.toml [tool.ruff]) and formatting of src, tests, benchmarks
	$(PY) -m ruff check src tests benchmarks && $(PY) -m ruff format --check src tests benchmarks

bench: venv ## seconds/epoch of our Lightning path vs a plain PyTorch loop, and their ratio
	$(PY) benchmarks/bench_epoch.py $(ARGS)

DE_IV_OUT = $(REPRODUCE_OUT)/deepeutaxy/table_iv_$(PROFILE)_$(VARIANT)
reproduce-deepeutaxy-table-iv: venv ## DeepEutaxy Tables IV-VI + Figure 3 (PROFILE=quick|full VARIANT=paper|authors_code ROWS_IV=... SEEDS=... CIFAR_DATA=cifar10|cifar10_jpeg)
	@for row in $(ROWS_IV); do \
	  case $$row in cnn1|lenet5) data=;; *) data=data=$(CIFAR_DATA);; esac; \
	  $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/$$row profile=$(PROFILE) variant=$(VARIANT) $$data \
	    strategy=baseline,spl,deepeutaxy seed=$(SEEDS) paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	    $(LAUNCHER) $(ARGS); $(SWEEP_GO_ON); \
	done
	$(PY) -m trainfix.results deepeutaxy --runs $(SWEEPS)/deepeutaxy_table_iv_$(PROFILE) --out $(DE_IV_OUT) --variant $(VARIANT) $(TABLE_ARGS) $(call quick_note,deepeutaxy_iv)
	$(if $(filter authors_code,$(VARIANT)),$(PY) -m trainfix.results deepeutaxy --runs $(SWEEPS)/deepeutaxy_table_iv_$(PROFILE) \
	  --out $(DE_IV_OUT)_code_measure --variant $(VARIANT) --train-measure code $(TABLE_ARGS) $(call quick_note,deepeutaxy_iv))

DE_VII_OUT = $(REPRODUCE_OUT)/deepeutaxy/table_vii_$(PROFILE)_$(VARIANT)
reproduce-deepeutaxy-table-vii: venv ## DeepEutaxy Table VII (needs reproduce-deepeutaxy-table-iv's SPL runs of the same PROFILE and VARIANT)
	@for row in $(ROWS_VII); do \
	  $(PY) -m trainfix.train -m experiment=deepeutaxy/table_vii/$$row profile=$(PROFILE) variant=$(VARIANT) data=$(CIFAR_DATA) \
	    strategy=spl,deepeutaxy,spl_deepeutaxy seed=$(SEEDS) paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	    $(LAUNCHER) $(ARGS); $(SWEEP_GO_ON); \
	done
	$(PY) -m trainfix.results deepeutaxy --table vii --runs $(SWEEPS)/deepeutaxy_table_vii_$(PROFILE) \
	  $(if $(wildcard $(SWEEPS)/deepeutaxy_table_iv_$(PROFILE)),--base-runs $(SWEEPS)/deepeutaxy_table_iv_$(PROFILE)) \
	  --out $(DE_VII_OUT) --variant $(VARIANT) $(TABLE_ARGS) $(call quick_note,deepeutaxy_vii)

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
	$(PY) -m trainfix.evidence provenance --manifest $(REPORTS_MANIFEST) --build $(FOLDERS)

findings: venv ## the findings table from the committed evidence folders' tables into docs/findings.md and README.md (after make reports)
	$(PY) -m trainfix.evidence findings --write docs/findings.md --readme README.md > /dev/null

EVIDENCE_DIR ?= $(abspath ../evidence-runs)
# COPY_RECORDS runs-folder dest [--glob G] [--files F ...]: each run's run.json, metrics.csv, the files named and its
# Hydra overrides.yaml (never checkpoints) into dest/<run>/; a finished record there is never replaced by an unfinished
# one (trainfix/evidence/copying.py).
COPY_RECORDS = $(PY) -m trainfix.evidence copy

# de_tables(folder, out, variant, row[, options]): copy the records of each run of `row` and `variant` in folder (run.json,
# metrics.csv, convergence.json, de_refreshes.jsonl, the Hydra overrides.yaml; not checkpoints) into out/runs/, then build Tables IV-VI, the per-seed
# table, Figure 3 and the report from those copies, so a committed results folder rebuilds by itself. Unfinished runs are
# copied too: the per-seed table shows them so far; the tables count finished runs only.
define de_tables
	$(COPY_RECORDS) $(1) $(2)/runs --glob '$(4)_*_$(3)_seed*' --files convergence.json de_refreshes.jsonl
	$(PY) -m trainfix.results deepeutaxy --runs $(2)/runs --out $(2) --variant $(3) --rows $(4) $(5)
endef

LENET5_SEEDS ?= 0,1,2
LENET5_VARIANTS ?= paper,authors_code
evidence-lenet5: venv ## DeepEutaxy Table IV's LeNet-5 row at the paper's protocol on this CPU: LENET5_SEEDS (0-2) x BL/SPL/DE x LENET5_VARIANTS (both), 2 runs side by side (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/lenet5 profile=full trainer=cpu \
	  variant=$(LENET5_VARIANTS) seed=$(LENET5_SEEDS) strategy=baseline,spl,deepeutaxy paths.multirun_dir=$(EVIDENCE_DIR) \
	  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(ARGS)
	$(MAKE) --no-print-directory evidence-tables

evidence-cnn1: venv ## DeepEutaxy Table IV's CNN1 row at the paper's protocol on this CPU, seed 0, BL/SPL/DE (~10 h a run; resumable, tables label unfinished runs)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/cnn1 profile=full trainer=cpu \
	  variant=paper seed=0 strategy=baseline,spl,deepeutaxy paths.multirun_dir=$(EVIDENCE_DIR) \
	  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(ARGS)
	$(MAKE) --no-print-directory evidence-tables

TFKERAS_SEEDS ?= 0,1,2
evidence-lenet5-tfkeras-start: venv ## the LeNet-5 row, variant=paper with tf.keras' Adagrad start (accumulators 0.1, as the authors' code ran): TFKERAS_SEEDS (0-2) x BL/SPL/DE, own folder (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=deepeutaxy/table_iv/lenet5 profile=full trainer=cpu \
	  variant=paper optimizer.initial_accumulator_value=0.1 seed=$(TFKERAS_SEEDS) strategy=baseline,spl,deepeutaxy \
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
OL_RUNS ?= $(SWEEPS)/monitor_ol_$(PROFILE)

.PHONY: reproduce-monitor-table-3-1 reproduce-monitor-figure-4-2 reproduce-ol-distribution compare-checking-frequency bench-monitor evidence-monitor-ol
reproduce-monitor-table-3-1: venv ## thesis Tables 3-1/3-2: ol_judge detection rate + pair index, histograms (PROFILE=quick|full OL_EPOCHS=50 OL_LAYERS=20|34 OL_SEEDS=...)
	$(PY) -m trainfix.train -m experiment=monitor/oscillating_loss/mlp_mnist profile=$(PROFILE) trainer.max_epochs=$(OL_EPOCHS) \
	  model.params.hidden_layers=$(OL_LAYERS) seed=$(OL_SEEDS) paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	  $(OL_QUICK_ARGS_$(PROFILE)) $(LAUNCHER) $(ARGS); $(SWEEP_GO_ON)
	$(PY) -m trainfix.results monitor --runs $(OL_RUNS) --out $(REPRODUCE_OUT)/monitor/oscillating_loss_$(PROFILE) $(TABLE_ARGS) $(call quick_note,monitor)

reproduce-monitor-figure-4-2: venv reproduce-monitor-table-3-1 ## thesis Figure 4-2 + 5.2: constant vs dynamic checking on the study's runs: checks, delay, measured t1/t2, Eq. 4.1 overhead (PROFILE=quick|full)
	$(PY) benchmarks/monitor_overhead.py --models mlp $(if $(filter quick,$(PROFILE)),--quick,) --out $(REPRODUCE_OUT)/monitor/checking_$(PROFILE)/timing.json
	$(PY) -m trainfix.results monitor --runs $(OL_RUNS) --out $(REPRODUCE_OUT)/monitor/checking_$(PROFILE) --timing $(REPRODUCE_OUT)/monitor/checking_$(PROFILE)/timing.json $(TABLE_ARGS) $(call quick_note,monitor)

bench-monitor: venv ## monitor overhead: monitor off and each schedule interleaved, repeated, identical work; observed ratio with its spread (MLP; --models resnet20 adds it)
	$(PY) benchmarks/monitor_overhead.py $(ARGS)

OL_SEEDS ?= $(shell seq -s, 0 19)
evidence-monitor-ol: venv ## the study at the thesis' settings on this CPU: full MNIST, 50 epochs, OL_SEEDS (0-19; e.g. OL_SEEDS=$$(seq -s, 20 39)), 2 runs side by side (resumable)
	$(OL_TRAIN) seed=$(OL_SEEDS) $(ARGS)
	@# the records travel with the tables (run.json, metrics.csv, overrides.yaml per run); checkpoints stay in the runs folder
	$(COPY_RECORDS) $(EVIDENCE_DIR_OL)/monitor_ol_full $(OL_EVIDENCE_OUT)/runs --glob 'mlp*_ep50_*'
	$(OL_TIMING)
	$(PY) -m trainfix.results monitor --runs $(OL_EVIDENCE_OUT)/runs --out $(OL_EVIDENCE_OUT) --timing $(OL_EVIDENCE_OUT)/timing_quick.json
EVIDENCE_DIR_OL ?= $(abspath ../evidence-runs/monitor_ol)
OL_EVIDENCE_OUT ?= results/monitor/oscillating_loss_mnist_cpu
# the study's runs at the thesis' settings, one thread each, two side by side (resumable; the records stay in EVIDENCE_DIR_OL)
OL_TRAIN = OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=monitor/oscillating_loss/mlp_mnist profile=full trainer=cpu \
  trainer.enable_progress_bar=false paths.multirun_dir=$(EVIDENCE_DIR_OL) hydra/launcher=joblib hydra.launcher.n_jobs=$(OL_JOBS)
OL_JOBS ?= 2
# t2 (seconds per check) for Eq. 4.1: measured once and kept (delete timing_quick.json to measure it again)
OL_TIMING = test -f $(OL_EVIDENCE_OUT)/timing_quick.json || OMP_NUM_THREADS=1 $(PY) benchmarks/monitor_overhead.py --models mlp --quick --out $(OL_EVIDENCE_OUT)/timing_quick.json

# The thesis' 100/125/150-epoch cases (20 layers): 150-epoch runs, each judged at every budget by its first epochs
# (--replay: the same runs judged at 50, 100, 125 and 150; docs/monitor.md). Their own folder: a seed's 150-epoch run
# and its 50-epoch run in the folder above trained on different days, possibly on different hosts (not the same run).
OL_BUDGET_SEEDS ?= $(shell seq -s, 0 49)
OL_BUDGETS ?= 50,100,125,150
OL_BUDGETS_OUT ?= results/monitor/oscillating_loss_budgets_mnist_cpu
.PHONY: evidence-monitor-ol-budgets
evidence-monitor-ol-budgets: venv ## the thesis' 100/125/150-epoch cases on this CPU: 150-epoch runs judged at each of OL_BUDGETS, OL_BUDGET_SEEDS (0-49, the thesis' 50), 2 side by side (resumable)
	$(OL_TRAIN) seed=$(OL_BUDGET_SEEDS) trainer.max_epochs=150 $(ARGS)
	$(COPY_RECORDS) $(EVIDENCE_DIR_OL)/monitor_ol_full $(OL_BUDGETS_OUT)/runs --glob 'mlp*_ep150_*'
	$(OL_TIMING)
	$(PY) -m trainfix.results monitor --runs $(OL_BUDGETS_OUT)/runs --out $(OL_BUDGETS_OUT) --timing $(OL_EVIDENCE_OUT)/timing_quick.json \
	  --replay --budgets $(OL_BUDGETS)

# The 34-layer case's networks that never learn, counted cheaply: 1-epoch runs (the same runs' first epoch: Adam at a
# constant rate, nothing depends on the planned epochs), judged by their epoch-1 accuracy (table_first_epoch; the main
# folder's 50-epoch runs show what that first epoch foretells). One process: a run is ~25 s of training.
OL_PROBE_SEEDS ?= $(shell seq -s, 0 99)
OL_PROBE_OUT ?= results/monitor/first_epoch_probe_mnist_cpu
.PHONY: evidence-monitor-first-epoch
evidence-monitor-first-epoch: OL_JOBS = 1
evidence-monitor-first-epoch: venv ## the 34-layer network at chance after its first epoch: 1-epoch runs, OL_PROBE_SEEDS (0-99), one process (~1 h; resumable)
	$(OL_TRAIN) seed=$(OL_PROBE_SEEDS) trainer.max_epochs=1 model.params.hidden_layers=34 $(ARGS)
	$(COPY_RECORDS) $(EVIDENCE_DIR_OL)/monitor_ol_full $(OL_PROBE_OUT)/runs --glob 'mlp34_ep1_*'
	$(PY) -m trainfix.results monitor --runs $(OL_PROBE_OUT)/runs --out $(OL_PROBE_OUT) --only first_epoch

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
APRICOT_RUNS = $(SWEEPS)/apricot_$(PROFILE)
.PHONY: reproduce-apricot-table-v bench-apricot evidence-apricot-mnist evidence-apricot-mnist-adjust-only evidence-apricot-mnist-validation
reproduce-apricot-table-v: venv ## Apricot Tables II-V + Fig. 2-3 + report, strategies 1-3 x both signs and the no-adjustment control (PROFILE=quick|full APRICOT_ROWS=cnn1 APRICOT_SEEDS=0 CIFAR_DATA=cifar10|cifar10_jpeg APRICOT_ADAPT="max_batches=..")
	@for row in $(APRICOT_ROWS); do \
	  $(PY) -m trainfix.train -m experiment=apricot/table_v/$$row profile=$(PROFILE) data=$(CIFAR_DATA) seed=$(APRICOT_SEEDS) \
	    paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false $(APRICOT_TRAIN_$(PROFILE)) $(LAUNCHER) $(ARGS); \
	  $(SWEEP_GO_ON); input=$$status; \
	  $(PY) -m trainfix.train -m experiment=apricot/table_v/$${row}_reduced profile=$(PROFILE) data=$(CIFAR_DATA) seed=$(APRICOT_SEEDS) \
	    'data.train_window.start=$(APRICOT_WINDOWS_$(PROFILE))' paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	    $(APRICOT_TRAIN_$(PROFILE)) $(LAUNCHER) $(ARGS); $(SWEEP_GO_ON); \
	  if [ $$input = 1 ]; then echo "note: $$row: an input run failed (its data missing?): no Apricot passes, see the tables" >&2; continue; fi; \
	  for seed in $$(echo $(APRICOT_SEEDS) | tr , ' '); do \
	    $(PY) -m trainfix.apricot -m runs=$(APRICOT_RUNS) row=$$row model_seed=$$seed apricot_strategy=1,2,3 direction=toward,printed \
	      $(APRICOT_ADAPT); $(SWEEP_GO_ON); \
	    $(PY) -m trainfix.apricot runs=$(APRICOT_RUNS) row=$$row model_seed=$$seed adjust=false $(APRICOT_ADAPT); $(SWEEP_GO_ON); \
	  done; \
	done
	$(PY) -m trainfix.results apricot --runs $(APRICOT_RUNS) --out $(REPRODUCE_OUT)/apricot/table_v_$(PROFILE) $(TABLE_ARGS) $(call quick_note,apricot)

APRICOT_MNIST_ADAPT ?= retrain_epochs=1 max_batches=200
# apricot_mnist_models(seeds, where): the input models and their 20 rDLMs (two side by side) of LeNet-5 / MNIST for
# `seeds`, into `where` (a paths.multirun_dir= or hydra.sweep.dir= override)
define apricot_mnist_models
OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=apricot/mnist/lenet5 profile=$(PROFILE) trainer=cpu seed=$(1) \
  trainer.enable_progress_bar=false $(2) hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_TRAIN_$(PROFILE)) $(ARGS) && \
OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=apricot/mnist/lenet5_reduced profile=$(PROFILE) trainer=cpu seed=$(1) \
  'data.train_window.start=$(APRICOT_WINDOWS_$(PROFILE))' trainer.enable_progress_bar=false $(2) \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_TRAIN_$(PROFILE)) $(ARGS)
endef
APRICOT_MNIST_RUNS = $(EVIDENCE_DIR)/apricot_mnist_$(PROFILE)
# the committed evidence folder at PROFILE=full; any other profile's tables go to the git-ignored REPRODUCE_OUT
APRICOT_MNIST_OUT = $(if $(filter full,$(PROFILE)),results/apricot/lenet5_mnist_cpu,$(REPRODUCE_OUT)/apricot/lenet5_mnist_cpu_$(PROFILE))
evidence-apricot-mnist: venv ## Apricot on LeNet-5 / official MNIST (NOT the paper's setting; CNN1's recipe): input model, 20 rDLMs, strategies 1-3 x both signs + control (APRICOT_MNIST_ADAPT), two processes (resumable)
	$(call apricot_mnist_models,0,paths.multirun_dir=$(EVIDENCE_DIR))
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot -m runs=$(APRICOT_MNIST_RUNS) row=lenet5_mnist model_seed=0 apricot_strategy=1,2,3 \
	  direction=toward,printed hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_MNIST_ADAPT)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot runs=$(APRICOT_MNIST_RUNS) row=lenet5_mnist model_seed=0 adjust=false $(APRICOT_MNIST_ADAPT)
	@# the records travel with the tables (run.json, metrics.csv; each pass's result, settings, rDLM facts, history.csv.gz), which are
	@# built from those copies; checkpoints and the passes' state.pt stay in the runs folder
	@$(call copy_apricot_records,$(APRICOT_MNIST_RUNS),$(APRICOT_MNIST_OUT)/runs)
	$(PY) -m trainfix.results apricot --runs $(APRICOT_MNIST_OUT)/runs --out $(APRICOT_MNIST_OUT)

# $(1): an Apricot runs folder, $(2): where its records go (`trainfix.evidence copy --apricot-passes`: passes without
# result.json are left out; a pass recorded there under another hash of the same settings, input runs by label, is replaced)
define copy_apricot_records
$(COPY_RECORDS) $(1) $(2) --glob 'lenet5_mnist_*' --apricot-passes
endef

# Variants on evidence-apricot-mnist's trained runs, each in its own runs folder and results folder (a
# Table V cell holds one configuration): $(1) the variant's runs folder, $(2) its results folder
define link_apricot_mnist_runs
test -d $(APRICOT_MNIST_RUNS) || { echo "no $(APRICOT_MNIST_RUNS): run make evidence-apricot-mnist PROFILE=$(PROFILE) first (its input model and rDLMs)" >&2; exit 2; }; \
mkdir -p $(1) && for run in $(APRICOT_MNIST_RUNS)/lenet5_mnist_*/; do ln -sfn $${run%/} $(1)/$$(basename $$run); done
endef
define tables_apricot_mnist_variant
$(call copy_apricot_records,$(1),$(2)/runs); \
for run in $(APRICOT_MNIST_OUT)/runs/lenet5_mnist_*/; do test -d "$$run" || continue; link="$(2)/runs/$$(basename $$run)"; \
  test -d "$$link" -a ! -L "$$link" || ln -sfn "../../$(notdir $(APRICOT_MNIST_OUT))/runs/$$(basename $$run)" "$$link"; done; \
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
# the other 5,000 (eval_on=validation), for the control and strategy 1 (toward), as evidence-apricot-mnist, for
# each model seed of APRICOT_MNIST_SEEDS (an input model and its 20 rDLMs per seed; seed 0's are evidence-apricot-mnist's,
# linked when its runs folder is there, the others trained in this variant's runs folder)
APRICOT_MNIST_VALIDATION ?= eval_on=validation retrain_epochs=1 max_batches=200
APRICOT_MNIST_VALIDATION_quick := validation_size=250  # half of quick's 500 test images (full: 5,000 of 10,000)
APRICOT_MNIST_SEEDS ?= 0,1,2,3,4
APRICOT_MNIST_VALIDATION_RUNS = $(APRICOT_MNIST_RUNS)_validation
evidence-apricot-mnist-validation: venv ## Apricot LeNet-5/MNIST with selection on half the test set, reported on the other half: the control and S1 toward, 200 batches, per model seed (APRICOT_MNIST_SEEDS, default 0-4)
	@if test -d $(APRICOT_MNIST_RUNS); then $(call link_apricot_mnist_runs,$(APRICOT_MNIST_VALIDATION_RUNS)); fi
	$(call apricot_mnist_models,$(APRICOT_MNIST_SEEDS),hydra.sweep.dir=$(APRICOT_MNIST_VALIDATION_RUNS))
	OMP_NUM_THREADS=1 $(PY) -m trainfix.apricot -m runs=$(APRICOT_MNIST_VALIDATION_RUNS) row=lenet5_mnist model_seed=$(APRICOT_MNIST_SEEDS) \
	  adjust=false,true apricot_strategy=1 direction=toward hydra/launcher=joblib hydra.launcher.n_jobs=2 $(APRICOT_MNIST_VALIDATION) \
	  $(APRICOT_MNIST_VALIDATION_$(PROFILE))
	@$(call tables_apricot_mnist_variant,$(APRICOT_MNIST_VALIDATION_RUNS),$(APRICOT_MNIST_OUT)_validation)

bench-apricot: venv ## Apricot: seconds per adaptation batch, naive per-sample vs port vs vectorized (full, lazy rDLM predictions), ratios, weight difference
	$(PY) benchmarks/bench_apricot.py $(ARGS)

# ------------------------------------------------------------------ LEAP (seeds/leap.txt, docs/leap.md)
LEAP_ROWS ?= mnist fashion_mnist cifar10 cifar100 svhn
LEAP_CIFAR_DATA ?= cifar10_jpeg
LEAP_SEEDS_full := 0,1,2,3,4
LEAP_SEEDS_quick := 0,1
LEAP_SEEDS ?= $(LEAP_SEEDS_$(PROFILE))
.PHONY: reproduce-leap-table-1 bench-leap evidence-leap-mnist evidence-leap-mnist-authors-recipe evidence-leap-mnist-gap evidence-leap-mnist-gap-tables evidence-leap-mnist-first-k evidence-leap-mnist-first-k-tables

reproduce-leap-table-1: venv ## LEAP Table 1, curves vs updates, 2-D embeddings, report (PROFILE=quick|full LEAP_ROWS=... LEAP_SEEDS=...)
	@for row in $(LEAP_ROWS); do \
	  case $$row in cifar10) data=data=$(LEAP_CIFAR_DATA);; *) data=;; esac; \
	  case $$row in cifar100|svhn) seeds=$$(echo $(LEAP_SEEDS) | cut -d, -f1-4);; *) seeds=$(LEAP_SEEDS);; esac; \
	  $(PY) -m trainfix.train -m experiment=leap/table_1/$$row profile=$(PROFILE) variant=$(VARIANT) $$data \
	    strategy=leap,spld,random_subset seed=$$seeds paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	    $(LAUNCHER) $(ARGS); $(SWEEP_GO_ON); \
	done
	$(PY) -m trainfix.results leap --runs $(SWEEPS)/leap_table_1_$(PROFILE) --out $(REPRODUCE_OUT)/leap/table_1_$(PROFILE)_$(VARIANT) $(TABLE_ARGS) $(call quick_note,leap)

bench-leap: venv ## LEAP: student updates/s alone, with the embedding steps interleaved (concurrent) and on their own thread (background): ratios, refresh time
	$(PY) benchmarks/bench_leap.py $(ARGS)

# The MNIST row's evidence before issue 27 (results/leap/table_1_mnist_cpu*: DeepEutaxy's LeNet-5 as the student,
# Random on LEAP's paced count, the unpadded embedding) came from this target at commit 206125e; that setup is no
# longer the default, so on main the old name runs the authors' recipe below (its own folders; nothing is overwritten).
evidence-leap-mnist: evidence-leap-mnist-authors-recipe ## (alias) LEAP Table 1 MNIST row under the authors' recipe

# leap_mnist_tables(runs folder, results folder): the records travel with the tables (run.json, metrics.csv,
# convergence.json, leap_embedding.csv, the Hydra overrides.yaml; not checkpoints), then Table 1's MNIST row from the copies.
define leap_mnist_tables
	$(COPY_RECORDS) $(1) $(2)/runs --files convergence.json leap_embedding.csv
	$(PY) -m trainfix.results leap --rows mnist --runs $(2)/runs --out $(2)
endef

# Issue 27: the MNIST row with the authors' paper-era student (model=leap_lenet, SPL-ADVisE 6b8d9d8..bccac11) and the
# authors' Random (strategy.count=all), 3 seeds x LEAP/SPLD/Random, 23,400 updates, one intra-op thread per run.
LEAP_AUTHORS_RUNS = $(EVIDENCE_DIR)/leap_mnist_authors_recipe
LEAP_AUTHORS_OUT = results/leap/table_1_mnist_cpu_authors_recipe
LEAP_JOBS ?= 2
LEAP_SEEDS ?= 0,1,2
LEAP_ARMS ?= leap,spld,random_subset
evidence-leap-mnist-authors-recipe: venv ## LEAP Table 1 MNIST row (issue 27): the authors' paper-era student and Random, LEAP_ARMS x LEAP_SEEDS (0-2), 23,400 updates, LEAP_JOBS runs side by side, under EVIDENCE_DIR (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=leap/table_1/mnist seed=$(LEAP_SEEDS) strategy=$(LEAP_ARMS) \
	  hydra.sweep.dir=$(LEAP_AUTHORS_RUNS) hydra/launcher=joblib hydra.launcher.n_jobs=$(LEAP_JOBS) \
	  trainer.enable_progress_bar=false $(ARGS)
	$(call leap_mnist_tables,$(LEAP_AUTHORS_RUNS),$(LEAP_AUTHORS_OUT))

# The remaining-gap checks (issue 27), seed 0, the same recipe, side by side: LEAP with the code's first-K rule
# (selection=code: K = 500 per cluster, +10 % per epoch: every sample from epoch 15 of 27 on seed 0) and LEAP with a
# pace that selects the whole set (beta1 = beta2 = 1.25: lambda passes 3 nats by epoch 15; every sample from epoch 24 of 30). Their records go to LEAP_GAP_OUT/runs
# beside links to seed 0 of the row above (LEAP, SPLD, Random), so one summary compares all five (docs/leap.md).
LEAP_GAP_RUNS = $(EVIDENCE_DIR)/leap_mnist_authors_recipe_gap
LEAP_GAP_OUT = results/leap/table_1_mnist_cpu_authors_recipe_gap
LEAP_GAP = OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=leap/table_1/mnist seed=0 strategy=leap trainer.enable_progress_bar=false
evidence-leap-mnist-gap: venv ## LEAP MNIST seed 0, authors' recipe: the code's first-K selection and a pace reaching the whole set, side by side (resumable)
	$(LEAP_GAP) strategy.selection=code hydra.sweep.dir=$(LEAP_GAP_RUNS)/first_k $(ARGS) & first_k=$$!; \
	$(LEAP_GAP) strategy.beta1=1.25 strategy.beta2=1.25 hydra.sweep.dir=$(LEAP_GAP_RUNS)/pace_1.25 $(ARGS) & pace=$$!; \
	wait $$first_k && wait $$pace
	$(MAKE) --no-print-directory evidence-leap-mnist-gap-tables

evidence-leap-mnist-gap-tables: venv ## the gap checks' records into LEAP_GAP_OUT/runs, linked to seed 0 of the authors'-recipe row; summaries (final, best epoch) and report
	for check in first_k pace_1.25; do \
	  $(COPY_RECORDS) $(LEAP_GAP_RUNS)/$$check $(LEAP_GAP_OUT)/runs --glob 'mnist_leap_*_seed0-*' --files convergence.json leap_embedding.csv; done
	for run in $(LEAP_AUTHORS_OUT)/runs/*_seed0-*/; do \
	  ln -sfn ../../$(notdir $(LEAP_AUTHORS_OUT))/runs/$$(basename $$run) $(LEAP_GAP_OUT)/runs/$$(basename $$run); done
	$(PY) -m trainfix.results summary $(LEAP_GAP_OUT)/runs --at last
	$(PY) -m trainfix.results summary $(LEAP_GAP_OUT)/runs --at max
	$(PY) -m trainfix.results report --runs $(LEAP_GAP_OUT)/runs --out $(LEAP_GAP_OUT)/report.html

# The code's first-K rule on the row's three seeds (LEAP's seed 0 is the gap check's run above): LEAP and SPLD with
# strategy.selection=code against the row's own Random runs (linked: Random has no selection rule), as Table 1's MNIST column.
LEAP_FIRST_K_OUT = results/leap/table_1_mnist_cpu_authors_recipe_first_k
evidence-leap-mnist-first-k: venv ## LEAP and SPLD on MNIST, authors' recipe, the code's first-K selection, LEAP_SEEDS (0-2), LEAP_JOBS side by side (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=leap/table_1/mnist seed=$(LEAP_SEEDS) strategy=leap,spld strategy.selection=code \
	  hydra.sweep.dir=$(LEAP_GAP_RUNS)/first_k hydra/launcher=joblib hydra.launcher.n_jobs=$(LEAP_JOBS) trainer.enable_progress_bar=false $(ARGS)
	$(MAKE) --no-print-directory evidence-leap-mnist-first-k-tables

evidence-leap-mnist-first-k-tables: venv ## the first-K runs' records into LEAP_FIRST_K_OUT/runs beside links to the row's Random runs; Table 1's MNIST column
	$(COPY_RECORDS) $(LEAP_GAP_RUNS)/first_k $(LEAP_FIRST_K_OUT)/runs --files convergence.json leap_embedding.csv
	for run in $(LEAP_AUTHORS_OUT)/runs/mnist_random_subset_*/; do \
	  ln -sfn ../../$(notdir $(LEAP_AUTHORS_OUT))/runs/$$(basename $$run) $(LEAP_FIRST_K_OUT)/runs/$$(basename $$run); done
	$(PY) -m trainfix.results leap --rows mnist --runs $(LEAP_FIRST_K_OUT)/runs --out $(LEAP_FIRST_K_OUT)

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
	    strategy=shuffle,trimming seed=$(TRIM_SEEDS) paths.multirun_dir=$(SWEEPS) trainer.enable_progress_bar=false \
	    $(TRIM_LAUNCHER) $(ARGS); $(SWEEP_GO_ON); \
	done
	$(PY) -m trainfix.results trimming --runs $(SWEEPS)/trimming_table_1_$(PROFILE) --out $(REPRODUCE_OUT)/trimming/table_1_$(PROFILE)_$(VARIANT) --strict $(TABLE_ARGS) $(call quick_note,trimming)

bench-strategies: venv ## epoch time of every strategy vs the shuffle loop in one run, and its throughput ratio (trimming target >= 0.97)
	$(PY) benchmarks/bench_strategies.py $(ARGS)

TRIM_EVIDENCE_DIR ?= $(abspath ../evidence-runs)
# TRIM_FMNIST_SEEDS: the seeds to train (the committed folder: 0-2; the paper ran 10); TRIM_FMNIST_LAUNCHER: one run at
# a time (the default, as the committed runs), or "hydra/launcher=joblib hydra.launcher.n_jobs=2" for two side by side
TRIM_FMNIST_SEEDS ?= 0,1,2
TRIM_FMNIST_LAUNCHER ?= hydra/launcher=basic
evidence-trimming-fmnist: venv ## trimming off vs on, full Fashion-MNIST, LeNet-5, 30 epochs, TRIM_FMNIST_SEEDS (0-2), one process on this CPU (resumable)
	OMP_NUM_THREADS=1 $(PY) -m trainfix.train -m experiment=trimming/fmnist/lenet5 trainer=cpu task_name=trimming_fmnist \
	  paths.multirun_dir=$(TRIM_EVIDENCE_DIR) $(TRIM_FMNIST_LAUNCHER) seed=$(TRIM_FMNIST_SEEDS) strategy=shuffle,trimming \
	  trainer.enable_progress_bar=false $(ARGS)
	@# The records travel with the tables (run.json, metrics.csv, overrides.yaml per run); checkpoints stay in the runs folder.
	$(COPY_RECORDS) $(TRIM_EVIDENCE_DIR)/trimming_fmnist results/trimming/fmnist_lenet5_cpu/runs
	$(PY) -m trainfix.results trimming --runs results/trimming/fmnist_lenet5_cpu/runs --out results/trimming/fmnist_lenet5_cpu \
	  --title "Mini-batch trimming on this CPU: Fashion-MNIST, LeNet-5 (not the paper's setting)"
