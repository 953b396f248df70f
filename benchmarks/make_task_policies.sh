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
dest=./task-policies; secs=330; workers=$(( $(nproc) - 1 ))
while [ $# -gt 0 ]; do
  case "$1" in
    --out) dest=$2; shift 2;; --seconds) secs=$2; shift 2;; --workers) workers=$2; shift 2;;
    -h|--help) sed -n 2,14p "$0"; exit 0;; *) echo "unknown option $1" >&2; exit 2;;
  esac
done
mkdir -p "$dest/assets"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
wa=$(( workers / 2 )); wc=$(( (workers - wa) / 2 )); ww=$(( workers - wa - wc ))
common="--seeds 0 --envs-per-slot 16 --snapshot-every 20000 --keep-last 8 --max-seconds $secs --log-every-s 30"
python3 -m offrl.cli online --stream ant-dir ant-dir-oer --env-steps 400000 --keep-snapshots-until 400000 \
  --workers $wa $common --out "$dest/sac/ant" > "$dest/sac_ant.log" 2>&1 &
python3 -m offrl.cli online --stream cheetah-vel cheetah-vel-oer --env-steps 250000 \
  --keep-snapshots-until 250000 --workers $wc $common --out "$dest/sac/cheetah" > "$dest/sac_cheetah.log" 2>&1 &
python3 -m offrl.cli online --stream walker-par --env-steps 300000 --keep-snapshots-until 300000 \
  --workers $ww $common --out "$dest/sac/walker" > "$dest/sac_walker.log" 2>&1 &
wait
tail -n 2 "$dest"/sac_*.log
# the three families' assets are built side by side, one process per task up to `workers` in all
python3 -m offrl.cli continual build-assets --run-dir "$dest/sac/ant" --stream ant-dir ant-dir-oer \
  --out "$dest/assets" --processes $(( wa + 1 )) > "$dest/assets_ant.log" 2>&1 &
python3 -m offrl.cli continual build-assets --run-dir "$dest/sac/cheetah" --stream cheetah-vel cheetah-vel-oer \
  --out "$dest/assets/cheetah" --processes $(( wc + 1 )) > "$dest/assets_cheetah.log" 2>&1 &
python3 -m offrl.cli continual build-assets --run-dir "$dest/sac/walker" --stream walker-par \
  --out "$dest/assets/walker" --processes $(( ww + 1 )) > "$dest/assets_walker.log" 2>&1 &
wait
# one tree of <stream>/<task>/ folders
cp -r "$dest/assets/cheetah/." "$dest/assets/" && cp -r "$dest/assets/walker/." "$dest/assets/" && rm -rf "$dest/assets/cheetah" "$dest/assets/walker"
rm -f "$dest/assets/summary.json"; cat "$dest"/assets_*.log | grep -E "random .* medium .* expert" | tee "$dest/assets/returns.txt"
