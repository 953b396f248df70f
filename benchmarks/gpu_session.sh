#!/usr/bin/env bash
# GPU-machine work in phases, each sized for one device call (<= 10 minutes):
#   PHASES=bench    throughput: train_throughput (TD3+BC, IQL), dt_throughput (f32, bf16, unroll), uav_speed
#   PHASES=experiments  bf16 and flat-optimiser training throughput, kernel breakdown (profile_train)
#   PHASES=dtexp    DT: flat optimiser and bf16 at 1/8/32 seeds; bf16 kernel breakdowns with memory traffic
#   PHASES=speedups speed-ups against an earlier commit's package (OLD_TGZ) in the same call
#   PHASES=stages   several versions of the package (STAGES="label:archive.tgz ...") in one call
#   PHASES=concurrent  TrainConfig.concurrent_kernels: same numbers (concurrent_check, f32 and bf16), DT on/off
#   PHASES=concurrent2 TrainConfig.concurrent_kernels: TD3+BC/IQL/CQL throughput on/off (f32 table, bf16 best)
#   PHASES=dtact    DT/MO-DT activation_dtype=bfloat16 against bf16 matmuls alone; its kernel breakdown
#   PHASES=dtflags  DT at 32 seeds under XLA fusion options (XLA_FLAGS), no-flag baseline twice
#   PHASES=profile  kernel breakdowns with memory traffic, float32 and bf16, 1 and 32 seeds
#   PHASES=offline  collect local/hopper-* (CPU) then 5-seed TD3+BC/IQL/BC/DT/MO-DT runs until DEADLINE
#                   (TRAIN/EVERY/DTSTEPS/DTEVERY override the step counts)
#   PHASES=runs     RUNS="algo:level:steps:every[:hp,hp] ..." each in its own process until DEADLINE
#                   (LEVELS="medium medium-replay" collects only those datasets first)
#   PHASES=sac      retrain the HalfCheetah behaviour policy longer (offrl online, 3 seeds)
# Usage (repo root, wheels installed, $OUT set): PHASES="bench" bash benchmarks/gpu_session.sh
# QUICK=1 runs tiny sizes everywhere (a CPU dry run). Everything returns in $OUT/bundle.tgz
# ($OUT gives back at most 8 files), re-packed after each step so a cut-off call still returns data.
set -u
OUT=${OUT:-/tmp/offrl-gpu-out}; mkdir -p "$OUT"
# results of earlier calls on a reused machine must not mix into this call's bundle
W_DIR=/tmp/gpu_work; rm -rf "$W_DIR"; mkdir -p "$W_DIR"
bundle() { tar czf "$OUT/bundle.tgz" --exclude=checkpoints --exclude=final_state.npz -C /tmp gpu_work $( [ -d /tmp/offrl-results ] && echo offrl-results ); }
# scripts under benchmarks/ import offrl from the checkout (it is not pip-installed on the GPU machine)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled OFFRL_DATA_DIR=/tmp/offrl-data OFFRL_RESULTS_DIR=/tmp/offrl-results
export MINARI_DATASETS_PATH=/tmp/offrl-minari TQDM_DISABLE=1
Q=${QUICK:-0}; PHASES=${PHASES:-bench offline}
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
END=$(( T0 + ${DEADLINE:-545} ))
if [ "$Q" = 1 ]; then FEW_MANY=1,2; STEPS=4000; REPLAY=1500; TRAIN=200; EVERY=100; DTSTEPS=40; DTEVERY=20; EPIS=2; QB=--quick
else FEW_MANY=1,32; STEPS=1000000; REPLAY=""; TRAIN=${TRAIN:-60000}; EVERY=${EVERY:-10000}; DTSTEPS=${DTSTEPS:-30000}; DTEVERY=${DTEVERY:-10000}; EPIS=10; QB=""; fi

# datasets on the CPU: in-process collection (10 envs, as on the CPU, so checksums compare with
# offrl/assets/policies/hopper/checksums.json) was 2x faster than worker processes. One BLAS thread
# each so that collecting beside the GPU benchmarks leaves their host cores free. Datasets already
# on this (warm) machine are kept.
have() { python3 -m offrl.cli datasets info "local/hopper-$1-v0" 2>/dev/null | grep -q "\"present\": true"; }
collect_all() {
  el "collect"
  ( export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    for lv in ${LEVELS:-medium expert medium-replay}; do
      s=$STEPS; [ "$lv" = medium-replay ] && s=${REPLAY}
      have $lv || python3 -m offrl.cli collect hopper-$lv ${s:+--steps $s} --no-minari 2>&1 | grep -a "transitions\|rror" &
    done; wait
    [ -n "${LEVELS:-}" ] || have medium-expert || python3 -m offrl.cli collect hopper-medium-expert ${STEPS:+--steps $STEPS} --no-minari \
      2>&1 | grep -a "transitions\|rror"
    el "collect done" ) > "$W_DIR/collect.log" 2>&1
}

# bench with the dataset collection running beside it on the CPU (COLLECT=0 to measure alone)
phase_bench() {
  [ "${COLLECT:-1}" = 1 ] && collect_all &
  el "train_throughput"; python3 benchmarks/train_throughput.py $QB --out "$W_DIR/train_throughput.json" 2>&1 | grep -v "^$" | tail -24; bundle
  el "dt_throughput f32"; python3 benchmarks/dt_throughput.py $QB --out "$W_DIR/dt_throughput.json" 2>&1 | tail -12; bundle
  el "uav_speed"; python3 benchmarks/uav_speed.py $QB --out "$W_DIR/uav_speed.json" 2>&1 | tail -10; bundle
  el "dt_throughput bf16"; python3 benchmarks/dt_throughput.py $QB --seeds $FEW_MANY --hp compute_dtype=bfloat16 \
    --out "$W_DIR/dt_throughput_bf16.json" 2>&1 | tail -8; bundle
  el "dt_throughput unroll 4"; python3 benchmarks/dt_throughput.py $QB --seeds 1 --unroll 4 \
    --out "$W_DIR/dt_throughput_unroll4.json" 2>&1 | tail -6; bundle
  wait; cat "$W_DIR/collect.log" 2>/dev/null
}

# run ALGO LEVEL STEPS EVERY RUNS_LEFT [HP,HP,...]: the time left is shared by this process's remaining
# runs; HP are algorithm overrides name=value, comma-separated
run() { local left=$(( END - $(date +%s) )); local share=$(( left / $5 )); [ "$share" -gt 30 ] || { echo "skip $1 $2"; return; }
        timeout "$share" python3 -m offrl.cli train --algo "$1" --dataset "local/hopper-$2-v0" --steps "$3" \
          --eval-every "$4" --chunk "$4" --eval-episodes $EPIS --eval-workers 3 --no-checkpoint --no-progress \
          --wandb False ${6:+--hp ${6//,/ }} 2>&1 | grep -v "settotalmass\|^$" | tail -3; }

phase_offline() {
  collect_all; wait
  # four processes share the GPU: none may preallocate most of its memory
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.2
  [ "$Q" = 1 ] && END=$(( $(date +%s) + 900 ))
  el "offline runs (until $(( END - T0 ))s)"
  ( run td3bc medium $TRAIN $EVERY 2; run td3bc medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/td3bc.log" 2>&1 &
  ( run iql medium $TRAIN $EVERY 2; run iql medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/iql.log" 2>&1 &
  ( run bc medium $TRAIN $EVERY 2; run bc medium-replay $TRAIN $EVERY 1 ) > "$W_DIR/bc.log" 2>&1 &
  ( run dt medium $DTSTEPS $DTEVERY 4; run modt medium $DTSTEPS $DTEVERY 3; run dt medium-expert $DTSTEPS $DTEVERY 2
    run modt medium-expert $DTSTEPS $DTEVERY 1 ) > "$W_DIR/dt.log" 2>&1 &
  wait
  el "offline done"; cat "$W_DIR"/td3bc.log "$W_DIR"/iql.log "$W_DIR"/bc.log "$W_DIR"/dt.log
  python3 -m offrl.cli report /tmp/offrl-results --out "$W_DIR/report" 2>&1 | tail -2; bundle
}

# speed-ups under test, each against float32 rows measured in the same phase, and where
# the time goes, kernel by kernel
phase_experiments() {
  el "train_throughput f32 (baseline of this phase)"; python3 benchmarks/train_throughput.py $QB --seeds $FEW_MANY \
    --parts fused --out "$W_DIR/train_throughput_f32.json" 2>&1 | grep -v "^$" | tail -6; bundle
  el "train_throughput bf16"; python3 benchmarks/train_throughput.py $QB --seeds $FEW_MANY --parts fused \
    --hp compute_dtype=bfloat16 --out "$W_DIR/train_throughput_bf16.json" 2>&1 | grep -v "^$" | tail -6; bundle
  el "train_throughput flat optimiser"; python3 benchmarks/train_throughput.py $QB --seeds $FEW_MANY --parts fused \
    --hp flat_optimizer=True --out "$W_DIR/train_throughput_flat.json" 2>&1 | grep -v "^$" | tail -6; bundle
  el "dt_throughput f32 (baseline of this phase)"; python3 benchmarks/dt_throughput.py $QB --seeds $FEW_MANY \
    --out "$W_DIR/dt_throughput_f32.json" 2>&1 | tail -6; bundle
  el "dt_throughput flat optimiser"; python3 benchmarks/dt_throughput.py $QB --seeds $FEW_MANY --hp flat_optimizer=True \
    --out "$W_DIR/dt_throughput_flat.json" 2>&1 | tail -6; bundle
  el "profile (kernel breakdown)"; python3 benchmarks/profile_train.py $QB --algos td3bc,iql,dt --seeds $FEW_MANY \
    --out "$W_DIR/profile.json" 2>&1 | tail -30; bundle
  # cuBLAS instead of XLA's Triton GEMM fusions for the small batched matmuls
  el "train_throughput IQL, Triton GEMMs off"; XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=false" \
    python3 benchmarks/train_throughput.py $QB --algos iql --seeds $FEW_MANY --parts fused \
    --out "$W_DIR/train_throughput_iql_notriton.json" 2>&1 | grep -v "^$" | tail -4; bundle
  el "dt_throughput, Triton GEMMs off"; XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=false" \
    python3 benchmarks/dt_throughput.py $QB --seeds $FEW_MANY --out "$W_DIR/dt_throughput_notriton.json" 2>&1 | tail -4; bundle
}

# DT speed-ups against the default config measured in the same phase at the issue's seed counts,
# then kernel breakdowns with bytes moved per kernel (bf16, every algorithm) and their HLO
phase_dtexp() {
  local seeds=1,8,32; [ "$Q" = 1 ] && seeds=1,2
  for v in "default:" "flat:flat_optimizer=True" "flat_bf16:flat_optimizer=True compute_dtype=bfloat16"; do
    el "dt_throughput ${v%%:*}"; h=${v#*:}
    python3 benchmarks/dt_throughput.py $QB --seeds $seeds ${h:+--hp $h} --out "$W_DIR/dt_${v%%:*}.json" 2>&1 \
      | grep "fused\|unfused"; bundle
  done
  el "profile bf16 with memory traffic"; python3 benchmarks/profile_train.py $QB --algos td3bc,iql,dt \
    --seeds $FEW_MANY --chunks 2 --hp compute_dtype=bfloat16 --hlo-dir "$W_DIR/hlo" \
    --out "$W_DIR/profile_bf16.json" 2>&1 | tail -40; bundle
}

# kernel breakdowns with bytes moved per kernel, float32 defaults and the fastest configs, with the HLO
# that names each kernel (so the traffic can be recomputed from the saved JSON)
phase_profile() {
  el "profile float32 defaults"; python3 benchmarks/profile_train.py $QB --algos td3bc,iql,dt --seeds $FEW_MANY \
    --chunks 2 --hlo-dir "$W_DIR/hlo_f32" --out "$W_DIR/profile_f32.json" 2>&1 | tail -40; bundle
  el "profile bf16"; python3 benchmarks/profile_train.py $QB --algos td3bc,iql,dt --seeds $FEW_MANY --chunks 2 \
    --hp compute_dtype=bfloat16 --hlo-dir "$W_DIR/hlo_bf16" --out "$W_DIR/profile_bf16.json" 2>&1 | tail -40; bundle
}

# speed-ups against the code before them, in one call: OLD_TGZ is a `git archive` of the earlier
# commit's offrl/ (e.g. `git archive HEAD offrl | gzip > old.tgz`); its rows run the same benchmark
# scripts with that package first on PYTHONPATH. MLP algorithms at 32 seeds (float32; bf16 with scan
# unrolling and bf16 Adam first moments), CQL at 5 seeds, DT bf16 at 1 and 32 seeds; then the kernel
# breakdown of IQL bf16 at 32 seeds. (First run at 359486e with DT f32 rows and without unroll 4.)
# unpack a `git archive` of offrl/ (LABEL ARCHIVE) under /tmp; prints the PYTHONPATH that puts it first
package_path() { local dir=/tmp/offrl-pkg-$1; rm -rf "$dir"; mkdir -p "$dir"; tar xzf "$2" -C "$dir" && echo "$dir:$PYTHONPATH"; }

phase_speedups() {
  local many=32 few=5 d1=1,32 dq=""; [ "$Q" = 1 ] && { many=2; few=2; d1=1,2; }
  [ "$Q" = 1 ] || dq="--baseline-steps 100 --reps 2"
  : "${OLD_TGZ:?OLD_TGZ not set}"
  local -a label=(old new) path=("$(package_path old "$OLD_TGZ")" "$PYTHONPATH")
  for i in 0 1; do
    el "${label[$i]}: TD3+BC/IQL f32 and bf16 (+ unroll 4), CQL f32"; export PYTHONPATH=${path[$i]}
    python3 benchmarks/train_throughput.py $QB --seeds $many --parts fused --out "$W_DIR/${label[$i]}_mlp_f32.json" \
      2>&1 | grep fused
    python3 benchmarks/train_throughput.py $QB --seeds $many --parts fused,unroll --unrolls 4 --unroll-seeds $many \
      --hp compute_dtype=bfloat16 --out "$W_DIR/${label[$i]}_mlp_bf16.json" 2>&1 | grep "fused\|unroll"
    python3 benchmarks/train_throughput.py $QB --algos cql --seeds $few --parts fused \
      --out "$W_DIR/${label[$i]}_cql.json" 2>&1 | grep fused; bundle
    el "${label[$i]}: DT bf16"; python3 benchmarks/dt_throughput.py $QB --seeds $d1 $dq --hp compute_dtype=bfloat16 \
      --out "$W_DIR/${label[$i]}_dt_bf16.json" 2>&1 | grep "fused"; bundle
  done
  el "new: bf16 + bf16 first moments (+ unroll 2, 4)"
  python3 benchmarks/train_throughput.py $QB --seeds $many --parts fused,unroll --unrolls 2,4 --unroll-seeds $many \
    --hp compute_dtype=bfloat16 first_moment_dtype=bfloat16 --out "$W_DIR/new_mlp_bf16_mu.json" 2>&1 \
    | grep "fused\|unroll"; bundle
  el "profile IQL bf16, 32 seeds"; python3 benchmarks/profile_train.py $QB --algos iql --seeds $many --chunks 2 \
    --hp compute_dtype=bfloat16 --hlo-dir "$W_DIR/hlo" --out "$W_DIR/profile_iql_bf16.json" 2>&1 | tail -4; bundle
}

# several versions of the package in one call: STAGES="label:archive.tgz ..." (each a `git archive`
# of offrl/ at one commit, as OLD_TGZ above; label "cur" = the working tree). WHAT=mlp: TD3+BC and
# IQL at 32 seeds, bf16 + bf16 first moments, plain and with scan unroll 2; WHAT=dt: DT at DT_SEEDS
# (1,32) with DT_HP (compute_dtype=bfloat16; e.g. flat_optimizer=True for float32). List a stage twice
# (e.g. first and last) to see the drift within the call.
phase_stages() {
  local many=32 d1=${DT_SEEDS:-1,32} dq="--baseline-steps 50 --reps 2" n=0; [ "$Q" = 1 ] && { many=2; d1=1,2; dq=""; }
  for st in ${STAGES:?STAGES not set}; do
    local label=${st%%:*} tgz=${st#*:} path=$PYTHONPATH; n=$((n + 1))
    [ "$label" = cur ] || path=$(package_path "$label" "$tgz")
    if [ "${WHAT:-mlp}" = mlp ]; then
      el "stage $label: TD3+BC, IQL bf16 + bf16 mu, $many seeds (+ unroll 2)"
      PYTHONPATH=$path python3 benchmarks/train_throughput.py $QB --seeds $many --parts fused,unroll --unrolls 2 \
        --unroll-seeds $many --hp compute_dtype=bfloat16 first_moment_dtype=bfloat16 \
        --out "$W_DIR/stage${n}_${label}_mlp.json" 2>&1 | grep "fused\|unroll"
    else
      el "stage $label: DT ${DT_HP:-compute_dtype=bfloat16}"; PYTHONPATH=$path python3 benchmarks/dt_throughput.py $QB \
        --seeds $d1 $dq --hp ${DT_HP:-compute_dtype=bfloat16} --out "$W_DIR/stage${n}_${label}_dt.json" 2>&1 | grep "fused"
    fi; bundle
  done
}

# DT's activation_dtype: bf16 residual stream against the bf16-matmul baseline in the same call, DT
# and MO-DT, then the kernel breakdown with memory traffic of the new configuration at 32 seeds
phase_dtact() {
  local few=1,8,32 two=1,32 many=32 dq="--baseline-steps 50 --reps 2"; [ "$Q" = 1 ] && { few=1,2; two=1,2; many=2; dq=""; }
  local act="compute_dtype=bfloat16 activation_dtype=bfloat16"
  el "DT bf16 matmuls (baseline)"; python3 benchmarks/dt_throughput.py $QB --seeds $few --hp compute_dtype=bfloat16 \
    --out "$W_DIR/dtact_dt_bf16.json" 2>&1 | grep "fused\|throughput"; bundle
  el "DT bf16 matmuls + bf16 activations"; python3 benchmarks/dt_throughput.py $QB --seeds $few --hp $act \
    --out "$W_DIR/dtact_dt_bf16_act.json" 2>&1 | grep "fused\|throughput"; bundle
  el "DT float32 matmuls + bf16 activations"; python3 benchmarks/dt_throughput.py $QB --seeds $two $dq \
    --hp activation_dtype=bfloat16 --out "$W_DIR/dtact_dt_f32_act.json" 2>&1 | grep "fused\|throughput"; bundle
  for hp in compute_dtype=bfloat16 "$act"; do local tag=bf16; [ "$hp" = "$act" ] && tag=bf16_act
    el "MO-DT $hp"; python3 benchmarks/dt_throughput.py $QB --algo modt --seeds $two $dq --hp $hp \
      --out "$W_DIR/dtact_modt_$tag.json" 2>&1 | grep "fused\|throughput"; bundle
  done
  el "DT bf16 + bf16 activations, all dropout 0 (what the masks cost)"; python3 benchmarks/dt_throughput.py $QB \
    --seeds $two $dq --hp $act embedding_dropout=0 attention_dropout=0 residual_dropout=0 \
    --out "$W_DIR/dtact_dt_bf16_act_nodrop.json" 2>&1 | grep "fused\|throughput"; bundle
  el "DT bf16 matmuls (baseline again, drift)"; python3 benchmarks/dt_throughput.py $QB --seeds $many $dq \
    --hp compute_dtype=bfloat16 --out "$W_DIR/dtact_dt_bf16_again.json" 2>&1 | grep "fused\|throughput"; bundle
  el "profile DT bf16 + bf16 activations, $many seeds"; python3 benchmarks/profile_train.py $QB --algos dt \
    --seeds $many --chunks 2 --hp $act --hlo-dir "$W_DIR/hlo" --out "$W_DIR/profile_dt_bf16_act.json" 2>&1 | tail -4; bundle
}

# DT (bf16 matmuls + bf16 activations) at 32 seeds under XLA's optional fusion passes, one process per
# flag set (XLA_FLAGS is read once per process), ~45 s each; the baseline without flags runs twice (drift)
DT_FLAG_SETS=(
  "none:"
  "triton_gemm_any:--xla_gpu_triton_gemm_any=true"
  "triton_multi_output:--xla_gpu_unsupported_enable_triton_multi_output_fusion=true"
  "cudnn_layer_norm:--xla_gpu_enable_cudnn_layer_norm=true"
  "all_fusions_triton:--xla_gpu_experimental_all_fusions_with_triton=true"
  "warp_specialization:--xla_gpu_experimental_enable_triton_warp_specialization=true"
  "tiling_propagation:--xla_gpu_experimental_enable_tiling_propagation=true"
  "none_again:"
  # slower (RESULTS.md 5f: 0.69x and 0.26x, the latter with a 79 s compile): last, so a cut-off call keeps the rest
  "block_level_rewriter:--xla_gpu_experimental_enable_fusion_block_level_rewriter=true"
  "heroless_priority:--xla_gpu_experimental_enable_triton_heroless_priority_fusion=true"
)
phase_dtflags() {
  local many=32 dq="--reps 3"; [ "$Q" = 1 ] && { many=2; dq=""; }
  for entry in "${DT_FLAG_SETS[@]}"; do local name=${entry%%:*} flags=${entry#*:}
    # XLA reads a non-empty XLA_FLAGS that does not start with "--" as a file name: unset it instead
    local xf; xf=$(echo ${XLA_FLAGS:-} $flags)
    el "DT bf16 + bf16 activations, $many seeds, XLA_FLAGS: ${xf:-(none)}"
    ( if [ -n "$xf" ]; then export XLA_FLAGS="$xf"; else unset XLA_FLAGS; fi
      timeout 150 python3 benchmarks/dt_throughput.py $QB --seeds $many $dq --no-baseline \
        --hp compute_dtype=bfloat16 activation_dtype=bfloat16 --out "$W_DIR/dtflags_$name.json" 2>&1 \
        | grep -a "fused\|rror\|^F[0-9]" | tail -3 ); bundle
  done
}

# TrainConfig.concurrent_kernels against XLA's default (kernels one after another), measured in the
# same process: first whether any number changes, then the throughput tables with that in-run baseline
phase_concurrent() {
  local few=1,8,32 steps=500; [ "$Q" = 1 ] && { few=1,2; steps=20; }
  for dt in float32 bfloat16; do
    el "concurrent_check $dt"; python3 benchmarks/concurrent_check.py $QB --steps $steps --hp compute_dtype=$dt \
      --out "$W_DIR/concurrent_check_$dt.json" 2>&1 | grep -v "^$" | tail -6; bundle
  done
  el "DT bf16 on/off"; python3 benchmarks/dt_throughput.py $QB --seeds $few --serial --hp compute_dtype=bfloat16 \
    --out "$W_DIR/dt_concurrent_bf16.json" 2>&1 | grep "fused\|unfused"; bundle
}
phase_concurrent2() {
  local many=32 few=5; [ "$Q" = 1 ] && { many=2; few=2; }
  el "TD3+BC, IQL float32 (defaults): fused, serial, baseline"; python3 benchmarks/train_throughput.py $QB \
    --parts fused,serial,baseline --out "$W_DIR/train_concurrent_f32.json" 2>&1 | grep "fused\|baseline"; bundle
  el "TD3+BC, IQL bf16 + bf16 mu, $many seeds (+ unroll 2), on/off"; python3 benchmarks/train_throughput.py $QB \
    --seeds $many --parts fused,serial,unroll --unrolls 2 --unroll-seeds $many \
    --hp compute_dtype=bfloat16 first_moment_dtype=bfloat16 --out "$W_DIR/train_concurrent_bf16_mu.json" 2>&1 \
    | grep "fused\|unroll"; bundle
  el "CQL, BC $few seeds on/off"; python3 benchmarks/train_throughput.py $QB --algos cql,bc --seeds $few \
    --parts fused,serial --out "$W_DIR/train_concurrent_cql_bc.json" 2>&1 | grep "fused"; bundle
}

# PHASES=runs RUNS="algo:level:steps:every[:hp,hp] ...": each run in its own process, all until DEADLINE
phase_runs() {
  collect_all; wait; export XLA_PYTHON_CLIENT_MEM_FRACTION=0.15
  el "runs (until $(( END - T0 ))s): ${RUNS:-}"
  local pids="" n=0
  for r in ${RUNS:-}; do IFS=: read -r a l s e h <<< "$r"; n=$((n + 1))
    run "$a" "$l" "$s" "$e" 1 "$h" > "$W_DIR/run-$n-$a-$l.log" 2>&1 & pids="$pids $!"; done
  # re-pack every 30 s: a call cut off by its time limit still returns the evaluations so far
  ( while sleep 30; do bundle; done ) & local packer=$!
  wait $pids; kill $packer; el "runs done"; cat "$W_DIR"/run-*.log
  python3 -m offrl.cli report /tmp/offrl-results --out "$W_DIR/report" 2>&1 | tail -2; bundle
}

phase_sac() {
  local steps=3000000 secs=$(( END - $(date +%s) - 30 ))
  [ "$Q" = 1 ] && { steps=640; secs=300; }
  el "online SAC HalfCheetah-v5 (<= ${secs}s)"
  python3 -m offrl.cli online --envs HalfCheetah-v5 --seeds 0 1 2 --env-steps $steps --envs-per-slot 16 \
    --workers 15 --max-seconds $secs --snapshot-every 10000 --log-every-s 30 --out "$W_DIR/sac" 2>&1 \
    | grep -av "settotalmass\|^$" | tail -25; bundle
}

for p in $PHASES; do "phase_$p"; done
el "done"; ls -la "$OUT" "$W_DIR"
