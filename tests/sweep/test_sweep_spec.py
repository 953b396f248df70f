"""Sweep files: grid and random expansion, stable run ids, every check before anything runs, the plan."""

import json
import math
import os
from pathlib import Path

import pytest
import yaml
from sweeptools import REPO, toy_data

from offrl import algos
from offrl.cli import main
from offrl.errors import ConfigError, UnknownIdError
from offrl.provenance import source_digest
from offrl.runlock import RunLock
from offrl.sweep import load_sweep, parse_sweep
from offrl.train import parse_overrides

BASE = {"name": "s", "algo": "td3bc", "datasets": ["local/hopper-medium-v0", "local/walker2d-medium-v0"],
        "seeds": [0, 1, 2], "train": {"steps": 1000, "eval_every": 500, "chunk": 500}, "hp": {"batch_size": 64}}


def hp_of(config) -> dict:
    algo = algos.get(config.algo)
    return parse_overrides(algo, config.hp)


def test_grid_is_the_cartesian_product_with_stable_run_ids(tmp_path):
    grid = {"hp.alpha": [1.0, 2.5, 4.0], "train.steps": [1000, 2000]}
    s = parse_sweep({**BASE, "grid": grid}, results_dir=tmp_path)
    assert len(s.runs) == 2 * 3 * 2 and s.duplicates == 0
    combos = {(c.dataset, hp_of(c)["alpha"], c.steps) for c in s.runs}
    assert combos == {(d, a, n) for d in BASE["datasets"] for a in grid["hp.alpha"] for n in grid["train.steps"]}
    for c, p in zip(s.runs, s.params):
        assert c.seeds == (0, 1, 2)  # the seeds stay one vmapped run, never a search axis
        assert hp_of(c) == {"batch_size": 64, "alpha": p["hp.alpha"]} and c.steps == p["train.steps"]
        assert c.results_dir == str(tmp_path.absolute())
        assert c.run_id.startswith(f"td3bc-{c.dataset.replace('/', '_')}-")
        assert c.wandb_group == f"s/{c.run_id}" and c.wandb_tags == ("s",)
    assert s.searched == ["dataset", "hp.alpha", "train.steps"]  # train.steps searched replaces train: steps
    ids = s.run_ids
    assert len(set(ids)) == len(ids)
    # the same file finds the same runs again; the nested form means the same; where results go and
    # how they are reported is not part of a run's identity
    nested = {**BASE, "grid": {"hp": {"alpha": [1.0, 2.5, 4.0]}, "train": {"steps": [1000, 2000]}},
              "wandb": {"project": "elsewhere", "tags": ["x"]}}
    assert parse_sweep(nested, results_dir=tmp_path / "other").run_ids == ids
    assert parse_sweep({**BASE, "grid": grid}).run_ids == ids
    # what a run computes is: another value, another id
    changed = parse_sweep({**BASE, "hp": {"batch_size": 32}, "grid": grid}).run_ids
    assert not set(changed) & set(ids)


def test_random_draws_are_reproducible_in_range_and_crossed_with_the_grid():
    params = {"hp.actor_lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
              "hp.tau": {"distribution": "uniform", "min": 0.001, "max": 0.01},
              "hp.batch_size": {"distribution": "int", "min": 16, "max": 18},
              "hp.hidden": [[16], [32, 32]]}
    spec = {**BASE, "hp": {}, "random": {"count": 20, "seed": 3, "params": params}}
    s = parse_sweep(spec)
    assert len(s.runs) + s.duplicates == 2 * 20  # each draw on each dataset
    draws = [hp_of(c) for c in s.runs if c.dataset == BASE["datasets"][0]]
    assert len(draws) == 20
    assert all(1e-4 <= d["actor_lr"] <= 1e-2 and 0.001 <= d["tau"] <= 0.01 for d in draws)
    assert {d["batch_size"] for d in draws} == {16, 17, 18}  # int bounds are inclusive
    assert {d["hidden"] for d in draws} == {(16,), (32, 32)}
    logs = [math.log10(d["actor_lr"]) for d in draws]
    assert min(logs) < -3 < max(logs)  # log-uniform: both decades drawn
    # the draws are the same for every dataset, and the same file draws the same values
    other = [hp_of(c) for c in s.runs if c.dataset == BASE["datasets"][1]]
    assert other == draws and parse_sweep(spec).run_ids == s.run_ids
    reseeded = parse_sweep({**spec, "random": {"count": 20, "seed": 4, "params": params}})
    assert [hp_of(c)["actor_lr"] for c in reseeded.runs][:20] != [d["actor_lr"] for d in draws]
    # floats keep 6 significant digits, so name=value and the record say the same number
    assert all(float(f"{d['tau']:.6g}") == d["tau"] for d in draws)


def test_algorithms_and_trainer_fields_are_searchable():
    without_algo = {k: v for k, v in BASE.items() if k != "algo"}
    s = parse_sweep({**without_algo, "grid": {"algo": ["bc", "td3bc"], "train.normalize_obs": [True, False]}})
    assert len(s.runs) == 2 * 2 * 2
    assert {(c.algo, c.normalize_obs) for c in s.runs} == {(a, n) for a in ("bc", "td3bc") for n in (True, False)}
    assert {c.run_id.split("-")[0] for c in s.runs} == {"bc", "td3bc"}


def test_variants_are_settings_that_go_together_crossed_with_the_grid():
    without_algo = {k: v for k, v in BASE.items() if k != "algo"}
    variants = [{"algo": "bc"}, {"algo": "td3bc", "hp.alpha": 1.0}, {"algo": "td3bc", "hp": {"alpha": 4.0}}]
    s = parse_sweep({**without_algo, "grid": {"train.normalize_obs": [True, False]}, "variants": variants})
    assert len(s.runs) == 2 * 2 * 3 and s.duplicates == 0  # datasets x grid x variants
    got = {(c.dataset, c.normalize_obs, c.algo, hp_of(c).get("alpha")) for c in s.runs}
    assert got == {(d, n, a, alpha) for d in BASE["datasets"] for n in (True, False)
                   for a, alpha in [("bc", None), ("td3bc", 1.0), ("td3bc", 4.0)]}
    assert s.searched == ["dataset", "train.normalize_obs", "algo", "hp.alpha"]
    assert s.variants == [{"algo": "bc"}, {"algo": "td3bc", "hp.alpha": 1.0}, {"algo": "td3bc", "hp.alpha": 4.0}]
    # a variant that is already another variant's config runs once
    again = parse_sweep({**without_algo, "variants": [{"algo": "bc"}, {"algo": "bc"}]})
    assert len(again.runs) == 2 and again.duplicates == 2
    with pytest.raises(ConfigError, match="export one file per variant"):
        from offrl.sweep.wandb_export import export_wandb

        export_wandb(s)


@pytest.mark.parametrize("change, error, match", [
    ({"variants": []}, ConfigError, "variants is a non-empty list of mappings"),
    ({"variants": [{}]}, ConfigError, r"variants\[0\]: each variant is a non-empty mapping"),
    ({"variants": [{"hp.alpah": 1.0}]}, ConfigError, r"run 1: .*hp.alpah=1\): td3bc: .*did you mean 'alpha'"),
    ({"variants": [{"hp.alpha": -1.0}]}, ConfigError, r"run 1: dataset=local/hopper-medium-v0, hp.alpha=-1\)"),
    ({"variants": [{"hp.alpha": 1.0}], "grid": {"hp.alpha": [2.0]}}, ConfigError,
     r"\['hp.alpha'\] in both variants and grid"),
    ({"variants": [{"dataset": "local/hopper-medium-v0"}]}, ConfigError, "listed by its plural key and searched again"),
    ({"algo": "bcc"}, UnknownIdError, r"^sweep \(run 1: dataset=local/hopper-medium-v0\): unknown algorithm 'bcc'.*'bc'"),
    ({"hp": {"batch_size": 0}}, ConfigError, "batch_size"),
    ({"train": {"chunkk": 500}}, ConfigError, "did you mean 'chunk'"),
    ({"train": {"steps": "100k"}}, ConfigError, "steps='100k': expected int"),
    ({"grid": {"hp.alpah": [1.0]}}, ConfigError, "did you mean 'alpha'"),
    ({"grid": {"hp.alpha": [1.0, -1.0]}}, ConfigError, r"run \d+: dataset=local/hopper-medium-v0, hp.alpha=-1\)"),
    ({"grid": {"hp.alpha": ["x"]}}, ConfigError, "cannot parse 'x' as float"),
    ({"datasets": ["d4rl/hoper-medium-v2"]}, UnknownIdError, r"\(run 1: dataset=d4rl/hoper-medium-v2\): .*d4rl/hopper-medium-v2"),
    ({"grid": {"seeds": [[0], [1]]}}, ConfigError, "vmapped"),
    ({"grid": {"dataset": ["local/hopper-medium-v0"]}}, ConfigError, "listed by its plural key and searched again"),
    ({"grid": {"hp.alpha": []}}, ConfigError, "non-empty list"),
    ({"random": {"count": 2, "params": {"hp.alpha": {"distribution": "gauss", "min": 0, "max": 1}}}},
     ConfigError, "unknown distribution 'gauss'"),
    ({"random": {"count": 2, "params": {"hp.alpha": {"distribution": "log_uniform", "min": 0, "max": 1}}}},
     ConfigError, "min > 0"),
    ({"random": {"count": 0, "params": {"hp.alpha": [1.0]}}}, ConfigError, "count must be a positive integer"),
    ({"grids": {}}, ConfigError, "did you mean 'grid'"),
    ({"seeds": [0, 0]}, ConfigError, "duplicates"),
    ({"kind": "continuous"}, UnknownIdError, "sweep run kind 'continuous'"),
])
def test_bad_files_fail_before_anything_runs(change, error, match):
    with pytest.raises(error, match=match):
        parse_sweep({**BASE, **change})


def test_a_file_missing_its_keys_says_which(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"needs the keys \['name', 'algo', 'dataset', 'seeds'\]"):
        load_sweep(f)
    f.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read sweep"):
        load_sweep(f)


def test_the_published_sweep_files_stay_valid():
    files = sorted((REPO / "sweeps").glob("*.yaml"))
    assert {f.stem for f in files} >= {"dt_corl", "dt_paper", "dt_local_dt", "dt_local_modt", "td3bc_alpha"}
    for f in files:
        spec = yaml.safe_load(f.read_text())
        s = load_sweep(f)
        if spec.get("kind") == "continual":  # streams x methods: checked by tests/continual
            assert len(set(s.run_ids)) == len(s.runs) > 1
            continue
        grid = spec.get("grid", {})
        assert len(s.runs) == len(spec["datasets"]) * math.prod(len(v) for v in grid.values())
        assert [c.dataset for c in s.runs][::len(s.runs) // len(spec["datasets"])] == spec["datasets"]
        assert all(c.seeds == tuple(spec["seeds"]) and c.algo == spec["algo"] for c in s.runs)
        assert len(set(s.run_ids)) == len(s.runs)
        if grid:
            continue
        algo = algos.get(spec["algo"])
        want = algo.make_config(**{k: tuple(v) if isinstance(v, list) else v for k, v in (spec.get("hp") or {}).items()})
        assert s.algo_config == want and all(algo.make_config(**hp_of(c)) == want for c in s.runs)
    alpha = load_sweep(REPO / "sweeps" / "td3bc_alpha.yaml")
    assert len(alpha.runs) == 16 and {hp_of(c)["alpha"] for c in alpha.runs} == {1.0, 2.0, 2.5, 4.0}


def test_plan_shows_states_missing_data_and_where_the_estimate_comes_from(tmp_path, capsys):
    toy_data()
    f = tmp_path / "plan.yaml"
    f.write_text(yaml.safe_dump({
        "name": "plan", "algo": "bc", "datasets": ["local/toy-a-v0", "d4rl/hopper-medium-v2"], "seeds": [0, 1],
        "train": {"steps": 1000, "eval_every": 100, "chunk": 100, "wandb": False}, "grid": {"hp.lr": [0.001, 0.002]}}))
    res = tmp_path / "res"
    s = load_sweep(f, results_dir=res)
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    fresh = capsys.readouterr().out
    assert "4 runs, one after another in one process, each training its 2 seeds at once" in fresh
    assert "4 pending" in fresh
    assert "bc: 113,391 seed-steps/s, H100, 5 seeds, float32 (benchmarks/notes/2026-11-throughput.md, 4e)" in fresh
    assert ("on one accelerator, the runs one after another; training alone (recorded rates), compilation and "
            "evaluation not included") in fresh
    assert not res.exists()  # planning creates nothing

    done, partial, running, missing = s.runs
    (res / done.run_id).mkdir(parents=True)
    (res / done.run_id / "final.json").write_text(json.dumps({"wall_time_s": 4.0, "steps": 1000, "seeds": [0, 1]}))
    (res / partial.run_id / "checkpoints" / "400").mkdir(parents=True)
    with RunLock(res / running.run_id):
        assert main(["sweep", str(f), "--results-dir", str(res), "--dry-run"]) == 0
    out = capsys.readouterr().out
    rows = {c.run_id: next(line for line in out.splitlines() if c.run_id in line) for c in s.runs}
    assert "finished" in rows[done.run_id] and "0.001" in rows[done.run_id]
    assert "partial, resumes at step 400" in rows[partial.run_id] and "2 s" in rows[partial.run_id]
    assert f"running (pid {os.getpid()})" in rows[running.run_id]
    assert "pending, DATA MISSING" in rows[missing.run_id] and "4 s" in rows[missing.run_id]
    assert "1 finished, 1 running, 1 partial, 1 pending" in out
    # the finished run's own record beats the table: 2 seeds x 1000 steps in 4 s
    assert "bc: 500 seed-steps/s, measured: 1 finished run of this sweep" in out
    assert "measured rates include compilation and evaluation, recorded ones are training alone" in out
    hdf5 = Path(os.environ["OFFRL_DATA_DIR"]) / "d4rl" / "hopper_medium-v2.hdf5"
    assert (f"d4rl/hopper-medium-v2: missing {hdf5}; get it with `offrl datasets download d4rl/hopper-medium-v2`"
            in out)
    assert "WARNING: data missing for 1 run(s)" in out and "Traceback" not in out
    assert not (res / missing.run_id).exists()


def test_estimates_follow_the_batch_size_and_pool_continual_runs_by_method():
    """The recorded rates were measured at batch 256 (DT: 64): a run at batch 1024 is estimated at a
    quarter of the rate, and says so; continual runs are pooled by method, base learner and batch (a
    finished ER run says nothing of OER's speed), their steps being steps per task x tasks."""
    from offrl.continual.trainer import ContinualConfig
    from offrl.sweep.kinds import get_kind
    from offrl.sweep.plan import RECORDED_SEED_STEPS_PER_S, Work, as_work, recorded_rate
    from offrl.train import TrainConfig

    train = as_work(get_kind("train").work(TrainConfig(algo="td3bc", dataset="local/x-v0", hp=("batch_size=1024",))))
    assert train == Work("td3bc, batch 1024", 1_000_000, "td3bc", 1024)
    rate, source = recorded_rate(train)
    assert rate == RECORDED_SEED_STEPS_PER_S["td3bc"][0] / 4 and source.endswith("at batch 256: x 256/1024 for batch 1024")
    default = as_work(get_kind("train").work(TrainConfig(algo="td3bc", dataset="local/x-v0")))
    assert default.key == "td3bc" and recorded_rate(default) == RECORDED_SEED_STEPS_PER_S["td3bc"]
    dt = as_work(get_kind("train").work(TrainConfig(algo="dt", dataset="local/x-v0")))
    assert dt.key == "dt" and dt.batch == 64 and recorded_rate(dt) == RECORDED_SEED_STEPS_PER_S["dt"]
    er = as_work(get_kind("continual").work(ContinualConfig(stream="pendulum-gain", method="er", steps_per_task=500,
                                                                eval_every=100, chunk=100)))
    assert er == Work("er (td3bc), batch 1024", 1500, "td3bc", 1024)
    assert as_work(("bc", 10)) == Work("bc", 10, "bc")  # a kind that gives a plain pair


def test_a_smaller_batch_than_the_recorded_one_is_not_estimated_faster(tmp_path, capsys):
    """The recorded rates were measured at batch 256 (DT: 64): a run at batch 32 keeps that rate instead
    of 8 times it (its steps are bound by launching kernels, no faster per step), so the estimate stays
    an upper one, and the plan's rate line says it was not scaled."""
    from offrl.sweep.plan import RECORDED_SEED_STEPS_PER_S, Work, recorded_rate

    rate, source = recorded_rate(Work("td3bc, batch 32", 1000, "td3bc", 32))
    assert rate == RECORDED_SEED_STEPS_PER_S["td3bc"][0]
    assert source.endswith("at batch 256: not scaled up for batch 32 (assumed no faster per step)")
    assert recorded_rate(Work("dt, batch 16", 1000, "dt", 16))[0] == RECORDED_SEED_STEPS_PER_S["dt"][0]
    f = tmp_path / "small.yaml"
    f.write_text(yaml.safe_dump({**BASE, "algo": "bc", "datasets": ["local/hopper-medium-v0"], "seeds": [0, 1],
                                 "train": {"steps": 113_391, "eval_every": 113_391}, "hp": {"batch_size": 32}}))
    assert main(["sweep", "plan", str(f), "--results-dir", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    # 2 seeds x 113,391 steps at bc's 113,391 seed-steps/s: 2 s, not a quarter of a second
    assert "bc, batch 32: 113,391 seed-steps/s" in out and "not scaled up for batch 32" in out
    assert "estimated time left: 2 s on one accelerator" in out


def test_a_finished_continual_run_gives_its_method_a_measured_rate(tmp_path):
    """final.json of a continual run has no "steps" (it has steps per task): the rate comes from the
    run's work, and applies to runs of the same method only."""
    from offrl.sweep.plan import estimate, measured_rates, run_states

    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"name": "c", "kind": "continual", "stream": "pendulum-gain", "seeds": [0, 1],
                                 "continual": {"steps_per_task": 500, "eval_every": 100, "chunk": 100, "batch_size": 64},
                                 "grid": {"method": ["er", "finetune"]}}))
    s = load_sweep(f, results_dir=tmp_path / "res")
    er, finetune = s.runs
    (tmp_path / "res" / er.run_id).mkdir(parents=True)
    (tmp_path / "res" / er.run_id / "final.json").write_text(json.dumps({"kind": "continual", "wall_time_s": 3.0,
                                                                        "seeds": [0, 1], "steps_per_task": 500}))
    states = run_states(s)
    # 2 seeds x (3 tasks x 500 steps) in 3 s; a run older than final.json's "machine" is said to be so
    assert measured_rates(s, states) == {"er (td3bc), batch 64": (1000.0, "measured: 1 finished run of this sweep "
                                                                          "(machine not recorded)")}
    seconds, used = estimate(s, states)
    assert seconds[0] == 0.0 and set(used) == {"finetune (td3bc), batch 64"}  # no finished run of its own
    # recorded at batch 256: batch 64 keeps that rate (no faster per step), never 4 times it
    assert used["finetune (td3bc), batch 64"][1].endswith("at batch 256: not scaled up for batch 64 (assumed no "
                                                          "faster per step)")
    # the rate names the machines its runs were trained on, wherever the folders were copied from
    (tmp_path / "res" / finetune.run_id).mkdir(parents=True)
    for run, wall, machine in ((er, 3.0, "1x NVIDIA H200"), (finetune, 1.5, "CPU: AMD EPYC, 2 cores")):
        (tmp_path / "res" / run.run_id / "final.json").write_text(json.dumps(
            {"kind": "continual", "wall_time_s": wall, "seeds": [0, 1], "steps_per_task": 500, "machine": machine}))
    assert measured_rates(s, run_states(s)) == {
        "er (td3bc), batch 64": (1000.0, "measured: 1 finished run of this sweep (1x NVIDIA H200)"),
        "finetune (td3bc), batch 64": (2000.0, "measured: 1 finished run of this sweep (CPU: AMD EPYC, 2 cores)")}


def test_a_run_that_shared_its_gpu_counts_its_share_of_the_time(tmp_path):
    """Estimates are for runs one after another: a run measured while it shared its GPU with another
    counts its wall time times its share of the GPU (device_share.json), so its rate is not halved."""
    from offrl.sweep.plan import estimate, measured_rates, record_device_share, run_states

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**BASE, "algo": "bc", "datasets": ["local/toy-a-v0", "local/toy-b-v0"],
                                 "seeds": [0, 1], "train": {"steps": 1000, "eval_every": 1000}}))
    s = load_sweep(f, results_dir=tmp_path / "res")
    folder = tmp_path / "res" / s.runs[0].run_id
    folder.mkdir(parents=True)
    (folder / "final.json").write_text(json.dumps({"wall_time_s": 4.0, "seeds": [0, 1], "steps": 1000,
                                                  "machine": "1x NVIDIA H100"}))
    assert measured_rates(s, run_states(s)) == {"bc, batch 64": (500.0, "measured: 1 finished run of this "
                                                                        "sweep (1x NVIDIA H100)")}
    # it ran two at once all along: half the GPU, so 2,000 seed-steps in 2 s of the GPU's time
    record_device_share(folder, gpu="0", runs_per_gpu=2, attempt=1, wall_s=4.1, alone_s=2.05)
    states = run_states(s)
    assert states[0].device_share == 0.5
    assert measured_rates(s, states) == {"bc, batch 64": (1000.0, "measured: 1 finished run of this sweep "
                                                                  "(1x NVIDIA H100); 1 of them shared the GPU, "
                                                                  "counted by their share of it")}
    seconds, _ = estimate(s, states)
    assert seconds == [0.0, 2.0]
    # nothing to record from a run the launcher never saw running
    record_device_share(folder, gpu="0", runs_per_gpu=2, attempt=2, wall_s=0.0, alone_s=0.0)
    assert run_states(s)[0].device_share == 0.5


def test_set_changes_a_sweep_file_for_one_command(tmp_path, capsys):
    """--set KEY.PATH=VALUE (VALUE as YAML): a section's field, a top-level key, a search axis written
    flat or nested; the same config as a file that says so (same run ids); bad forms named."""
    from offrl.sweep.spec import apply_overrides

    spec = {"name": "s", "algo": "bc", "dataset": "local/toy-a-v0", "seeds": [0], "train": {"steps": 1000},
            "grid": {"hp.lr": [0.001, 0.002]}}
    out = apply_overrides(spec, ["train.steps=200", "seeds=[0, 1]", "grid.hp.lr=[0.01]", "hp.batch_size=64",
                                 "train.eval_every=100", "train.chunk=100"])
    assert out == {**spec, "seeds": [0, 1], "train": {"steps": 200, "eval_every": 100, "chunk": 100},
                   "grid": {"hp.lr": [0.01]}, "hp": {"batch_size": 64}}
    assert spec["train"] == {"steps": 1000} and spec["grid"] == {"hp.lr": [0.001, 0.002]}  # the input is not changed
    assert apply_overrides({"name": "s", "grid": {"hp": {"lr": [1]}}}, ["grid.hp.lr=[2]"])["grid"] == {"hp": {"lr": [2]}}
    for bad, said in [("train.steps", "write KEY=VALUE"), ("=3", "write KEY=VALUE"), ("train..steps=3", "KEY=VALUE"),
                      ("seeds.first=3", "'seeds' in sweep is '0', not a section"), ("train.steps=[1", "not YAML")]:
        with pytest.raises(ConfigError, match=said):
            apply_overrides(spec, [bad])

    toy_data()
    f, same = tmp_path / "s.yaml", tmp_path / "same.yaml"
    f.write_text(yaml.safe_dump(spec))
    same.write_text(yaml.safe_dump(out))
    sets = ["--set", "train.steps=200", "seeds=[0, 1]", "grid.hp.lr=[0.01]", "hp.batch_size=64",
            "train.eval_every=100", "train.chunk=100"]
    assert main(["sweep", "plan", str(f), *sets]) == 0
    planned = capsys.readouterr().out
    assert [c.run_id for c in load_sweep(same).runs] == [c.run_id for c in load_sweep(f, overrides=sets[1:]).runs]
    assert load_sweep(same).runs[0].run_id in planned and "1 run, in one process, each training its 2 seeds" in planned
    # a misspelt field is caught as in a file, and the message says the setting came from --set
    assert main(["sweep", "plan", str(f), "--set", "train.stesp=3"]) == 1
    err = capsys.readouterr().err
    assert "with train.stesp=3" in err and "did you mean 'steps'" in err
    # the published files: the full-budget continual comparison at 30k steps per task is the 30k file
    full = load_sweep(REPO / "sweeps" / "continual_baselines.yaml", overrides=["continual.steps_per_task=30000"])
    assert [c.run_id for c in full.runs] == [c.run_id for c in load_sweep(REPO / "sweeps" / "continual_baselines_30k.yaml").runs]
    # and the claims' subset is made of the OER comparison's runs at 30k (a run finished there is finished here)
    sets = ["continual.steps_per_task=30000", "streams=[cheetah-vel,ant-dir]"]
    theirs = {i for name in ("continual_oer", "continual_replay")
              for i in load_sweep(REPO / "sweeps" / f"{name}.yaml", overrides=sets).run_ids}
    claims = load_sweep(REPO / "sweeps" / "continual_oer_claims_30k.yaml").run_ids
    assert len(claims) == 36 and set(claims) <= theirs


def test_exponent_numbers_without_a_dot_are_numbers_in_files_and_set(tmp_path):
    """`3e-4` (the learning rate as everyone writes it) is 0.0003 in a sweep file, a grid, a random
    distribution's bounds and --set, as YAML 1.2 and Python read it: the run is the one written `0.0003`."""
    from offrl import yamlfile

    assert yamlfile.load("a: [3e-4, 1E6, -2e+3, 1_0e1, 3.0e-4, abc3e4, 3e4x, '3e-4']") == {
        "a": [0.0003, 1e6, -2000.0, 100.0, 0.0003, "abc3e4", "3e4x", "3e-4"]}
    assert yaml.safe_load("a: 3e-4") == {"a": "3e-4"}  # PyYAML's own loader is left as it was
    toy_data()
    written = tmp_path / "written.yaml"
    written.write_text("name: s\nalgo: td3bc\ndataset: local/toy-a-v0\nseeds: [0]\ntrain: {steps: 1000}\n"
                       "hp: {actor_lr: 3e-4}\ngrid: {hp.critic_lr: [1e-4, 3e-4]}\n"
                       "random: {count: 2, params: {hp.tau: {distribution: log_uniform, min: 1e-3, max: 1e-2}}}\n")
    dotted = tmp_path / "dotted.yaml"
    dotted.write_text(written.read_text().replace("3e-4", "0.0003").replace("1e-4", "0.0001")
                      .replace("1e-3", "0.001").replace("1e-2", "0.01"))
    assert load_sweep(written).run_ids == load_sweep(dotted).run_ids
    assert hp_of(load_sweep(written).runs[0])["actor_lr"] == pytest.approx(3e-4)
    assert (load_sweep(written, overrides=["hp.actor_lr=5e-4"]).run_ids
            == load_sweep(dotted, overrides=["hp.actor_lr=0.0005"]).run_ids)


def test_a_records_only_field_keeps_the_run_ids(tmp_path):
    """continual.eval_learner adds the learner's evaluations to a run's records, not to what it trains: the
    run kind leaves it out of the id."""
    toy_data()
    f = REPO / "sweeps" / "continual_oer.yaml"
    sets = ("continual.steps_per_task=30000", "streams=[cheetah-vel]", "qualities=[medium]")
    plain = load_sweep(f, overrides=(*sets, "variants=[{method: oer}]"))
    more = load_sweep(f, overrides=(*sets, "variants=[{method: oer, continual.eval_learner: true}]"))
    assert more.run_ids == plain.run_ids and more.runs[0].eval_learner
    assert load_sweep(f, overrides=(*sets, "continual.eval_every=5000")).run_ids != load_sweep(f, overrides=sets).run_ids
    # a method that deploys its learner has nothing more to evaluate: refused before anything runs
    with pytest.raises(ConfigError, match="deploys its learner"):
        load_sweep(f, overrides=(*sets, "continual.eval_learner=true"))


def test_eval_workers_for_a_whole_sweep_keep_its_run_ids(tmp_path):
    toy_data()
    s = load_sweep(REPO / "sweeps" / "continual_baselines_30k.yaml")
    more = s.with_eval_workers(12)
    assert more.run_ids == s.run_ids and {c.eval_workers for c in more.runs} == {12}
    assert {c.eval_workers for c in s.runs} == {4} and s.with_eval_workers(None) is s
    with pytest.raises(ConfigError, match="a number of processes"):
        s.with_eval_workers(-1)


def test_sweep_plan_marks_finished_runs_of_other_code(tmp_path, capsys):
    toy_data()
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"name": "s", "algo": "bc", "datasets": ["local/toy-a-v0"], "seeds": [0],
                                 "train": {"steps": 100, "eval_every": 50, "chunk": 50},
                                 "grid": {"hp.lr": [0.001, 0.002, 0.003]}}))
    res = tmp_path / "res"
    runs = load_sweep(f, results_dir=res).runs
    for config, stamp in zip(runs, ({"source": source_digest()}, {"source": "bbbbbbbbbbbb"}, None)):
        (res / config.run_id).mkdir(parents=True)
        (res / config.run_id / "final.json").write_text(json.dumps({"wall_time_s": 1.0, "steps": 100, "seeds": [0]}))
        (res / config.run_id / "config.json").write_text(json.dumps({"code": stamp} if stamp else {}))
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    rows = {c.run_id: next(line for line in out.splitlines() if c.run_id in line) for c in runs}
    assert "finished, other code" in rows[runs[1].run_id]
    assert "other code" not in rows[runs[0].run_id] and "other code" not in rows[runs[2].run_id]  # same; unknown
    assert (f"1 finished run(s) were trained by other code than this package's (source {source_digest()})"
            in out)
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0  # the sweep keeps them and says so
    out = capsys.readouterr().out
    assert "3 already finished" in out and "1 finished run(s) were trained by other code" in out


def test_one_run_has_one_id_however_the_file_writes_it(tmp_path):
    """A run id digests what the run computes: a default written out, 1 for 1.0, or a setting that only says
    how a run computes or records (evaluation workers, checkpoints, wandb, concurrent kernels) is the same
    run, found again after the file is edited; a value that changes the run is another id."""
    toy_data()
    base = {**BASE, "datasets": ["local/hopper-medium-v0"]}
    ids = parse_sweep(base, results_dir=tmp_path).run_ids
    default_alpha = algos.get("td3bc").make_config().alpha
    same = [{**base, "hp": {"batch_size": 64, "alpha": default_alpha}},
            {**base, "train": {**base["train"], "eval_workers": 4, "checkpoint": False, "wandb": False,
                               "concurrent_kernels": False, "overlap_eval": True}}]
    for spec in same:
        assert parse_sweep(spec, results_dir=tmp_path).run_ids == ids, spec
    assert default_alpha != 2
    two = [parse_sweep({**base, "hp": {"batch_size": 64, "alpha": a}}, results_dir=tmp_path).run_ids for a in (2, 2.0)]
    assert two[0] == two[1] != ids
    for spec in [{**base, "hp": {"batch_size": 64, "alpha": default_alpha + 1}},
                 {**base, "train": {**base["train"], "eval_episodes": 5}}]:
        assert parse_sweep(spec, results_dir=tmp_path).run_ids != ids, spec
    # continual: the same for the base learner's and the method's options and the trainer's bookkeeping
    cont = {"name": "c", "kind": "continual", "stream": "pendulum-gain", "method": "er", "seeds": [0],
            "continual": {"steps_per_task": 200, "eval_every": 100, "chunk": 100}}
    cids = parse_sweep(cont, results_dir=tmp_path).run_ids
    er_buffer = 1000
    for spec in [{**cont, "continual": {**cont["continual"], "eval_workers": 4, "checkpoint": False}},
                 {**cont, "method_hp": {"buffer_size": er_buffer}}]:
        assert parse_sweep(spec, results_dir=tmp_path).run_ids == cids, spec
    assert parse_sweep({**cont, "method_hp": {"buffer_size": 500}}, results_dir=tmp_path).run_ids != cids


def test_runs_recorded_under_the_earlier_ids_are_found(tmp_path):
    """Run ids once digested a run's fields as the file wrote them: a folder recorded under such an id is the
    run's where no folder of its present id exists, so an unchanged file finds its finished runs (and the
    committed benchmark runs keep their folders); the present id is used otherwise."""
    from offrl.sweep.kinds import get_kind
    from offrl.sweep.spec import legacy_run_id_of

    toy_data()
    res = tmp_path / "res"
    f = REPO / "sweeps" / "continual_oer_claims_30k.yaml"
    sweep = load_sweep(f, results_dir=res, overrides=["qualities=[medium]", "streams=[cheetah-vel]"])
    kind = get_kind("continual")
    old = [legacy_run_id_of(kind, c) for c in sweep.runs]
    # the ids the runs of 2026-12-04 and 2026-12-05 were recorded under (benchmarks/h200, benchmarks/h100)
    assert {"oer-cheetah-vel-medium-c30688c8", "finetune-cheetah-vel-medium-b605c49a",
            "er-cheetah-vel-medium-83b2006c"} <= set(old)
    assert not set(old) & set(sweep.run_ids)
    (res / old[0]).mkdir(parents=True)
    (res / sweep.run_ids[1]).mkdir()
    (res / old[1]).mkdir()  # both forms present: the present id's folder wins
    again = load_sweep(f, results_dir=res, overrides=["qualities=[medium]", "streams=[cheetah-vel]"])
    assert again.run_ids[0] == old[0] and again.run_ids[1] == sweep.run_ids[1]
    assert again.run_ids[2:] == sweep.run_ids[2:]
    assert again.runs[0].run_id == old[0] and Path(again.runs[0].results_dir) == res.absolute()


def test_a_file_missing_its_keys_lists_every_optional_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nseeds: 2\nalgo: bc\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(f)
    assert "missing: dataset (or datasets: [...], or searched)" in str(e.value)
    assert "optional: description, kind, train, hp, grid, variants, random, wandb" in str(e.value)
    f.write_text("name: x\nkind: continual\nseeds: 2\nmethod: er\n")
    with pytest.raises(ConfigError, match=r"optional: description, kind, algo, quality or qualities, continual, hp, "
                                          r"method_hp, grid, variants, random, wandb"):
        load_sweep(f)


def test_select_runs_takes_names_without_prefix_only_where_they_name_one_dataset():
    """The one selection of `offrl sweep --datasets` and `offrl reproduce --algos/--datasets`."""
    import types

    from offrl.reproduce import targets
    from offrl.sweep import Sweep, get_kind
    from offrl.sweep.spec import select_runs

    assert targets.select_runs is select_runs  # reproduce uses the same implementation
    ids = ["d4rl/hopper-medium-v2", "local/hopper-medium-v2", "/data/mine/walker2d-x-v0"]
    runs = [types.SimpleNamespace(algo=a, dataset=d, run_id=f"{a}-{d}") for a in ("bc", "iql") for d in ids]
    sweep = Sweep("s", get_kind("train"), runs, [{} for _ in runs], Path("."))

    def chosen(**select):
        return [c.run_id for s in select_runs([sweep], **select) for c in s.runs]

    assert chosen(datasets=("walker2d-x-v0",)) == ["bc-/data/mine/walker2d-x-v0", "iql-/data/mine/walker2d-x-v0"]
    assert chosen(datasets=("mine/walker2d-x-v0",), algos=("iql",)) == ["iql-/data/mine/walker2d-x-v0"]
    # a full id is that dataset alone, not another source's of the same name
    assert chosen(datasets=("D4RL/hopper-medium-v2",), algos=("bc",)) == ["bc-d4rl/hopper-medium-v2"]
    with pytest.raises(ConfigError, match=r"'hopper-medium-v2' names several datasets of this target: "
                                          r"d4rl/hopper-medium-v2, local/hopper-medium-v2; give one of them in full"):
        chosen(datasets=("hopper-medium-v2",))
    with pytest.raises(ConfigError, match=r"not a dataset of sweep 's'; did you mean 'd4rl/hopper-medium-v2', "
                                          r"'local/hopper-medium-v2'\?"):
        sweep.select(("hopper-medum-v2",))
    with pytest.raises(UnknownIdError, match="unknown algorithm of this target 'td3bc'"):
        chosen(algos=("td3bc",))
    assert [c.dataset for c in sweep.select(("local/hopper-medium-v2",)).runs] == ["local/hopper-medium-v2"] * 2


@pytest.mark.parametrize("name, meant", [("hopper-meduim", "d4rl/hopper-medium-v2"),
                                        ("walker-medium", "d4rl/walker2d-medium-v2"),
                                        ("HOPER-MEDIUM", "d4rl/hopper-medium-v2")])
def test_a_misspelt_dataset_gets_close_matches_without_its_prefix_version_or_case(name, meant):
    """A name as `offrl collect` takes it (no source, no version), misspelt or in capitals, is compared with
    the sweep's ids in the same form: their versions would otherwise count against every close name."""
    import types

    from offrl.sweep import Sweep, get_kind

    ids = ["d4rl/hopper-medium-v2", "d4rl/walker2d-medium-v2", "d4rl/halfcheetah-medium-v2"]
    runs = [types.SimpleNamespace(algo="bc", dataset=d, run_id=f"bc-{d}") for d in ids]
    sweep = Sweep("tiny-grid", get_kind("train"), runs, [{} for _ in runs], Path("."))
    with pytest.raises(ConfigError) as e:
        sweep.select((name,))
    assert str(e.value).startswith(f"--datasets {name!r}: not a dataset of sweep 'tiny-grid'; did you mean {meant!r}? "
                                   "(its datasets: ")


def test_select_runs_takes_a_name_without_its_version_where_no_id_ends_so():
    """`offrl collect hopper-medium` names local/hopper-medium-v0 so; --datasets takes the same name, but
    never lets it stand for a longer name (hopper-medium is not hopper-medium-replay)."""
    import types

    from offrl.sweep import Sweep, get_kind
    from offrl.sweep.spec import select_runs

    ids = ["local/hopper-medium-v0", "local/hopper-medium-replay-v0", "local/walker2d-medium-v0"]
    runs = [types.SimpleNamespace(algo="bc", dataset=d, run_id=f"bc-{d}") for d in ids]
    sweep = Sweep("s", get_kind("train"), runs, [{} for _ in runs], Path("."))

    def chosen(*names):
        return [c.dataset for s in select_runs([sweep], datasets=names) for c in s.runs]

    assert chosen("hopper-medium") == ["local/hopper-medium-v0"]
    assert chosen("hopper-medium-replay", "LOCAL/walker2d-medium") == ["local/hopper-medium-replay-v0",
                                                                      "local/walker2d-medium-v0"]
    with pytest.raises(ConfigError, match="'hopper-med': not a dataset of this target"):
        chosen("hopper-med")


def test_the_plan_says_how_the_launcher_would_run_the_runs(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**BASE, "algo": "bc", "hp": {}}))
    plans = {}
    for options in [(), ("--parallel", "2", "--gpus", ""), ("--gpus", "0,1"), ("--parallel", "2", "--gpus", "3"),
                    ("--backend", "ray")]:
        assert main(["sweep", "plan", str(f), *options]) == 0
        plans[options] = capsys.readouterr().out.splitlines()[0]
    assert [p.split(": ", 1)[1].split(", each training")[0] for p in plans.values()] == [
        "2 runs, one after another in one process",
        "2 runs, each in a process of its own, 2 at a time on the CPU",
        "2 runs, each in a process of its own, 2 at a time (1 per GPU on GPUs 0, 1)",
        "2 runs, each in a process of its own, 2 at a time (2 per GPU on GPU 3)",
        "2 runs, each as a Ray task"]
    # --dry-run takes the launcher's options and refuses those that do not go together, as the run would
    assert main(["sweep", str(f), "--dry-run", "--gpu-fraction", "0.5"]) == 1
    assert "--gpu-fraction is an option of the ray backend" in capsys.readouterr().err


def _time_left_cells(plan: str, sweep) -> tuple[str, dict[str, str]]:
    """The plan's time-left column: its name and each run's cell (the table's last column)."""
    lines = plan.splitlines()
    head = next(line for line in lines if line.startswith("#  run id"))
    start = head.index("est. left")
    rows = {c.run_id: next(line for line in lines if c.run_id in line) for c in sweep.runs}
    return head[start:], {run_id: row[start:] for run_id, row in rows.items()}


def test_the_time_left_column_says_it_is_at_h100_rates_on_the_cpu_and_never_shows_0_s(tmp_path):
    """A tiny run at an H100 rate rounds to no time at all: on a machine whose JAX runs on the CPU the
    column says its estimates are H100 rates, and a run with work left never reads ``0 s``."""
    from offrl.sweep.plan import format_plan, run_states

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**BASE, "algo": "bc", "hp": {}}))  # 3 seeds x 1000 steps at 113,391/s: 0.03 s
    s = load_sweep(f, results_dir=tmp_path / "res")
    head, cells = _time_left_cells(format_plan(s, run_states(s), cpu=True), s)
    assert head == "est. left (H100 rate)" and set(cells.values()) == {"<1 s"}
    head, cells = _time_left_cells(format_plan(s, run_states(s), cpu=False), s)
    assert head == "est. left" and set(cells.values()) == {"<1 s"}


def test_on_the_cpu_only_the_cells_at_h100_rates_are_marked_beside_measured_ones(tmp_path):
    """bc has a measured rate (a finished run of this sweep), iql only the recorded H100 one: the column keeps
    its name and marks iql's cells, on the CPU only."""
    from offrl.sweep.plan import format_plan, run_states

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**{k: v for k, v in BASE.items() if k != "algo"}, "algos": ["bc", "iql"]}))
    s = load_sweep(f, results_dir=tmp_path / "res")
    by = {(c.algo, c.dataset): c.run_id for c in s.runs}
    done = tmp_path / "res" / by["bc", "local/hopper-medium-v0"]
    done.mkdir(parents=True)
    # 3 seeds x 1000 steps in 30 s: 100 seed-steps/s, so the other bc run has 30 s left
    (done / "final.json").write_text(json.dumps({"wall_time_s": 30.0, "steps": 1000, "seeds": [0, 1, 2]}))
    head, cells = _time_left_cells(format_plan(s, run_states(s), cpu=True), s)
    assert head.startswith("est. left") and "(H100 rate)" not in head
    assert cells[by["bc", "local/hopper-medium-v0"]].rstrip() == "-"
    assert cells[by["bc", "local/walker2d-medium-v0"]].rstrip() == "30 s"
    assert [cells[by["iql", d]].rstrip() for d in BASE["datasets"]] == ["<1 s (H100 rate)"] * 2
    _, cells = _time_left_cells(format_plan(s, run_states(s), cpu=False), s)
    assert [cells[by["iql", d]].rstrip() for d in BASE["datasets"]] == ["<1 s"] * 2


def test_an_estimate_from_h100_rates_says_when_jax_runs_on_the_cpu(tmp_path, monkeypatch, capsys):
    """Recorded rates are H100 rates: on a machine whose JAX runs on the CPU the plan says the estimate is
    far too short, told without starting a GPU backend (the plan stays quick)."""
    import sys
    import types

    import jax
    from jax._src import xla_bridge

    from offrl.sweep import plan
    from offrl.sweep.plan import format_plan, jax_runs_on_cpu, run_states

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**BASE, "algo": "bc", "hp": {}}))
    assert main(["sweep", "plan", str(f)]) == 0  # the tests run JAX on the CPU
    note = "recorded rates are H100 rates and this machine has no GPU (JAX runs on the CPU), so expect far longer"
    assert note in next(line for line in capsys.readouterr().out.splitlines() if line.startswith("estimated time"))
    s = load_sweep(f)
    assert note not in format_plan(s, run_states(s), cpu=False)

    def no_backend():
        raise AssertionError("the plan started a JAX backend")

    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: False)
    monkeypatch.setattr(jax, "default_backend", no_backend)
    assert jax_runs_on_cpu() is True  # JAX_PLATFORMS=cpu, read without starting anything
    monkeypatch.setattr(plan, "_jax_platforms", lambda: "cuda,cpu")
    assert jax_runs_on_cpu() is False
    monkeypatch.setattr(plan, "_jax_platforms", lambda: "")
    # no JAX_PLATFORMS: JAX's plugins decide (none here: the CPU; a CUDA one: whether a GPU is visible)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [])
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.setitem(sys.modules, "jax_plugins", None)
    assert jax_runs_on_cpu() is True
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda group: [types.SimpleNamespace(name="xla_cuda12")])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert jax_runs_on_cpu() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert jax_runs_on_cpu() is True
