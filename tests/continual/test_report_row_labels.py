"""Continual report rows: a label names every trainer setting in which rows of one method differ, and a
metric of fewer than 3 seeds shows its value and seed count, never a two-value "interval"."""

import json

import numpy as np
from test_report import CURVES, STEPS, _row, write_run

from offrl.continual_report import continual_report


def _set_batch_size(run_dir, trained: int):
    config = json.loads((run_dir / "config.json").read_text())
    config["algo_config"]["batch_size"] = trained
    (run_dir / "config.json").write_text(json.dumps(config))


def test_rows_of_one_method_name_every_setting_they_differ_in(tmp_path):
    """Two finetune rows differing in steps per task, evaluation and batch size were labelled by their option
    strings alone (`finetune [batch_size=128]`, `finetune [hidden=32,32]`); a method with one row names the
    settings in which it differs from the other rows on its data too."""
    root = tmp_path / "results"
    short = write_run(root / "short", "toy", "finetune", [0], CURVES[:1], continual_config={
        "steps_per_task": 100, "eval_episodes": 2, "batch_size": 64, "hp": ["batch_size=128"]})
    _set_batch_size(short, 128)  # recorded before --hp batch_size set continual_config's too
    long = write_run(root / "long", "toy", "finetune", [0, 1], CURVES, steps=[2 * s for s in STEPS],
                     steps_per_task=200, continual_config={"steps_per_task": 200, "eval_every": 100,
                                                           "eval_episodes": 3, "batch_size": 64,
                                                           "hp": ["hidden=32,32"]})
    _set_batch_size(long, 64)
    write_run(root / "er", "toy", "er", [0, 1], CURVES, continual_config={"steps_per_task": 100, "eval_episodes": 2})
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=200, curve_reps=20, plots=False).read_text()
    assert _row(md, "| `toy` | finetune [batch_size=128 eval_episodes=2 eval_every=50 steps_per_task=100] |")
    assert _row(md, "| `toy` | finetune [batch_size=64 eval_episodes=3 eval_every=100 hidden=32,32 "
                    "steps_per_task=200] |")
    assert _row(md, "| `toy` | er [eval_episodes=2 eval_every=50 steps_per_task=100] |")
    # rows whose settings agree but for their options keep the options alone
    again = continual_report([short, root / "er"], tmp_path / "rep2", reps=200, plots=False).read_text()
    assert _row(again, "| `toy` | finetune [batch_size=128] |")


def test_a_metric_of_fewer_than_three_seeds_shows_its_value_and_seed_count(tmp_path):
    root = tmp_path / "results"
    write_run(root / "two", "toy", "finetune", [0, 1], CURVES)
    write_run(root / "three", "toy", "er", [0, 1, 2], CURVES[[0, 1, 0]] + np.arange(3)[:, None, None])
    write_run(root / "one", "toy", "l2", [0], CURVES[:1])
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=500, curve_reps=20, plots=False).read_text()
    assert _row(md, "| `toy` | finetune |")[3] == f"{170 / 3:.2f} (n=2)"  # was 56.67 [50.00, 63.33]: the two seeds
    assert "[" in _row(md, "| `toy` | er |")[3]
    assert _row(md, "| `toy` | l2 |")[3] == f"{190 / 3:.2f}"  # one seed: its value alone, as before
    assert "with fewer than 3 seeds the mean stands alone, `(n=2)` giving its seed count" in md
