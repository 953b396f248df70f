"""Reading results folders and building reports (markdown, summary.json, PNGs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offrl.errors import ConfigError, OffrlError, UnknownIdError
from offrl.evaluation import plots, stats
from offrl.evaluation.results import (
    find_published_scores,
    find_runs,
    group_runs,
    load_reference,
    load_references,
    load_run,
    load_runs,
    match_key,
    read_metrics,
)
from offrl.logging import RunLogger
from offrl.report import main as report_main

PNG = b"\x89PNG\r\n\x1a\n"


def _train(run_dir, algo, dataset, seeds, scores, *, normalized=True, finish=True, steps=(100, 200, 300),
           hp=None, algo_config=None):
    """Write a run the way the trainer does. ``scores[i][k]`` = normalized score of seed i at step k."""
    scores = np.asarray(scores, dtype=float)
    train_config = {"hp": list(hp)} if hp is not None else {}
    log = RunLogger(run_dir, {"algo": algo, "dataset": dataset, "algo_config": algo_config or {},
                              "train_config": train_config}, seeds, use_wandb=False)
    log.write_config()
    n_done = scores.shape[1]
    for k, step in enumerate(steps[:n_done]):
        log.log(step, {"critic/loss": np.ones(len(seeds))})
        ev = {"return_mean": scores[:, k] * 30, "return_std": np.ones(len(seeds)), "episodes": 10}
        if normalized:
            ev["normalized_score"] = scores[:, k]
        log.log(step, ev, kind="eval")
    if finish:
        block = lambda s: {"last": s[:, -1], "best": s.max(axis=1), "curve": s}  # noqa: E731
        log.finish({"eval_steps": list(steps[:n_done]),
                    "normalized_score": block(scores) if normalized else None,
                    "return": block(scores * 30), "wall_time_s": 12.0, "steps": steps[n_done - 1]})
    else:
        log.close()
    return run_dir


def test_read_metrics_dedups_keeping_last_and_skips_broken_lines(tmp_path):
    p = tmp_path / "metrics.jsonl"
    rows = [
        {"kind": "eval", "step": 10, "seed": 0, "time": 1.0, "normalized_score": 1.0},
        {"kind": "train", "step": 10, "seed": 0, "time": 1.0, "critic/loss": 5.0},
        {"kind": "eval", "step": 20, "seed": 0, "time": 2.0, "normalized_score": 2.0},
        # killed after step 20, resumed from the step-10 checkpoint: step 20 logged again
        {"kind": "eval", "step": 20, "seed": 0, "time": 3.0, "normalized_score": 7.0},
    ]
    text = "\n".join(json.dumps(r) for r in rows[:3]) + '\n{"kind": "eval", "ste\n' + json.dumps(rows[3]) + "\n"
    p.write_text(text)
    with pytest.warns(UserWarning, match="1 malformed"):
        recs = read_metrics(p)
    evals = [r for r in recs if r["kind"] == "eval"]
    assert [(r["step"], r["normalized_score"]) for r in evals] == [(10, 1.0), (20, 7.0)]
    with pytest.warns(UserWarning):
        assert len(read_metrics(p, kind="train")) == 1


def test_incomplete_run_read_from_metrics(tmp_path):
    run = _train(tmp_path / "r", "bc", "d4rl/hopper-medium-v2", [0, 1], [[10, 30], [20, 15]], finish=False)
    # seed 1 got one more eval before the kill
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"kind": "eval", "step": 300, "seed": 1, "time": 0.0, "normalized_score": 40.0,
                            "return_mean": 1200.0}) + "\n")
    r = load_run(run)
    assert not r.complete and r.score_kind == "normalized_score" and r.last_step == 300
    s = r.scores["normalized_score"]
    assert s.eval_steps.tolist() == [100, 200, 300]
    np.testing.assert_array_equal(s.curve, [[10, 30, np.nan], [20, 15, 40]])
    assert s.last.tolist() == [30, 40] and s.best.tolist() == [30, 40]
    assert r.scores["return"].last.tolist() == [900, 1200]


def test_complete_run_from_final_and_returns_without_reference(tmp_path):
    run = _train(tmp_path / "r", "iql", "local/pendulum-v0", [5], [[1.0, 3.0, 2.0]], normalized=False)
    r = load_run(run)
    assert r.complete and r.score_kind == "return" and "normalized_score" not in r.scores
    assert r.scores["return"].last.tolist() == [60.0] and r.scores["return"].best.tolist() == [90.0]
    assert r.wall_time_s == 12.0 and r.steps == 300 and r.seeds == [5]


def test_find_and_group_runs_across_folders(tmp_path):
    root = tmp_path / "results"
    _train(root / "sweep1" / "a", "bc", "d4rl/hopper-medium-v2", [0, 1], [[10, 20, 30], [11, 21, 31]])
    _train(root / "sweep2" / "b", "bc", "d4rl/hopper-medium-v2", [2], [[12, 22]], finish=False)
    (root / "sweep2" / "empty").mkdir()
    (root / ".hidden" / "x").mkdir(parents=True)
    found = find_runs([root, root / "sweep1" / "a"])  # duplicates collapse
    assert sorted(p.name for p in found) == ["a", "b"]
    links = tmp_path / "links"
    links.mkdir()
    (links / "first").symlink_to(root / "sweep1" / "a")
    (links / "loop").symlink_to(links)  # a link loop ends
    (links / "all").symlink_to(root)  # the same run twice: once
    via_links = find_runs([links])
    assert sorted(p.resolve().name for p in via_links) == ["a", "b"] and len(via_links) == 2
    groups = group_runs(load_runs([root]))
    g = groups[("d4rl/hopper-medium-v2", "bc")]
    assert g.seeds == [0, 1, 2] and not g.complete
    np.testing.assert_array_equal(g.last, [30, 31, 22])
    assert g.curve.shape == (3, 3) and np.isnan(g.curve[2, 2])
    with pytest.raises(OffrlError):
        find_runs([tmp_path / "nope"])
    with pytest.raises(OffrlError):
        load_runs([root / "sweep2" / "empty"])


def test_find_runs_refuses_two_copies_of_one_run(tmp_path):
    # a run copied beside its rerun (same run id) would pool its seeds twice: refused, naming both folders
    root = tmp_path / "results"
    _train(root / "old" / "bc-hop", "bc", "d4rl/hopper-medium-v2", [0, 1], [[10, 20], [11, 21]])
    _train(root / "new" / "bc-hop", "bc", "d4rl/hopper-medium-v2", [0, 1], [[12, 22], [13, 23]])
    with pytest.raises(ConfigError, match="same run id") as e:
        find_runs([root])
    assert str(root / "old" / "bc-hop") in str(e.value) and str(root / "new" / "bc-hop") in str(e.value)
    assert [p.parent.name for p in find_runs([root / "new"])] == ["new"]  # one copy: fine


def test_runs_with_other_hyperparameters_are_separate_rows(tmp_path, monkeypatch):
    """An ablation never averages into its baseline: runs pool only when their overrides agree
    (numbers compared by value), and recorded configs that still differ split as a safety net."""
    root, ds = tmp_path / "results", "d4rl/hopper-medium-v2"
    _train(root / "base", "dt", ds, [0, 1], [[10, 20, 30], [11, 21, 31]], hp=[])
    _train(root / "bf16a", "dt", ds, [0, 1], [[1, 2, 3], [1, 2, 4]], hp=["compute_dtype=bfloat16", "lr=3e-4"])
    _train(root / "bf16b", "dt", ds, [2], [[1, 2, 5]], hp=["lr=0.0003", "compute_dtype=bfloat16"])
    _train(root / "mlp", "bc", ds, [0], [[5, 6, 7]], hp=["hidden=64,64"], algo_config={"hidden": [64, 64]})
    _train(root / "mlp2", "bc", ds, [1], [[5, 6, 9]], hp=["hidden=64,64"], algo_config={"hidden": [32, 32]})
    # a field only the newer run records (added by a later offrl version) is no difference
    _train(root / "old", "iql", ds, [0], [[1, 1, 1]], hp=["batch_size=256"], algo_config={"tau": 0.005})
    _train(root / "new", "iql", ds, [1], [[1, 1, 3]], hp=["batch_size=256"],
           algo_config={"tau": 0.005, "compute_dtype": "float32"})
    groups = group_runs(load_runs([root]))
    # the bc runs share their overrides but recorded different configs: kept apart, by recorded value
    assert sorted(a for _, a in groups) == ["bc [hidden=[32,32]]", "bc [hidden=[64,64]]", "dt",
                                            "dt [compute_dtype=bfloat16 lr=0.0003]", "iql [batch_size=256]"]
    assert sorted(groups[(ds, "iql [batch_size=256]")].seeds) == [0, 1]
    g = groups[(ds, "dt [compute_dtype=bfloat16 lr=0.0003]")]
    assert g.algo == "dt" and g.seeds == [0, 1, 2] and len(g.runs) == 2
    np.testing.assert_array_equal(g.last, [3, 4, 5])
    np.testing.assert_array_equal(groups[(ds, "dt")].last, [30, 31])
    assert groups[(ds, "bc [hidden=[32,32]]")].algo == "bc"
    monkeypatch.chdir(tmp_path)
    assert report_main([str(root), "--out", str(tmp_path / "rep"), "--reps", "200", "--profile-reps", "50"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"| `{ds}` | dt [compute_dtype=bfloat16 lr=0.0003] | normalized | 3 | 4.00 ± 0.82 |" in md
    assert f"| `{ds}` | dt | normalized | 2 | 30.50 ± 0.50 |" in md
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert "dt [compute_dtype=bfloat16 lr=0.0003],dt" in summary["probability_of_improvement"]


def test_an_override_that_writes_out_a_default_pools_with_the_runs_without_it(tmp_path):
    """`--hp alpha=2.5` where another run without the override recorded alpha 2.5 too is one configuration:
    one row. Where the run without it recorded another value (a default changed between versions), the
    override still splits the rows."""
    root, ds = tmp_path / "results", "d4rl/hopper-medium-v2"
    _train(root / "plain", "td3bc", ds, [0, 1], [[10, 20], [11, 21]], hp=[], algo_config={"alpha": 2.5})
    _train(root / "written", "td3bc", ds, [2], [[12, 22]], hp=["alpha=2.5"], algo_config={"alpha": 2.5})
    _train(root / "other", "td3bc", ds, [3], [[1, 2]], hp=["alpha=1"], algo_config={"alpha": 1.0})
    groups = group_runs(load_runs([root]))
    assert sorted(label for _, label in groups) == ["td3bc", "td3bc [alpha=1]"]
    assert sorted(groups[(ds, "td3bc")].seeds) == [0, 1, 2]
    # the same override beside a run that recorded another value for it: kept apart
    root2 = tmp_path / "results2"
    _train(root2 / "old-default", "td3bc", ds, [0], [[10, 20]], hp=[], algo_config={"alpha": 2.0})
    _train(root2 / "written", "td3bc", ds, [1], [[12, 22]], hp=["alpha=2.5"], algo_config={"alpha": 2.5})
    assert sorted(label for _, label in group_runs(load_runs([root2]))) == ["td3bc", "td3bc [alpha=2.5]"]


def test_a_seed_trained_twice_leaves_its_row_out_and_reports_the_others(tmp_path, monkeypatch, capsys):
    """Two runs of one configuration under two ids, both on seed 0: pooling would count it twice, so that row
    is left out with a warning naming both folders and the seed; every other row is reported, and the exit
    status says a row is missing."""
    from offrl.cli import main as cli_main
    from offrl.evaluation.results import SeedConflict
    from offrl.report import LEFT_OUT_STATUS

    root, ds = tmp_path / "results", "d4rl/hopper-medium-v2"
    _train(root / "a", "td3bc", ds, [0, 1], [[10, 20], [11, 21]])
    _train(root / "b", "td3bc", ds, [0], [[12, 22]])
    _train(root / "bc", "bc", ds, [0, 1], [[5, 6], [7, 8]])
    left_out: list[SeedConflict] = []
    groups = group_runs(load_runs([root]), left_out)
    assert list(groups) == [(ds, "bc")]
    assert [(c.key, c.twice) for c in left_out] == [((ds, "td3bc"), [(str(root / "a"), str(root / "b"), [0])])]
    with pytest.warns(UserWarning, match=r"td3bc on `d4rl/hopper-medium-v2` is left out.*seed\(s\) 0\)"):
        assert list(group_runs(load_runs([root]))) == [(ds, "bc")]  # without a list: a warning

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert cli_main(["report", str(root), "--out", str(out), "--reps", "100", "--no-plots"]) == LEFT_OUT_STATUS != 0
    err = capsys.readouterr().err
    assert f"{root / 'a'} and {root / 'b'}: seed(s) 0" in err and "1 row(s) left out" in err
    md = (out / "report.md").read_text()
    assert f"> **Warning**: td3bc on `{ds}` is left out" in md and f"{root / 'a'} and {root / 'b'}: seed(s) 0" in md
    assert f"| `{ds}` | bc | normalized | 2 |" in md and f"| `{ds}` | td3bc |" not in md
    summary = json.loads((out / "summary.json").read_text())
    assert [row["algo"] for row in summary["table"]] == ["bc"]
    assert summary["left_out"] == [{"dataset": ds, "label": "td3bc", "runs": ["a", "b"],
                                    "seeds_twice": [{"runs": [str(root / "a"), str(root / "b")], "seeds": [0]}]}]


def _ref_csv(tmp_path):
    p = tmp_path / "published_scores.csv"
    p.write_text("# comment line\nsource,algo,dataset,mean,std\n"
                 "corl-last,bc,hopper-medium-v2,53.51,1.76\ncorl-last,td3bc,hopper-medium-v2,60.37,3.49\n"
                 "corl-best,bc,hopper-medium-v2,55.0,1.0\ncorl-last,bc,walker2d-medium-v2,70.0,\n")
    return p


def test_reference_scores(tmp_path, monkeypatch):
    csv_path = _ref_csv(tmp_path)
    ref = load_reference("corl-last", csv_path)
    assert ref[match_key("td3_bc", "d4rl/hopper-medium-v2")] == (60.37, 3.49)
    # data made here and named like D4RL's are other data: never matched with a D4RL table's row
    assert match_key("td3bc", "local/hopper-medium-v2") not in ref
    assert match_key("td3bc", "local/hopper-medium-v0") == match_key("td3bc", "LOCAL/hopper-medium-v0")
    with pytest.raises(UnknownIdError, match="corl-last"):
        load_reference("corl-lst", csv_path)
    assert load_references("corl-last", csv_path) == {"last": ref}  # one convention: one table
    with pytest.raises(UnknownIdError, match="corl-last"):
        load_references("corl-lst", csv_path)
    # a table of our own whose rows are not recorded yet: said so, with the command that records them
    with pytest.raises(OffrlError, match="'offrl-local-v0' has no rows .* `offrl reproduce offrl-local-v0 --record`"):
        load_references("offrl-local-v0", csv_path)
    monkeypatch.setenv("OFFRL_PUBLISHED_SCORES", str(csv_path))
    assert find_published_scores() == csv_path


def test_report_end_to_end(tmp_path, monkeypatch):
    root = tmp_path / "results"
    rng = np.random.default_rng(0)
    for algo, loc in (("bc", 50), ("td3bc", 70)):
        for ds in ("d4rl/hopper-medium-v2", "d4rl/walker2d-medium-v2"):
            _train(root / f"{algo}-{ds.split('/')[1]}", algo, ds, [0, 1, 2], rng.normal(loc, 5, size=(3, 3)))
    _train(root / "iql-hop", "iql", "d4rl/hopper-medium-v2", [0, 1], [[1.0, 2.0], [3.0, 4.0]], finish=False)
    _train(root / "bc-pend", "bc", "local/pendulum-v0", [0], [[1.0, 2.0, 3.0]], normalized=False)
    (root / "cql-hop").mkdir()  # started, no eval yet
    (root / "cql-hop" / "config.json").write_text(json.dumps(
        {"run_id": "cql-hop", "algo": "cql", "dataset": "d4rl/hopper-medium-v2", "seeds": [0, 1]}))
    out = tmp_path / "rep"
    monkeypatch.chdir(tmp_path)
    rc = report_main([str(root), "--out", str(out), "--reference", "corl-last",
                      "--reference-csv", str(_ref_csv(tmp_path)), "--reps", "500", "--profile-reps", "100"])
    assert rc == 0
    md = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    g = group_runs(load_runs([root]))[("d4rl/hopper-medium-v2", "td3bc")]
    row = next(line for line in md.splitlines() if line.startswith("| `d4rl/hopper-medium-v2` | td3bc"))
    assert f"{g.last.mean():.2f} ± {g.last.std():.2f}" in row and "60.37 ± 3.49" in row and "complete" in row
    assert "| `d4rl/hopper-medium-v2` | iql | normalized | 2 | 3.00 ± 1.00 |" in md and "incomplete" in md
    assert "| `local/pendulum-v0` | bc | return | 1 |" in md
    assert "| `d4rl/hopper-medium-v2` | cql | – | 0 of 2 | – | – | – | incomplete (no eval yet) |" in md
    # a reference without a published std shows its mean alone
    walker_bc = next(line for line in md.splitlines() if line.startswith("| `d4rl/walker2d-medium-v2` | bc"))
    assert "| 70.00 | complete |" in walker_bc and "nan" not in walker_bc
    assert "- `cql-hop` (cql, `d4rl/hopper-medium-v2`): no eval yet" in md
    # iql lacks walker2d, so aggregates use the shared hopper only; the note says so
    assert "walker2d" in next(line for line in md.splitlines() if line.startswith("- Aggregates use"))
    assert set(summary["aggregates"]) == {"bc", "td3bc", "iql"}
    assert summary["aggregate_tasks"] == ["d4rl/hopper-medium-v2"]
    assert "Seed counts differ" in md
    iqm = summary["aggregates"]["td3bc"]["IQM"]
    assert iqm["lower"] <= iqm["point"] <= iqm["upper"]
    assert "| td3bc | bc |" in md and "td3bc,bc" in summary["probability_of_improvement"]
    for name in ("aggregates.png", "profiles.png", "improvement.png", "curves_d4rl_hopper-medium-v2.png",
                 "curves_local_pendulum-v0.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
        assert f"({name})" in md


def test_report_reference_with_both_scores_shows_last_and_best(tmp_path, monkeypatch):
    # a source that records last and best rows (offrl-local-v0) gets one column per score, each labelled,
    # and the summary keeps both, so a best reference never stands beside our last unannounced
    root = tmp_path / "results"
    _train(root / "bc-hop", "bc", "d4rl/hopper-medium-v2", [0, 1], [[40.0, 50.0], [42.0, 52.0]])
    csv_path = tmp_path / "published_scores.csv"
    csv_path.write_text("source,algo,dataset,mean,std,score\n"
                        "mine,bc,hopper-medium-v2,51.0,1.5,last\nmine,bc,hopper-medium-v2,55.0,2.5,best\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reference", "mine", "--reference-csv", str(csv_path),
                        "--reps", "200", "--profile-reps", "50"]) == 0
    md = (out / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| dataset | algo"))
    assert "| mine (last) | mine (best) | status |" in header
    row = next(line for line in md.splitlines() if line.startswith("| `d4rl/hopper-medium-v2` | bc"))
    assert "| 51.00 ± 1.50 | 55.00 ± 2.50 | complete |" in row
    ref = json.loads((out / "summary.json").read_text())["table"][0]["reference"]
    assert ref == {"source": "mine", "mean": 51.0, "std": 1.5, "best": {"mean": 55.0, "std": 2.5}}


def test_report_through_cli_dispatcher_and_errors(tmp_path, monkeypatch, capsys):
    from offrl.cli import main as cli_main

    root = _train(tmp_path / "results" / "r", "bc", "d4rl/hopper-medium-v2", [0, 1], [[10.0, 20.0], [30.0, 40.0]])
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report", str(root), "--reps", "200", "--profile-reps", "50", "--no-plots"]) == 0
    assert (tmp_path / "report" / "report.md").exists()  # default --out is ./report
    assert not list((tmp_path / "report").glob("*.png"))
    assert cli_main(["report", str(tmp_path / "missing")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_plot_functions_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    curves = {a: (np.arange(5) * 10, stats.learning_curve(rng.normal(size=(3, 5)), reps=50)) for a in ("x", "y")}
    assert plots.plot_learning_curves(curves, tmp_path / "c.png", title="t").read_bytes()[:8] == PNG
    mats = {"x": rng.normal(50, 10, (4, 3)), "y": rng.normal(60, 10, (4, 3))}
    p, ci = stats.interval_estimates(mats, stats.aggregate_metrics, reps=100)
    assert plots.plot_interval_estimates(p, ci, tmp_path / "a.png").read_bytes()[:8] == PNG
    taus = np.linspace(0, 100, 11)
    prof, pci = stats.performance_profile(mats, taus, reps=50)
    assert plots.plot_performance_profiles(taus, prof, pci, tmp_path / "p.png").read_bytes()[:8] == PNG
    poi, poi_ci = stats.interval_estimates({"x,y": (mats["x"], mats["y"])}, stats.probability_of_improvement, reps=50)
    assert plots.plot_probability_of_improvement(poi, poi_ci, tmp_path / "i.png").read_bytes()[:8] == PNG
