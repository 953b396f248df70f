#!/usr/bin/env bash
# Train the per-task SAC behaviour policies of the shipped continual streams and build their assets
# (expert and medium snapshots, 100-episode random/expert reference returns) on one GPU box.
#
# Usage: benchmarks/make_task_policies.sh [--out DIR] [--seconds S] [--workers N]
#   --out DIR      where the SAC runs and the assets go (default ./task-policies); the assets land in
#                  DIR/assets/<stream>/<task>/{policies.npz,reference.json}: copy them into
#                  offrl/assets/policies/ to ship them.
#   --seconds S    wall-time cap of each SAC run (default 330; the three families train side by side)
#   --workers N    env worker processes in all (default: CPU cores - 1), split 7:4:3-ish across families
# Families and budgets (env steps per task, one seed per task): Ant-Dir 400k, Cheetah-Vel 250k,
# Walker-Par 300k, in three processes sharing the GPU (each an `offrl online --stream` run whose slots
# are the tasks). Needs offrl[train,mujoco].
set -euo pipefail
out=./task-policies; secs=330; workers=$(( $(nproc) - 1 ))
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2;; --seconds) secs=$2; shift 2;; --workers) workers=$2; shift 2;;
    -h|--help) sed -n 2,14p "$0"; exit 0;; *) echo "unknown option $1" >&2; exit 2;;
  esac
done
mkdir -p "$out"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
wa=$(( workers / 2 )); wc=$(( (workers - wa) / 2 )); ww=$(( workers - wa - wc ))
common="--seeds 0 --envs-per-slot 16 --snapshot-every 20000 --keep-last 8 --max-seconds $secs --log-every-s 30"
python3 -m offrl.cli online --stream ant-dir ant-dir-oer --env-steps 400000 --keep-snapshots-until 400000 \
  --workers $wa $common --out "$out/sac/ant" > "$out/sac_ant.log" 2>&1 &
python3 -m offrl.cli online --stream cheetah-vel cheetah-vel-oer --env-steps 250000 \
  --keep-snapshots-until 250000 --workers $wc $common --out "$out/sac/cheetah" > "$out/sac_cheetah.log" 2>&1 &
python3 -m offrl.cli online --stream walker-par --env-steps 300000 --keep-snapshots-until 300000 \
  --workers $ww $common --out "$out/sac/walker" > "$out/sac_walker.log" 2>&1 &
wait
tail -n 2 "$out"/sac_*.log
python3 - "$out" "$workers" <<'PY'
import json, sys
from offrl.collection import build_stream_assets
from offrl.continual.streams import load_stream
out, procs = sys.argv[1], int(sys.argv[2])
families = {"ant": ("ant-dir", "ant-dir-oer"), "cheetah": ("cheetah-vel", "cheetah-vel-oer"), "walker": ("walker-par",)}
res = {}
for fam, streams in families.items():
    names = [f"{s}/{t.name}" for s in streams for t in load_stream(s).tasks]
    res.update(build_stream_assets(f"{out}/sac/{fam}", names, out_root=f"{out}/assets", processes=procs))
json.dump(res, open(f"{out}/assets/summary.json", "w"), indent=1)
for n, v in sorted(res.items()):
    r = v["returns_100"]
    print(f"{n:24s} random {r['random']['mean']:9.1f}  medium {r['medium']['mean']:9.1f}  expert {r['expert']['mean']:9.1f}")
PY
