"""RunLogger: JSONL records, atomic config/final files, resume, and wandb offline/disabled modes."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from offrl.errors import ConfigError, OffrlError
from offrl.logging import RunLogger, config_group, wandb_mode

CONFIG = {"algo": "td3bc", "dataset": "d4rl/hopper-medium-v2", "algo_config": {"alpha": 2.5}, "train_config": {}}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_jsonl_one_line_per_seed_with_nan_as_null(tmp_path):
    run = tmp_path / "run1"
    with RunLogger(run, CONFIG, [0, 1, 2]) as log:
        assert log.wandb_mode == "disabled"  # tests/conftest.py sets WANDB_MODE=disabled
        log.write_config()
        log.log(10, {"critic/loss": np.array([1.0, np.nan, 3.0]), "lr": 3e-4, "count": np.array([1, 2, 3])})
        log.log(20, {"return_mean": [10.0, 20.0, 30.0], "normalized_score": np.float32(5.0), "episodes": 10}, kind="eval")
        lines = _lines(run / "metrics.jsonl")  # flushed: readable before close
    assert len(lines) == 6
    assert [(r["kind"], r["step"], r["seed"]) for r in lines[:3]] == [("train", 10, s) for s in (0, 1, 2)]
    assert [r["critic/loss"] for r in lines[:3]] == [1.0, None, 3.0]
    assert [r["lr"] for r in lines[:3]] == [3e-4] * 3
    assert [r["count"] for r in lines[:3]] == [1, 2, 3]
    assert lines[3]["kind"] == "eval" and lines[5]["return_mean"] == 30.0 and lines[4]["episodes"] == 10
    assert all(isinstance(r["time"], float) for r in lines)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["run_id"] == "run1" and cfg["seeds"] == [0, 1, 2] and cfg["algo"] == "td3bc"
    assert "offrl_version" in cfg
    assert not list(run.glob(".*.tmp"))


def test_bad_metric_shapes_and_names(tmp_path):
    log = RunLogger(tmp_path / "r", CONFIG, [0, 1], use_wandb=False)
    with pytest.raises(ConfigError):
        log.log(1, {"x": np.zeros(3)})
    with pytest.raises(ConfigError):
        log.log(1, {"step": 1.0})
    with pytest.raises(ConfigError):
        RunLogger(tmp_path / "r2", CONFIG, [])
    log.close()


def test_finish_once_and_refuse_finished_run(tmp_path):
    run = tmp_path / "r"
    log = RunLogger(run, CONFIG, [0, 1], use_wandb=False)
    log.write_config()
    log.log(1, {"normalized_score": [1.0, 2.0]}, kind="eval")
    final = {"eval_steps": [1], "normalized_score": {"last": np.array([1.0, 2.0]), "best": [1.0, 2.0],
                                                     "curve": [[1.0], [2.0]]},
             "return": {"last": [3.0, 4.0], "best": [3.0, 4.0], "curve": [[3.0], [4.0]]},
             "wall_time_s": 1.5, "steps": 1}
    log.finish(final)
    written = json.loads((run / "final.json").read_text())
    assert written["run_id"] == "r" and written["seeds"] == [0, 1] and written["algo"] == "td3bc"
    assert written["normalized_score"]["last"] == [1.0, 2.0]
    with pytest.raises(OffrlError):
        log.log(2, {"x": 1.0})
    before = (run / "final.json").read_bytes()
    with pytest.raises(OffrlError):
        log.finish(final)
    with pytest.raises(OffrlError):  # a finished run cannot be resumed or restarted
        RunLogger(run, CONFIG, [0, 1], resume=True, use_wandb=False)
    with pytest.raises(OffrlError):
        RunLogger(run, CONFIG, [0, 1], use_wandb=False)
    assert (run / "final.json").read_bytes() == before


def test_resume_appends_and_drops_a_cut_off_line(tmp_path):
    run = tmp_path / "r"
    log = RunLogger(run, CONFIG, [0], use_wandb=False)
    log.write_config()
    log.log(1, {"a": 1.0})
    log.close()
    with open(run / "metrics.jsonl", "a") as f:  # killed mid-write
        f.write('{"kind": "train", "st')
    with pytest.raises(OffrlError):  # no silent clobbering without resume
        RunLogger(run, CONFIG, [0], use_wandb=False)
    log = RunLogger(run, CONFIG, [0], resume=True, use_wandb=False)
    log.write_config()
    log.log(1, {"a": 2.0})
    log.close()
    text = (run / "metrics.jsonl").read_text().splitlines()
    assert len(text) == 2 and json.loads(text[0])["a"] == 1.0 and json.loads(text[1])["a"] == 2.0
    with pytest.raises(ConfigError):  # resuming with another config is another experiment
        RunLogger(run, {**CONFIG, "algo": "iql"}, [0], resume=True, use_wandb=False).write_config()


def test_group_ignores_seeds_and_run_id():
    a = config_group({**CONFIG, "seeds": [0, 1], "run_id": "x"})
    b = config_group({**CONFIG, "seeds": [2, 3], "run_id": "y"})
    c = config_group({**CONFIG, "algo_config": {"alpha": 1.0}})
    nested = lambda seeds: {**CONFIG, "train_config": {"seeds": seeds, "run_id": "r", "steps": 10}}  # noqa: E731
    assert config_group(nested([0])) == config_group(nested([1, 2])) != config_group(CONFIG)
    assert a == b != c and a.startswith("td3bc-hopper-medium-v2-")
    # the code stamp too (offrl.provenance): one sweep's jobs on machines with and without git share a group
    assert config_group({**CONFIG, "code": {"source": "a", "git": "git b"}}) == config_group(
        {**CONFIG, "code": {"source": "c"}, "code_resumed_with": [{"source": "d"}]}) == config_group(CONFIG)


def test_wandb_mode_selection(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no wandb login or settings
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.chdir(tmp_path)
    assert wandb_mode() == "disabled"  # not asked for, not configured
    assert wandb_mode(True) == "offline"  # asked for without a login
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


def test_wandb_init_failure_falls_back(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")

    def boom(*a, **k):
        raise TimeoutError("no service")

    monkeypatch.setattr(wandb, "init", boom)
    with pytest.warns(UserWarning, match="wandb.init failed"):
        log = RunLogger(tmp_path / "r", CONFIG, [0, 1])
    assert log.wandb_mode == "disabled"
    log.log(1, {"a": 1.0})
    log.close()


def test_wandb_offline_writes_one_run_per_seed(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    wandb_dir = tmp_path / "wandb-dir"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    run = tmp_path / "results" / "hop-td3bc"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a silent fallback to disabled would fail here
        log = RunLogger(run, CONFIG, [3, 7], group="g1")
    assert log.wandb_mode == "offline"
    log.write_config()
    log.log(5, {"critic/loss": [0.5, 0.25]})
    log.log(5, {"normalized_score": [10.0, float("nan")]}, kind="eval")
    log.finish({"normalized_score": {"last": [10.0, 12.0], "best": [11.0, 12.0], "curve": [[10.0], [12.0]]}})
    offline = sorted(p.name for p in (wandb_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 2
    assert any(n.endswith("hop-td3bc-seed3") for n in offline)
    assert any(n.endswith("hop-td3bc-seed7") for n in offline)
    for d in (wandb_dir / "wandb").glob("offline-run-*"):
        assert list(d.glob("*.wandb")), f"no offline record in {d}"
