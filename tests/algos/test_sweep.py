"""offrl sweep: YAML specs validated up front; a failed run never loses finished ones."""

import json

import pytest

from offrl.cli import main
from offrl.collection import collect
from offrl.errors import ConfigError, UnknownIdError
from offrl.sweep import load_sweep, run_sweep

SPEC = """
name: tiny
algo: bc
datasets: [local/hopper-medium-v0, local/hopper-expert-v0]
seeds: [0, 1]
train: {steps: 100, eval_every: 100, chunk: 50, eval_episodes: 1, checkpoint: false, wandb: false, progress: false}
hp: {hidden: [16, 16], batch_size: 16}
"""


def test_failed_run_does_not_lose_finished_ones(tmp_path, capsys):
    collect("hopper-medium", steps=300, n_envs=2, minari=False, progress=False)  # expert is never collected
    f = tmp_path / "tiny.yaml"
    f.write_text(SPEC)
    results_dir = str(tmp_path / "res")
    out = run_sweep(load_sweep(f, results_dir=results_dir))
    assert "normalized_score" in out["local/hopper-medium-v0"]
    assert "offrl collect hopper-expert" in out["local/hopper-expert-v0"]["error"]
    run_id = out["local/hopper-medium-v0"]["run_id"]
    final = (tmp_path / "res" / run_id / "final.json").read_text()
    # started again, the finished run is returned untouched and the failure is reported again
    assert main(["sweep", str(f), "--results-dir", results_dir]) == 1
    assert (tmp_path / "res" / run_id / "final.json").read_text() == final
    assert "1 finished, 1 failed" in capsys.readouterr().out
    assert json.loads(final)["run_id"] == run_id


def test_bad_specs_fail_before_training(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(SPEC.replace("algo: bc", "algo: bcc"))
    with pytest.raises(UnknownIdError, match="'bc'"):
        load_sweep(f)
    f.write_text(SPEC.replace("batch_size: 16", "batch_size: 0"))
    with pytest.raises(ConfigError, match="batch_size"):
        load_sweep(f)
    f.write_text(SPEC.replace("chunk: 50", "chunkk: 50"))
    with pytest.raises(ConfigError, match="chunkk"):
        load_sweep(f)
    f.write_text("name: x\n")
    with pytest.raises(ConfigError, match="needs the keys"):
        load_sweep(f)
