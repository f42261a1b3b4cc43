#!/bin/bash
# Apricot CNN1 evidence on this CPU: the input model (20 epochs, batch 256) on the complete JPEG CIFAR-10,
# then the 20 reduced models (30 epochs, windows of 10,000 over a seeded permutation), one process at a time.
# Re-invoking skips finished runs and resumes killed ones from last.ckpt.
cd /work/wt-apricot || exit 1
export PYTHONPATH=$PWD/src WANDB_MODE=offline TRAINFIX_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
EV=/work/evidence-runs/apricot_cnn1
$PY -m trainfix.train -m experiment=apricot/table_v/cnn1 data=cifar10_jpeg profile=full trainer=cpu seed=0 \
  trainer.enable_progress_bar=false paths.multirun_dir=$EV || exit 1
$PY -m trainfix.train -m experiment=apricot/table_v/cnn1_reduced data=cifar10_jpeg profile=full trainer=cpu seed=0 \
  'data.train_window.start=range(0,40000,2000)' trainer.enable_progress_bar=false paths.multirun_dir=$EV
