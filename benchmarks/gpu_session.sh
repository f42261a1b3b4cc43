#!/bin/bash
# The DeepEutaxy MNIST rows at the paper's protocol on a lent GPU, as ONE device-tool call (the device README:
# a drawn task gets 15 minutes of device time, at most 10 a command). Prepared and tested here on the CPU.
#
#   bash benchmarks/gpu_session.sh --prepare      # here: wheels the device lacks -> .whl/, MNIST .gz -> .gpu_data/ (both ignored)
#   device run: command="bash benchmarks/gpu_session.sh", carry=[".whl", ".gpu_data"], timeout_s=600
#
# On the device it installs the carried wheels (hydra-core, omegaconf, antlr4, the joblib launcher; the device image
# has torch, Lightning, torchmetrics, pandas, matplotlib), runs the sweep in full precision (trainer=gpu is bf16; the
# paper's Keras runs were float32) with JOBS runs side by side until BUDGET_S seconds, then builds the tables from
# what finished and returns everything but checkpoints as one archive in $OUT (the tool returns at most 8 files).
# Unfinished runs are labelled in the tables; a second call on a still-warm machine resumes them (skip/resume).
#
# Settings (environment): ROWS (lenet5 cnn1), SEEDS (0,1,2,3,4), VARIANTS (paper,authors_code), JOBS (12),
# BUDGET_S (480), PROFILE (full; quick for the CPU check), EXTRA (more Hydra overrides).
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = "--prepare" ]; then
  PY=${PY:-.venv/bin/python}
  rm -rf .whl && mkdir -p .whl .gpu_data/MNIST/raw
  # pure-Python wheels, the versions this project's .venv runs; antlr4 4.9.3 exists only as an sdist: build its wheel
  $PY -m pip download -q --no-deps --only-binary=:all: -d .whl \
    "hydra-core==$($PY -c 'import hydra; print(hydra.__version__)')" \
    "omegaconf==$($PY -c 'import omegaconf; print(omegaconf.__version__)')" \
    "hydra-joblib-launcher==$($PY -m pip show hydra-joblib-launcher | sed -n 's/^Version: //p')" || exit 1
  $PY -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3 || exit 1
  src=${TRAINFIX_DATA_DIR:-../shared/data}/MNIST/raw
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gzip -c -9 "$src/$f" > ".gpu_data/MNIST/raw/$f.gz" || exit 1
  done
  grep -qx '/.gpu_data/' .git/info/exclude 2>/dev/null || echo '/.gpu_data/' >> .git/info/exclude
  du -sh .whl .gpu_data
  exit 0
fi

OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/session.log"
exec > >(tee "$LOG") 2>&1
start=$(date +%s)
ROWS=${ROWS:-lenet5 cnn1}
SEEDS=${SEEDS:-0,1,2,3,4}
VARIANTS=${VARIANTS:-paper,authors_code}
JOBS=${JOBS:-12}
BUDGET_S=${BUDGET_S:-480}
PROFILE=${PROFILE:-full}
RUNS=${RUNS:-/tmp/trainfix-gpu-runs}
PY=${PY:-python3}
mkdir -p "$RUNS"

if ls .whl/*.whl > /dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export WANDB_MODE=offline TRAINFIX_DATA_DIR=${TRAINFIX_DATA_DIR:-$PWD/.gpu_data} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  ACCEL="trainer.accelerator=gpu trainer.precision=32-true"
else
  ACCEL="trainer=cpu"  # the check here
fi
$PY -c "import torch, pytorch_lightning, hydra; print('torch', torch.__version__, 'lightning', pytorch_lightning.__version__, 'hydra', hydra.__version__, 'cuda', torch.cuda.is_available())" || exit 1

for row in $ROWS; do
  left=$(( BUDGET_S - ($(date +%s) - start) ))
  [ "$left" -gt 30 ] || { echo "budget spent before row $row"; break; }
  echo "== $row: ${left}s left, $JOBS side by side"
  # SIGTERM to the process group at the deadline (joblib workers ignore SIGINT): each run stops after its current
  # step as "interrupted", its checkpoint kept
  # Its own process group (setsid): the joblib workers and loky's resource tracker that outlive the sweep are
  # ended with it, or they would hold this command's output open until the device call's own limit.
  setsid timeout -s TERM -k 60 "$left" $PY -m trainfix.train -m experiment=deepeutaxy/table_iv/$row profile=$PROFILE $ACCEL \
    variant=$VARIANTS seed=$SEEDS strategy=baseline,spl,deepeutaxy paths.multirun_dir=$RUNS \
    hydra/launcher=joblib hydra.launcher.n_jobs=$JOBS trainer.enable_progress_bar=false ${EXTRA:-} &
  group=$!
  wait $group
  rc=$?
  for _ in $(seq 60); do  # the workers finish their step and record "interrupted"; idle ones stay: end them after
    grep -qs '"status": "running"' "$RUNS"/*/*/run.json || break
    sleep 1
  done
  kill -TERM -- -$group 2>/dev/null; sleep 2; kill -KILL -- -$group 2>/dev/null
  echo "== $row: sweep exit $rc after $(( $(date +%s) - start ))s"
done

sweep=$RUNS/deepeutaxy_table_iv_$PROFILE
for v in ${VARIANTS//,/ }; do
  $PY -m trainfix.results deepeutaxy --runs "$sweep" --out "$RUNS/tables_$v" --variant "$v" || echo "tables ($v): exit $?"
done
$PY -m trainfix.results summary --runs "$sweep" 2>/dev/null | tail -40
tar --exclude='checkpoints' -czf "$OUT/deepeutaxy_gpu_records.tar.gz" -C "$RUNS" . && ls -la "$OUT"
echo "total $(( $(date +%s) - start ))s"
