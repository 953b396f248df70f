#!/usr/bin/env bash
# One GPU-machine session: throughput benchmarks, then 5-seed offline runs on freshly collected
# local/hopper-* datasets. Usage (repo root, wheels installed, $OUT set): bash benchmarks/gpu_session.sh
# QUICK=1 runs tiny sizes everywhere (a CPU dry run of this script).
set -u
OUT=${OUT:-/tmp/offrl-gpu-out}; mkdir -p "$OUT"
# $OUT returns at most 8 files: work in $W_DIR and re-pack it into $OUT/bundle.tgz after each phase
W_DIR=/tmp/gpu_work; mkdir -p "$W_DIR"
bundle() { tar czf "$OUT/bundle.tgz" --exclude=checkpoints -C /tmp gpu_work $( [ -d /tmp/offrl-results ] && echo offrl-results ); }
# scripts under benchmarks/ import offrl from the checkout (it is not pip-installed on the GPU machine)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled OFFRL_DATA_DIR=/tmp/offrl-data OFFRL_RESULTS_DIR=/tmp/offrl-results
export MINARI_DATASETS_PATH=/tmp/offrl-minari TQDM_DISABLE=1
Q=${QUICK:-0}
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
if [ "$Q" = 1 ]; then STEPS=4000; REPLAY=1500; TRAIN=200; EVERY=100; DTSTEPS=40; DTEVERY=20; EPIS=2; QB=--quick
else STEPS=1000000; REPLAY=""; TRAIN=60000; EVERY=10000; DTSTEPS=30000; DTEVERY=10000; EPIS=10; QB=""; fi

# 1. datasets (CPU, in the background while the GPU benchmarks run). In-process collection (10 envs,
#    as on the CPU, so checksums compare with offrl/assets/policies/hopper/checksums.json) was 2x
#    faster than worker processes; the three levels run as three processes side by side.
( for lv in medium expert medium-replay; do
    s=$STEPS; [ "$lv" = medium-replay ] && s=${REPLAY}
    python3 -m offrl.cli collect hopper-$lv ${s:+--steps $s} --no-minari 2>&1 | grep -a "transitions" &
  done; wait
  python3 -m offrl.cli collect hopper-medium-expert ${STEPS:+--steps $STEPS} --no-minari 2>&1 | grep -a "transitions"
  touch /tmp/collect.done ) > "$W_DIR/collect.log" 2>&1 &

# 2. throughput benchmarks (GPU otherwise idle)
el "train_throughput"; python3 benchmarks/train_throughput.py $QB --out "$W_DIR/train_throughput.json" 2>&1 | grep -v "^$" | tail -22
el "dt_throughput"; python3 benchmarks/dt_throughput.py $QB --out "$W_DIR/dt_throughput.json" 2>&1 | tail -12
el "uav_speed"; python3 benchmarks/uav_speed.py $QB --out "$W_DIR/uav_speed.json" 2>&1 | tail -10
bundle; el "waiting for collection"; while [ ! -f /tmp/collect.done ]; do sleep 2; done; grep -a "transitions" "$W_DIR/collect.log"

# 3. offline runs, 5 seeds each, four processes sharing the GPU, each under a time budget
# run ALGO LEVEL STEPS EVERY RUNS_LEFT_IN_THIS_PROCESS: the time left is shared by the runs still to come
run() { local left=$(( END - $(date +%s) )); local share=$(( left / $5 )); [ "$share" -gt 30 ] || { echo "skip $1 $2"; return; }
        timeout "$share" python3 -m offrl.cli train --algo "$1" --dataset "local/hopper-$2-v0" --steps "$3" \
          --eval-every "$4" --chunk "$4" --eval-episodes $EPIS --eval-workers 3 --no-checkpoint --no-progress \
          --wandb False 2>&1 | grep -v "settotalmass\|^$" | tail -3; }
# every run shares the GPU with three others: no process may preallocate most of its memory
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.2
END=$(( T0 + ${DEADLINE:-545} )); [ "$Q" = 1 ] && END=$(( $(date +%s) + 900 ))
el "offline runs (until $(( END - T0 ))s)"
( run td3bc medium $TRAIN $EVERY 2; run td3bc medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/td3bc.log" 2>&1 &
( run iql medium $TRAIN $EVERY 2; run iql medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/iql.log" 2>&1 &
( run bc medium $TRAIN $EVERY 2; run bc medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/bc.log" 2>&1 &
( run dt medium $DTSTEPS $DTEVERY 4; run modt medium $DTSTEPS $DTEVERY 3; run dt medium-expert $DTSTEPS $DTEVERY 2
  run modt medium-expert $DTSTEPS $DTEVERY 1 ) > "$W_DIR/dt.log" 2>&1 &
wait
el "done"; cat "$W_DIR"/td3bc.log "$W_DIR"/iql.log "$W_DIR"/bc.log "$W_DIR"/dt.log
python3 -m offrl.cli report /tmp/offrl-results --out "$W_DIR/report" 2>&1 | tail -3
bundle; ls -la "$OUT" "$W_DIR" "$W_DIR/report"
