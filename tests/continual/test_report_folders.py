"""`offrl report` and the folders around it: a folder that holds no run beside the continual runs, a report
folder that is a file, and a report folder reused, whose plots of runs no longer reported go away."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_report import CURVES, write_run

from offrl.cli import main as cli_main

FAST = ["--reps", "200", "--profile-reps", "20"]


def _single_task_run(run_dir, dataset: str):
    from offrl.logging import RunLogger

    log = RunLogger(run_dir, {"algo": "bc", "dataset": dataset}, [0, 1], use_wandb=False)
    log.write_config()
    log.log(100, {"normalized_score": np.array([40.0, 50.0]), "return_mean": np.array([1.0, 2.0])}, kind="eval")
    log.finish({"eval_steps": [100], "normalized_score": {"last": [40.0, 50.0], "best": [40.0, 50.0],
                                                          "curve": [[40.0], [50.0]]}})


def test_a_folder_that_holds_no_run_beside_continual_runs_is_skipped_with_a_warning(tmp_path, capsys):
    """Another tool's config.json, or a broken one, next to continual runs: a warning each, and the report of
    the real runs with status 0 (it stopped with "no runs found" and status 1 after writing continual.md)."""
    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    (root / "other").mkdir()
    (root / "other" / "config.json").write_text(json.dumps({"model": "x"}))
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    out = tmp_path / "rep"
    with pytest.warns(UserWarning) as warned:
        assert cli_main(["report", str(root), "--out", str(out), *FAST, "--no-plots"]) == 0
    skipped = sorted(str(w.message).split(":")[0] for w in warned if str(w.message).startswith("skipping "))
    assert skipped == [f"skipping {root / 'broken'}", f"skipping {root / 'other'}"]
    captured = capsys.readouterr()
    assert "report written to" in captured.out and str(out / "continual.md") in captured.out
    assert "no runs found" not in captured.err
    assert (out / "continual.md").is_file() and not (out / "report.md").exists()


def test_a_report_folder_that_is_a_file_is_refused_in_one_line(tmp_path, capsys):
    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    taken = tmp_path / "afile"
    taken.write_text("mine")
    for out in (taken, taken / "rep"):
        assert cli_main(["report", str(root), "--out", str(out), *FAST, "--no-plots"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"offrl report: error: --out {out} ") and "not a folder" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert taken.read_text() == "mine"
    # one that only creating it finds out (/proc takes no new folders, root's or anyone's), and a bad seed
    assert cli_main(["report", str(root), "--out", "/proc/offrl-report", *FAST, "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("offrl report: error: --out /proc/offrl-report cannot be created (") and err.count("\n") == 1
    assert cli_main(["report", str(root), "--out", str(tmp_path / "r"), "--seed", "-1", *FAST, "--no-plots"]) == 1
    assert "--seed -1: the bootstrap's seed is a non-negative integer" in capsys.readouterr().err


def test_a_reused_report_folder_keeps_no_plot_of_runs_it_no_longer_reports(tmp_path):
    """Only the figures the earlier report wrote (linked from its markdown) and this one did not write again
    are removed; other PNGs in the folder, named like the report's or not, are never touched."""
    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    write_run(root / "er", "toy", "er", [0, 1], CURVES[:, :, ::-1])
    _single_task_run(root / "bc-hopper", "d4rl/hopper-medium-v2")
    _single_task_run(root / "bc-walker", "d4rl/walker2d-medium-v2")
    out = tmp_path / "rep"
    out.mkdir()
    for mine in ("notes.png", "continual_mine.png", "curves_mine.png"):
        (out / mine).write_bytes(b"mine")
    assert cli_main(["report", str(root), "--out", str(out), *FAST]) == 0
    first = {p.name for p in out.glob("*.png")}
    assert {"continual_comparison.png", "continual_matrix_toy_er.png", "continual_matrix_toy_finetune.png",
            "curves_d4rl_hopper-medium-v2.png", "curves_d4rl_walker2d-medium-v2.png"} <= first

    assert cli_main(["report", str(root / "ft"), str(root / "bc-hopper"), "--out", str(out), *FAST]) == 0
    left = {p.name for p in out.glob("*.png")}
    assert left == {"continual_matrix_toy_finetune.png", "continual_curves_toy_finetune.png",
                    "curves_d4rl_hopper-medium-v2.png", "notes.png", "continual_mine.png", "curves_mine.png"}
    for name in left:  # what the reports link is there, and what they wrote is all they link
        assert (out / name).is_file()
    assert all((out / mine).read_bytes() == b"mine" for mine in ("notes.png", "continual_mine.png", "curves_mine.png"))
