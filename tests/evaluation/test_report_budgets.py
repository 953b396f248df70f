"""`offrl report` never pools runs of different training budgets into one row, aggregate or
P(improvement) table, and says so in the markdown and on stderr (item 7)."""

from __future__ import annotations

import json

import numpy as np

from offrl.evaluation.results import group_runs, load_runs
from offrl.logging import RunLogger
from offrl.report import main as report_main

HOP, WALK = "d4rl/hopper-medium-v2", "d4rl/walker2d-medium-v2"


def _run(root, name, algo, dataset, budget, scores, seeds=(0, 1, 2)):
    """A finished run as the trainer writes it: ``train_config.steps`` is its budget."""
    scores = np.asarray(scores, dtype=float)
    evals = [budget // 2, budget]
    log = RunLogger(root / name, {"algo": algo, "dataset": dataset, "algo_config": {},
                                  "train_config": {"steps": budget, "hp": []}}, list(seeds), use_wandb=False)
    log.write_config()
    for k, step in enumerate(evals):
        log.log(step, {"normalized_score": scores - 10 * (1 - k), "return_mean": scores}, kind="eval")
    curve = np.stack([scores - 10, scores], axis=1)
    log.finish({"eval_steps": evals, "steps": budget,
                "normalized_score": {"last": curve[:, -1], "best": curve.max(1), "curve": curve},
                "return": {"last": curve[:, -1], "best": curve.max(1), "curve": curve}})


def test_report_groups_aggregates_by_budget_and_warns(tmp_path, monkeypatch, capsys):
    root = tmp_path / "results"
    for ds in (HOP, WALK):
        _run(root, f"bc-{ds[5:]}", "bc", ds, 1000, [50, 52, 54])
        _run(root, f"td3bc-{ds[5:]}", "td3bc", ds, 1000, [70, 72, 74])
    _run(root, "td3bc-short", "td3bc", HOP, 100, [20, 22, 24])  # a short run of the same algorithm
    _run(root, "iql-short", "iql", HOP, 100, [30, 31, 32])

    groups = group_runs(load_runs([root]))
    # the two td3bc budgets are separate rows, labelled the same way on every dataset
    assert sorted(groups) == sorted([(HOP, "bc"), (WALK, "bc"), (HOP, "iql"), (HOP, "td3bc [steps=100]"),
                                     (HOP, "td3bc [steps=1000]"), (WALK, "td3bc [steps=1000]")])
    assert groups[(HOP, "td3bc [steps=100]")].budget == 100 and groups[(WALK, "bc")].budget == 1000

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reps", "200", "--profile-reps", "50"]) == 0
    err = capsys.readouterr().err
    assert "warning: Runs have different training budgets (100 steps, 1,000 steps)" in err
    md = (out / "report.md").read_text()
    assert md.index("> **Warning**: Runs have different training budgets") < md.index("## Per dataset")
    assert f"| `{HOP}` | td3bc [steps=100] | normalized | 3 | 100 | 22.00 ± 1.63 |" in md
    assert f"| `{WALK}` | bc | normalized | 3 | 1,000 | 52.00 ± 1.63 |" in md
    short = md[md.index("## Aggregates (100 steps)"):md.index("## Aggregates (1,000 steps)")]
    long = md[md.index("## Aggregates (1,000 steps)"):]
    assert "| iql | td3bc [steps=100] |" in short and "bc" not in short.replace("td3bc", "")
    # each pair once, its winner first: bc always scores below td3bc at 1000 steps
    assert "| td3bc [steps=1000] | bc |" in long and "| bc | td3bc [steps=1000] |" not in long
    assert "iql" not in long.split("## Plots")[0]

    summary = json.loads((out / "summary.json").read_text())
    by_budget = summary["by_budget"]
    assert set(by_budget) == {"100", "1000"}
    assert set(by_budget["100"]["aggregates"]) == {"iql", "td3bc [steps=100]"}
    assert set(by_budget["1000"]["aggregates"]) == {"bc", "td3bc [steps=1000]"}
    assert by_budget["1000"]["aggregate_tasks"] == [HOP, WALK] and by_budget["100"]["aggregate_tasks"] == [HOP]
    assert set(by_budget["1000"]["probability_of_improvement"]) == {"bc,td3bc [steps=1000]", "td3bc [steps=1000],bc"}
    # bc always scores below td3bc at 1000 steps: P(td3bc > bc) is 1 there
    assert by_budget["1000"]["probability_of_improvement"]["td3bc [steps=1000],bc"]["point"] == 1.0
    assert summary["aggregates"] == {} and summary["probability_of_improvement"] == {}
    for name in ("aggregates_100_steps.png", "aggregates_1000_steps.png", "improvement_1000_steps.png"):
        assert (out / name).is_file() and f"({name})" in md


def test_one_budget_reports_as_before_without_a_warning(tmp_path, monkeypatch, capsys):
    root = tmp_path / "results"
    _run(root, "bc", "bc", HOP, 1000, [50, 52, 54])
    _run(root, "td3bc", "td3bc", HOP, 1000, [70, 72, 74])
    monkeypatch.chdir(tmp_path)
    assert report_main([str(root), "--out", str(tmp_path / "rep"), "--reps", "200", "--no-plots"]) == 0
    assert "budget" not in capsys.readouterr().err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Warning" not in md and "## Aggregates\n" in md and "| steps |" not in md
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["budget"] == 1000 and set(summary["aggregates"]) == {"bc", "td3bc"}
    assert "by_budget" not in summary
