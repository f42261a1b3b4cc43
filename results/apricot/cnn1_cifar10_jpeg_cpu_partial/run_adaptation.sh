#!/bin/bash
# Apricot CNN1 adaptation passes on this CPU, after run_training.sh has finished the input model and the 20 rDLMs:
# strategies 1-3 x both sign conventions, one process at a time, each bounded by a time budget (re-invoke to continue;
# a pass resumes after its last completed batch). RETRAIN_EPOCHS=20 is the paper's (about 13 h per batch on this
# shared CPU); the default 1 is a labelled reduction.
cd /work/wt-apricot || exit 1
export PYTHONPATH=$PWD/src WANDB_MODE=offline TRAINFIX_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
EV=/work/evidence-runs/apricot_cnn1
$PY -m trainfix.apricot -m runs=$EV/apricot_full row=cnn1 model_seed=0 apricot_strategy=1,2,3 direction=toward,printed \
  retrain_epochs=${RETRAIN_EPOCHS:-1} max_batches=${MAX_BATCHES:-2500} time_budget_s=${BUDGET_S:-3600} || exit 1
$PY -m trainfix.results apricot --runs $EV/apricot_full --out $EV/results
