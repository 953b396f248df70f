"""wandb: the exported sweep config passes wandb's sweep-config schema, `wandb agent`'s arguments give
`offrl train` exactly the sweep's runs, and offline runs record config, group, tags and metrics."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from sweeptools import metric_rows, read_wandb_offline, toy_data, write_sweep

import offrl.train
from offrl.cli import main
from offrl.errors import ConfigError
from offrl.sweep import load_sweep, run_sweep
from offrl.sweep.wandb_export import export_wandb

wandb = pytest.importorskip("wandb")
jsonschema = pytest.importorskip("jsonschema")
SCHEMA = Path(__file__).parent / "wandb_sweeps_schema" / "schema.json"

SEARCH = """
grid:
  hp.lr: [0.001, 0.0003]
random:
  count: 3
  seed: 5
  params:
    hp.hidden: [[16, 16], [32]]
    train.normalize_obs: [true, false]
"""
RANDOM = """
random:
  count: 4
  seed: 1
  params:
    hp.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}
    hp.batch_size: {distribution: int, min: 8, max: 32}
    hp.hidden: [[16, 16], [32]]
"""


@pytest.fixture(autouse=True)
def _fresh_wandb():
    """wandb keeps one settings object per process, read from the environment at its first use; each
    test starts and ends without it (as `wandb agent` does between runs)."""
    wandb.teardown()
    yield
    wandb.teardown()


def schema_violations(config: dict) -> list[str]:
    """What wandb's local controller checks (`sweeps.schema_violations_from_proposed_config`): the
    JSON schema with its float/integer formats, and min below max."""
    checker = jsonschema.FormatChecker()
    checker.checks("float")(lambda v: isinstance(v, float))
    checker.checks("integer")(lambda v: isinstance(v, int))
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()), format_checker=checker)
    errors = [e.message for e in validator.iter_errors(config)]
    errors += [f"{name}: min {p['min']} >= max {p['max']}" for name, p in config.get("parameters", {}).items()
               if "min" in p and "max" in p and not p["min"] < p["max"]]
    return errors


def agent_command(config: dict, values: dict) -> list[str]:
    """The command `wandb agent` runs for one set of parameter values: wandb's own helpers build the
    arguments, and the macros are filled in as `wandb.wandb_agent.Agent._command_run` does."""
    from wandb.sdk.launch.sweeps import utils

    sweep_vars = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    sweep_vars.update(interpreter=["python"], env=["/usr/bin/env"])
    out = []
    for part in utils.create_sweep_command(config["command"]):
        out += sweep_vars[part[2:-1]] if part.startswith("${") and part.endswith("}") else [part]
    return out


@pytest.mark.parametrize("search, method", [(SEARCH, None), (SEARCH, "bayes"), (RANDOM, None), (RANDOM, "bayes"),
                                            ("grid: {hp.lr: [0.001, 0.0003]}", None)])
def test_exported_configs_pass_wandbs_sweep_schema(tmp_path, search, method):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", extra=search)
    assert main(["sweep", "export-wandb", str(f), "--out", str(tmp_path / "w.yaml")]
                + (["--method", method] if method else [])) == 0
    config = yaml.safe_load((tmp_path / "w.yaml").read_text())
    assert schema_violations(config) == []
    from wandb.apis.public.sweeps import _validate_config_and_fill_distribution

    _validate_config_and_fill_distribution(config)  # what `wandb sweep` checks before uploading
    sweep = load_sweep(f)
    assert config["method"] == method or (method is None and config["method"] == ("random" if sweep.random else "grid"))
    assert config["command"][:5] == ["${env}", "${interpreter}", "-m", "offrl.cli", "train"]
    assert config["command"][-1] == "${args}" and config["metric"] == {"name": "eval/normalized_score",
                                                                      "goal": "maximize"}
    assert set(config["parameters"]) >= {"dataset", "algo"}
    if config["method"] != "grid":
        assert config["run_cap"] == len(sweep.runs)
    # a broken config is caught by the same check
    assert schema_violations({**config, "method": "annealing"})


def test_grid_export_refuses_continuous_distributions(tmp_path):
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", extra=RANDOM))
    with pytest.raises(ConfigError, match="grid method needs lists of values"):
        export_wandb(sweep, method="grid")


def test_agent_arguments_give_offrl_train_the_sweeps_own_runs(tmp_path, monkeypatch):
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", extra=SEARCH))
    config = export_wandb(sweep)
    names = {"train.normalize_obs": "normalize_obs"}
    parsed = []
    monkeypatch.setattr(offrl.train, "train", lambda tc, **kw: parsed.append(tc) or {"run_id": "x"})
    for run, params in zip(sweep.runs, sweep.params):
        values = {names.get(k, k): v for k, v in params.items()} | {"algo": "bc"}
        cmd = agent_command(config, values)
        assert cmd[:5] == ["/usr/bin/env", "python", "-m", "offrl.cli", "train"]
        assert main(cmd[4:]) == 0  # `offrl train <args>`, the way the agent's command calls it
        tc = parsed[-1]
        same = dataclasses.replace(tc, hp=tuple(sorted(tc.hp)), run_id=run.run_id, results_dir=run.results_dir,
                                   progress=run.progress, wandb_group=run.wandb_group, wandb_tags=run.wandb_tags)
        assert same == run, (cmd, tc)
    assert len(parsed) == len(sweep.runs) == 2 * 2 * 3 - sweep.duplicates


def test_an_agent_run_is_one_wandb_run_with_seed_means(tmp_path, monkeypatch):
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100, extra="grid: {hp.lr: [0.001]}"))
    config = export_wandb(sweep)
    cmd = agent_command(config, {"dataset": "local/toy-a-v0", "hp.lr": 0.001, "algo": "bc"})
    cmd = [("True" if c == "False" and cmd[i - 1] == "--wandb" else c) for i, c in enumerate(cmd)]  # log to wandb
    wandb_dir = tmp_path / "wandb-dir"
    wandb_dir.mkdir()
    for k, v in {"WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir), "WANDB_SWEEP_ID": "abc123",
                 "WANDB_RUN_ID": "agent-run-1", "OFFRL_RESULTS_DIR": str(tmp_path / "res")}.items():
        monkeypatch.setenv(k, v)
    assert main(cmd[4:]) == 0
    (run_dir,) = (wandb_dir / "wandb").glob("offline-run-*")
    rec = read_wandb_offline(run_dir)
    assert rec["run"].run_id == "agent-run-1"  # the agent's run, not one per seed
    assert rec["config"]["algo"] == "bc" and rec["config"]["seeds"] == [0, 1]
    (res,) = (tmp_path / "res").iterdir()
    rows = [json.loads(x) for x in (res / "metrics.jsonl").read_text().splitlines()]
    for step in (50, 100):
        h = next(h for h in rec["history"] if h.get("_step") == step)
        per_seed = {r["seed"]: r["actor/bc_loss"] for r in rows if r["step"] == step}
        assert h["seed0/actor/bc_loss"] == pytest.approx(per_seed[0])
        assert h["seed1/actor/bc_loss"] == pytest.approx(per_seed[1])
        assert h["actor/bc_loss"] == pytest.approx((per_seed[0] + per_seed[1]) / 2)  # the sweep's objective


def test_sweep_runs_log_one_wandb_run_per_seed_grouped_by_sweep_and_config(tmp_path, monkeypatch):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=100, extra="wandb: {project: offrl-tests, tags: [ablation]}\n")
    f.write_text(f.read_text().replace("wandb: false, ", ""))
    wandb_dir = tmp_path / "wandb-dir"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    sweep = load_sweep(f, results_dir=tmp_path / "res")
    results = run_sweep(sweep)
    assert all("error" not in r for r in results.values())
    records = [read_wandb_offline(d) for d in (wandb_dir / "wandb").glob("offline-run-*")]
    offline = {rec["run"].run_id: rec for rec in records}
    assert len(offline) == len(sweep.runs) * 2  # one per seed
    for config in sweep.runs:
        rows = [json.loads(x) for x in (tmp_path / "res" / config.run_id / "metrics.jsonl").read_text().splitlines()]
        assert set(metric_rows(tmp_path / "res" / config.run_id).values()) == {1}
        for seed in (0, 1):
            rec = offline[f"{config.run_id}-seed{seed}"]
            assert rec["run"].run_group == f"tiny/{config.run_id}"  # grouped by sweep and config
            assert set(rec["run"].tags) == {"tiny", "ablation"} and rec["run"].project == "offrl-tests"
            assert rec["config"]["seed"] == seed and rec["config"]["dataset"] == config.dataset
            assert rec["config"]["train_config"]["hp"] == list(config.hp)
            # the metrics are the JSONL record's (which stays the source of truth)
            for row in (r for r in rows if r["seed"] == seed):
                h = next(h for h in rec["history"] if h.get("_step") == row["step"])
                assert h["actor/bc_loss"] == pytest.approx(row["actor/bc_loss"])
