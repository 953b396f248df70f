"""Benchmark scripts at their tiny CPU sizes: dt_throughput.py's JSON with and without its baseline;
eval_overlap.py's two runs; eval_speed.py's split of a step;
the Pallas probe's fused kernels (interpret mode) against XLA's gradients; the GPU runner's phases,
argument checks and outputs; headline_table.py against the raw H100 JSON the results page quotes;
references to the results page and its notes."""

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
RUNNER = BENCH / "run_gpu_benchmarks.sh"
PAGE = BENCH / "RESULTS.md"


def _script(name="dt_throughput"):
    spec = importlib.util.spec_from_file_location(name.rsplit("/", 1)[-1], BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dt_throughput_writes_rates_and_its_settings(tmp_path, monkeypatch):
    script = _script()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    with_base, without = tmp_path / "base.json", tmp_path / "nobase.json"
    assert script.main(["--quick", "--seeds", "2", "--reps", "1", "--baseline-steps", "3",
                        "--out", str(with_base)]) == 0
    assert script.main(["--quick", "--seeds", "1,2", "--reps", "1", "--no-baseline",
                        "--hp", "activation_dtype=bfloat16", "--out", str(without)]) == 0
    a, b = json.loads(with_base.read_text()), json.loads(without.read_text())
    # the XLA options a sweep ran under are part of its record
    assert a["xla_flags"] == b["xla_flags"] == "--xla_cpu_enable_fast_math=false"
    assert a["unfused"]["steps_per_s"] > 0 and a["fused"][0]["speedup_vs_unfused"] > 0
    assert b["unfused"] is None and b["activation_dtype"] == "bfloat16"
    assert [r["seeds"] for r in b["fused"]] == [1, 2]
    for r in a["fused"] + b["fused"]:
        assert r["seed_steps_per_s"] > 0 and math.isfinite(r["final_loss"])
    assert all(r["speedup_vs_unfused"] is None for r in b["fused"])


def test_eval_overlap_times_both_ways_and_checks_the_scores_agree(tmp_path):
    out = tmp_path / "overlap.json"
    assert _script("eval_overlap").main(["--quick", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    inline, beside = rec["runs"]["in line"], rec["runs"]["beside training"]
    assert rec["same_scores"] is True and rec["speedup"] > 0  # on a CPU: bitwise the same evaluation
    assert inline["eval_background_s"] is None and beside["eval_background_s"] > 0
    for run in (inline, beside):
        assert set(run["time_s"]) == {"train", "first_chunk", "eval", "checkpoints"} and run["wall_s"] > 0


def test_eval_speed_splits_each_step_into_the_pool_and_the_rest(tmp_path):
    out = tmp_path / "eval_speed.json"
    assert _script("eval_speed").main(["--quick", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert [r["workers"] for r in rec["rows"]] == [0, 1] and rec["envs"] == 4
    for r in rec["rows"]:
        assert r["pool_steps"] > 0 and r["env_steps"] >= r["pool_steps"]
        assert 0 < r["ms_in_pool_step"] < r["ms_per_step"]
        assert r["ms_rest"] == pytest.approx(r["ms_per_step"] - r["ms_in_pool_step"])


def test_pallas_mlp_probe_kernels_match_xla(tmp_path):
    """The probe's fused MLP sub-block (forward, and the two backward kernels under jax.custom_vjp) gives
    XLA's output and every gradient to bf16 precision, with several token tiles per seed and the weight
    gradients summed over two token splits."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    probe = _script("experiments/pallas_mlp_probe")
    args = probe.make_inputs(2, 256, 128, 256, key=3)
    want = jax.vmap(probe.reference_mlp)(*args).astype(jnp.float32)
    got = probe.fused_mlp(*args, block_tokens=64, hidden_chunk=128, interpret=True).astype(jnp.float32)
    np.testing.assert_allclose(got, want, atol=0.02 * float(jnp.max(jnp.abs(want))))
    c = jax.random.normal(jax.random.PRNGKey(4), want.shape)
    mlp = probe.trainable_fused_mlp(dict(block_tokens=64, hidden_chunk=128, interpret=True),
                                    dict(block_tokens=64, hidden_chunk=64, dw_block_tokens=64, dw_hidden_chunk=128,
                                         dw_token_splits=2, interpret=True))
    every = tuple(range(7))
    grads = jax.grad(lambda *t: jnp.sum(mlp(*t).astype(jnp.float32) * c), every)(*args)
    ref = jax.grad(lambda *t: jnp.sum(jax.vmap(probe.reference_mlp)(*t).astype(jnp.float32) * c), every)(*args)
    for name, g, r in zip(("x", "gamma", "beta", "w1", "b1", "w2", "b2"), grads, ref):
        g, r = np.asarray(g, np.float32), np.asarray(r, np.float32)
        assert g.shape == r.shape, name
        scale = float(np.max(np.abs(r)))
        assert scale > 0 and float(np.max(np.abs(g - r))) <= 0.02 * scale, name
    # the script end to end: every variant ran and agreed
    out = tmp_path / "probe.json"
    assert probe.main(["--quick", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["best"]["max_rel_diff_vs_xla"] < 0.02 and rec["forward_backward"]["max_rel_diff_vs_xla"] < 0.02


# --- the GPU runner ---------------------------------------------------------------------------------

def _run(*args, cwd, timeout=60):
    return subprocess.run(["bash", str(RUNNER), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _page_section(title: str) -> str:
    """One '## title' section of the results page, whitespace collapsed (commands wrap across lines)."""
    text = PAGE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return " ".join(text[start:end if end > 0 else None].split())


def test_runner_phases_match_the_page_and_bad_arguments_stop_it_before_anything_runs(tmp_path):
    listed = _run("--list", cwd=tmp_path)
    assert listed.returncode == 0
    phases = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert "bench" in phases and len(phases) == len(set(phases)) >= 10
    # the page's phase table names every phase, and only those
    rows = PAGE.read_text().split("| phase | measures | section |")[1].split("\n\n")[0].splitlines()[2:]
    assert {p for row in rows for p in re.findall(r"`([a-z-]+)`", row.split(" | ")[0])} == set(phases)

    out = tmp_path / "out"
    every = _run("--dry-run", "--out", str(out), "--phase", ",".join(phases), "--old", "old.tgz",
                 "--stage", "s0:s0.tgz", "--stage", "cur:.", "--run", "iql:medium:1000:100:compute_dtype=bfloat16",
                 cwd=tmp_path)
    assert every.returncode == 0, every.stderr
    assert all(f"phase {p}" in every.stdout for p in phases)
    assert "--hp compute_dtype=bfloat16" in every.stdout and f"{out}/packages/old:" in every.stdout
    assert not out.exists()  # a dry run writes nothing
    # the continual phase runs the sweep files given (relative to where the runner was started), with
    # their data collected first; the other phases share the GPU as --parallel says
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    cont = _run("--dry-run", "--out", str(out), "--phase", "continual,packing,reproduce", "--sweep", "mine.yaml",
                "--parallel", "3", cwd=tmp_path)
    assert cont.returncode == 0, cont.stderr
    assert f"offrl.cli sweep {tmp_path}/mine.yaml --collect --parallel 3" in cont.stdout
    assert "sweep_packing.py --parallel 3" in cont.stdout and "reproduce offrl-local-v0 --collect --parallel 3" in cont.stdout
    assert f"cp offrl/assets/reference/published_scores.csv docs/reproduce.md {out}/reproduce/" in cont.stdout
    # evaluation workers as asked, and --set passed to every sweep file
    sets = _run("--dry-run", "--out", str(out), "--phase", "continual,reproduce", "--sweep", "mine.yaml",
                "--eval-workers", "5", "--set", "continual.steps_per_task=30000", "--set", "seeds=3", cwd=tmp_path)
    assert sets.returncode == 0, sets.stderr
    assert (f"sweep {tmp_path}/mine.yaml --collect --parallel 1 --eval-workers 5 --set continual.steps_per_task=30000 "
            "seeds=3") in sets.stdout and "--parallel 1 --eval-workers 5 --out" in sets.stdout
    # the continual-speed phase times the methods asked for (ER and OER unless told)
    speed = _run("--dry-run", "--out", str(out), "--phase", "continual-speed", "--methods", "er er:replay=rl", cwd=tmp_path)
    assert speed.returncode == 0 and "--stream cheetah-vel --methods er er:replay=rl --eval-workers" in speed.stdout
    assert "--methods er oer --eval-workers" in every.stdout
    alone = _run("--dry-run", "--out", str(out), "--phase", "continual-speed", "--no-baseline", cwd=tmp_path)
    assert alone.returncode == 0 and "--methods er oer --no-baseline --eval-workers" in alone.stdout
    # --last-start: a sweep or reproduce starts no run later than that before --deadline; reproduce takes
    # --datasets/--algos
    late = _run("--dry-run", "--out", str(out), "--phase", "continual,reproduce", "--sweep", "mine.yaml",
                "--deadline", "1000", "--last-start", "300", "--datasets", "hopper-medium hopper-expert",
                "--algos", "bc", cwd=tmp_path)
    assert late.returncode == 0, late.stderr
    assert re.search(r"timeout --signal=INT --kill-after=60 \d+ python3 -m offrl.cli sweep \S+ --collect "
                     r"--parallel 1 --eval-workers \d+ --start-within (69\d|700)\b", late.stdout), late.stdout
    assert "reproduce offrl-local-v0 --datasets hopper-medium hopper-expert --algos bc --collect" in late.stdout
    assert re.search(r"offrl.cli reproduce offrl-local-v0 .* --start-within (69\d|700) --out ", late.stdout), \
        late.stdout
    assert "--start-within" not in sets.stdout  # none without --last-start
    # the table's self-check: other seeds, judged against the recorded rows, recording nothing
    check = _run("--dry-run", "--out", str(out), "--phase", "reproduce", "--datasets", "hopper-medium",
                 "--check-seeds", "5 6 7 8 9", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert (f"reproduce offrl-local-v0 --datasets hopper-medium --seeds 5 6 7 8 9 --collect --parallel 1 "
            f"--eval-workers") in check.stdout and f"--out {out}/reproduce/check" in check.stdout
    assert "--record" not in check.stdout and "keep_records" not in check.stdout and "cp offrl" not in check.stdout
    seeds = _run("--dry-run", "--phase", "reproduce", "--check-seeds", "5,6", cwd=tmp_path)
    assert seeds.returncode == 2 and "--check-seeds takes seeds such as" in seeds.stderr
    bad = _run("--dry-run", "--phase", "continual", "--set", "oops", cwd=tmp_path)
    assert bad.returncode == 2 and "--set takes KEY=VALUE, not 'oops'" in bad.stderr

    typo = _run("--phase", "bnch", "--out", str(out), cwd=tmp_path)
    assert typo.returncode == 2 and "unknown phase 'bnch' (did you mean bench?)" in typo.stderr
    assert " ".join(phases) in typo.stderr
    for args, says in [(["--phase", "compare"], "--old"),
                       (["--phase", "compare", "--old", str(tmp_path / "none.tgz")], "no such file"),
                       (["--phase", "runs"], "--run"), (["--phase", "runs", "--run", "iql-medium"], "ALGO:LEVEL"),
                       (["--phase", "stages", "--stage", "nolabel"], "LABEL:ARCHIVE"), (["--what", "rnn"], "mlp or dt"),
                       (["--deadline", "10m"], "--deadline takes a positive whole number"),
                       (["--last-start", "5m"], "--last-start takes whole seconds, not '5m'"),
                       (["--phase", "continual", "--sweep", "none.yaml"], "--sweep: no such file 'none.yaml'"),
                       (["--parallel", "0"], "--parallel takes a positive whole number"),
                       (["--out"], "--out needs a value"), (["--frobnicate"], "unknown option '--frobnicate'")]:
        r = _run(*args, "--out", str(out), cwd=tmp_path) if args != ["--out"] else _run(*args, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert not out.exists()


def test_runner_bench_runs_the_commands_the_page_quotes(tmp_path):
    dry = _run("--dry-run", "--out", str(tmp_path / "r"), cwd=tmp_path)  # default phase: bench
    assert dry.returncode == 0, dry.stderr
    printed = [re.sub(r" --out \S+", "", line) for line in dry.stdout.splitlines()]
    quoted = []
    for title in ("Training throughput", "DT throughput", "Env throughput (UAV)"):
        head = _page_section(title).split("<!-- headline:")[0]
        quoted += [re.sub(r" --out \S+", "", c) for c in re.findall(r"`(python3 benchmarks/\w+\.py[^`]*)`", head)]
    assert len(quoted) == 5
    for command in quoted:
        assert command in printed, command
    assert any(line.startswith("python3 benchmarks/headline_table.py") for line in printed)


FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python3: records its arguments, writes the file named after --out, fails when asked to
echo "$*" >> "$FAKE_LOG"
# the sweep's own XLA settings for a shared GPU, asked of the real offrl
case "$*" in *share_gpu*) exec "$REAL_PYTHON" "$@" ;; esac
# the machine check's two-process GPU probe: with FAKE_UNSHARED set, the first process gets the GPU; as
# in JAX, both names of the memory cap set at once keep the GPU plugin from starting (JAX on the CPU)
case "$*" in *default_backend*) [ -n "${XLA_PYTHON_CLIENT_MEM_FRACTION:-}" ] && [ -n "${XLA_CLIENT_MEM_FRACTION:-}" ] \
  && { echo cpu; exit 0; }; if [ -z "${FAKE_UNSHARED:-}" ] || mkdir "$FAKE_LOG.gpu" 2>/dev/null
  then echo gpu; else echo cpu; fi; exit 0 ;; esac
[ "$1" = -c ] && { echo "jax: (stand-in)"; exit 0; }
out=""; prev=""; for a in "$@"; do [ "$prev" = --out ] && out=$a; prev=$a; done
[ -n "$out" ] && [ "${out%.json}" != "$out" ] && echo '{"stand_in": true}' > "$out"
case "$*" in *"$FAKE_FAIL"*) echo "stand-in failure" >&2; exit 3 ;; esac
# a long step: wait (at most 6 s) for the archive to appear while this step still runs
if [ -n "${FAKE_WAIT_ARCHIVE:-}" ]; then
  for i in $(seq 60); do [ -s "$FAKE_WAIT_ARCHIVE" ] && { echo "archive seen during the step" >> "$FAKE_LOG"; break; }
    sleep 0.1; done
fi
exit 0
"""


def _run_with_stand_in(tmp_path, *args, fail="(nothing)", unshared=False, extra_env=None):
    """The runner with a stand-in python3 first on PATH: its own work (steps, logs, records, archive), fast.
    ``unshared``: the GPU probe finds a GPU that takes one process at a time."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.txt"),
           "REAL_PYTHON": sys.executable,
           "FAKE_FAIL": fail, **({"FAKE_UNSHARED": "1"} if unshared else {}), **(extra_env or {})}
    r = subprocess.run(["bash", str(RUNNER), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    return r, (tmp_path / "calls.txt").read_text().splitlines()


def test_runner_records_each_step_and_packs_the_results(tmp_path):
    out, archive = tmp_path / "results", tmp_path / "results.tgz"
    r, calls = _run_with_stand_in(tmp_path, "--phase", "uav", "--out", str(out), "--archive", str(archive))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"benchmarks/uav_speed.py --out {out}/uav/uav_speed.json" in calls
    assert json.loads((out / "uav" / "uav_speed.json").read_text()) == {"stand_in": True}
    assert (out / "uav" / "uav_speed.log").is_file()
    # the exact command, with its time, and the machine (commit of this checkout) are on record
    commands = (out / "commands.txt").read_text().splitlines()
    assert commands[0].startswith("# ") and commands[0].endswith(" uav/uav_speed")
    assert commands[1] == f"python3 benchmarks/uav_speed.py --out {out}/uav/uav_speed.json"
    assert "commit: " in (out / "machine.txt").read_text() and not (out / "failed-steps.txt").exists()
    with tarfile.open(archive) as tar:
        assert {"./uav/uav_speed.json", "./uav/uav_speed.log", "./commands.txt"} <= set(tar.getnames())


def test_runner_packs_while_a_long_step_runs(tmp_path):
    """--pack-every: the archive is written during a step too (a machine lost mid-sweep still leaves the runs
    it finished), no temporary file is left behind, and 0 turns it off."""
    out, archive = tmp_path / "results", tmp_path / "results.tgz"
    args = ("--phase", "uav", "--out", str(out), "--archive", str(archive))
    r, calls = _run_with_stand_in(tmp_path, *args, "--pack-every", "1", extra_env={"FAKE_WAIT_ARCHIVE": str(archive)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "archive seen during the step" in calls
    assert [p.name for p in tmp_path.glob("results.tgz*")] == ["results.tgz"]
    with tarfile.open(archive) as tar:
        assert "./uav/uav_speed.json" in tar.getnames()  # the last pack, after the step
    archive.unlink()
    (tmp_path / "calls.txt").unlink()
    r, calls = _run_with_stand_in(tmp_path, *args, "--pack-every", "0", extra_env={"FAKE_WAIT_ARCHIVE": str(archive)})
    assert r.returncode == 0 and "archive seen during the step" not in calls and archive.is_file()
    bad, _ = _run_with_stand_in(tmp_path, "--phase", "uav", "--pack-every", "2m")
    assert bad.returncode == 2 and "--pack-every takes whole seconds" in bad.stderr


def test_runner_trains_one_run_at_a_time_on_a_gpu_that_cannot_be_shared(tmp_path):
    sweep = tmp_path / "mine.yaml"
    sweep.write_text("name: mine\n")
    out = tmp_path / "results"
    r, calls = _run_with_stand_in(tmp_path, "--phase", "continual", "--sweep", str(sweep), "--out", str(out),
                                  "--parallel", "4")
    assert r.returncode == 0 and "cannot use this GPU" not in r.stdout
    machine = (out / "machine.txt").read_text()
    # the probe ran with the variables a packed sweep child gets (and so found the GPU usable)
    assert "their environment: XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=0.450" in machine
    assert "two JAX processes at once run on: gpu gpu" in machine
    # the cores less 2 are shared by the 4 runs' evaluation workers
    workers = max(1, (os.cpu_count() - 2) // 4)
    assert any(c.endswith(f"mine.yaml --collect --parallel 4 --eval-workers {workers}") for c in calls), calls
    second = tmp_path / "second"
    second.mkdir()
    r, calls = _run_with_stand_in(second, "--phase", "continual", "--sweep", str(sweep), "--out", str(out),
                                  "--parallel", "4", unshared=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "two processes cannot use this GPU at once" in r.stdout
    assert any("mine.yaml --collect --parallel 1 --eval-workers" in c for c in calls), calls
    # packing has nothing to measure there: skipped, and said so
    third = tmp_path / "third"
    third.mkdir()
    r, calls = _run_with_stand_in(third, "--phase", "packing", "--out", str(out), unshared=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not any("sweep_packing.py" in c for c in calls)
    assert "skip packing" in (out / "packing" / "skipped.txt").read_text()


def test_runner_resumes_from_an_earlier_archive_with_its_finished_runs(tmp_path):
    """--resume-from: the finished run folders of an earlier call's --archive are unpacked first (so a
    sweep skips them on another machine); the earlier call's other files are not."""
    earlier = tmp_path / "earlier"
    (earlier / "results" / "run-a").mkdir(parents=True)
    (earlier / "results" / "run-a" / "final.json").write_text('{"done": true}')
    (earlier / "bench").mkdir()
    (earlier / "bench" / "train_f32.json").write_text("{}")
    archive = tmp_path / "earlier.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(earlier, arcname=".")
    out = tmp_path / "results"
    r, _ = _run_with_stand_in(tmp_path, "--phase", "uav", "--out", str(out), "--resume-from", str(archive))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed from {archive}: 1 finished run(s) in {out}/results" in r.stdout
    assert (out / "results" / "run-a" / "final.json").read_text() == '{"done": true}'
    assert not (out / "bench").exists()
    (tmp_path / "broken.tgz").write_text("not an archive")
    bad = _run("--phase", "uav", "--out", str(out), "--resume-from", str(tmp_path / "broken.tgz"), cwd=tmp_path)
    assert bad.returncode == 2 and "is not a .tgz archive" in bad.stderr


def test_runner_goes_on_after_a_failed_step_and_says_which_failed(tmp_path):
    out = tmp_path / "results"
    r, calls = _run_with_stand_in(tmp_path, "--out", str(out), fail=f"--seeds 1,32 --out {out}/bench/dt_f32.json")
    assert r.returncode == 1
    assert "dt_f32 failed (exit 3)" in r.stdout and "stand-in failure" in (out / "bench" / "dt_f32.log").read_text()
    assert (out / "failed-steps.txt").read_text() == "bench/dt_f32 (exit 3)\n"
    # the steps after it ran: the rest of the headline rows and their tables
    assert (out / "bench" / "dt_bf16_act.json").is_file() and (out / "bench" / "uav_speed.json").is_file()
    assert f"benchmarks/headline_table.py {out}/bench" in calls


# --- headline_table.py --------------------------------------------------------------------------------

H100_BENCH = {"train_f32.json": "exp12_train_concurrent_f32.json", "train_bf16_mu.json": "exp12_train_concurrent_bf16_mu.json",
              "dt_f32.json": "exp13_dt_f32.json", "dt_bf16_act.json": "exp15_dt_bf16_act.json",
              "uav_speed.json": "uav_speed.json"}


@pytest.fixture
def h100_bench(tmp_path):
    """A bench folder holding the raw H100 JSON that the page's headline tables quote."""
    folder = tmp_path / "bench"
    folder.mkdir()
    for name, raw in H100_BENCH.items():
        shutil.copy(BENCH / "h100" / raw, folder / name)
    return folder


def test_headline_table_gives_the_rows_the_page_quotes():
    """Every headline row on the page is what headline_table.py makes of the raw JSON it cites: the
    H200 bench call of 2026-12-03 (benchmarks/h200/bench-2026-12-03/), every table and every row."""
    table = _script("headline_table")
    page = PAGE.read_text()
    blocks, missing = table.make_blocks(BENCH / "h200" / "bench-2026-12-03", date="2026-12-03")
    assert missing == [] and set(blocks) == {"training", "dt", "uav"}
    for name, lines in blocks.items():
        marked = re.search(rf"<!-- headline:{name} .*?-->\n(.*?)<!-- /headline:{name} -->", page, re.S).group(1)
        assert marked.strip().splitlines() == lines, name
    training = blocks["training"]
    assert len(training) == 2 + 14
    assert "| TD3+BC | fused, bf16 matmuls + bf16 first moments | 32 | 5,212 | 166,780 | 143 | H200, 2026-12-03 |" in training
    assert "| JAX (H200) | 10,000 | 24,104,860 | 13,795 | H200, 2026-12-03 |" in blocks["uav"]


def test_headline_table_rewrites_only_the_marked_tables(h100_bench, tmp_path, capsys):
    table = _script("headline_table")
    page = tmp_path / "RESULTS.md"
    shutil.copy(PAGE, page)
    before = page.read_text()
    (h100_bench / "uav_speed.json").unlink()
    assert table.main([str(h100_bench), "--date", "2099-01-01", "--write", str(page)]) == 1  # a file is missing
    assert "uav_speed.json" in capsys.readouterr().err
    after = page.read_text()
    # the training and DT tables now hold the JSON's rows (5 and 16 seeds too); the UAV table and the text stay
    assert "| TD3+BC | fused, float32 (defaults) | 16 | 5,296 | 84,737 | 47.4 | H100, 2099-01-01 |" in after
    assert "| fused, float32 (defaults) | 8 | 403 | 3,222 | 3.04 | H100, 2099-01-01 |" in after
    outside = re.compile(r"<!-- headline:(training|dt) .*?<!-- /headline:\1 -->", re.S)
    assert outside.sub("", after) == outside.sub("", before)
    # a page without the markers is refused and left as it was
    plain = tmp_path / "plain.md"
    plain.write_text("# no tables\n")
    assert table.main([str(h100_bench), "--write", str(plain)]) == 2
    assert "no '<!-- headline:training" in capsys.readouterr().err and plain.read_text() == "# no tables\n"
    assert table.main([str(tmp_path / "absent")]) == 2


# --- references to the results page and its notes ---------------------------------------------------

def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_references_to_the_results_page_and_its_notes_resolve():
    anchors = {_slug(line.lstrip("#")) for line in PAGE.read_text().splitlines() if line.startswith("## ")}
    files = [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("offrl/**/*.py"), *BENCH.glob("*.md"),
             *BENCH.glob("notes/*.md"), *BENCH.glob("**/*.py"), *BENCH.glob("*.sh")]
    for f in files:
        text = f.read_text()
        # section numbers of the old page are gone
        assert not re.search(r"RESULTS\.md`? *(?:\(?sections? \d|\d[a-g]\b|§)", text), f
        for anchor in re.findall(r"RESULTS\.md#([\w-]+)", text):
            assert anchor in anchors, (f, anchor)
        for note in re.findall(r"notes/(\d{4}-\d{2}-[\w-]+\.md)", text):
            assert (BENCH / "notes" / note).is_file(), (f, note)
    # the files the page cites exist
    for path in re.findall(r"`(benchmarks/[\w./-]+)`", PAGE.read_text()):
        assert (ROOT / path).exists(), path
