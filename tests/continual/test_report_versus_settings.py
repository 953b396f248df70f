"""`offrl report --versus` on continual runs: rows trained with other trainer settings are named by them and
their differences are marked, not judged; a row left out for seeds trained twice is named as such; a side of
fewer than 3 seeds shows no interval, in the tables and in the curve figures alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_report import CURVES, REF_CURVES, STEPS, _row, write_run

from offrl.continual_report import continual_report
from offrl.errors import ConfigError

# three seeds a row, so that rows trained alike get a verdict
THREE = CURVES[[0, 1, 0]] + np.array([0.0, 0.0, 4.0])[:, None, None]
SHARED = {"hp": ["hidden=32,32"]}


def _edit_config(run_dir, **top):
    """Set fields of the run's config.json (a dict field updated, not replaced); ``algo`` in final.json too."""
    config = json.loads((run_dir / "config.json").read_text())
    for key, value in top.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    (run_dir / "config.json").write_text(json.dumps(config))
    if "algo" in top:
        final = json.loads((run_dir / "final.json").read_text())
        (run_dir / "final.json").write_text(json.dumps({**final, "algo": top["algo"]}))
    return run_dir


def _budget_runs(root):
    """er at 100 steps per task, l2 at 100 and at 200, every run with the same network."""
    write_run(root / "er", "toy", "er", [0, 1, 2], THREE, continual_config={**SHARED, "steps_per_task": 100})
    write_run(root / "l2-100", "toy", "l2", [0, 1, 2], THREE + 3, continual_config={**SHARED, "steps_per_task": 100})
    write_run(root / "l2-200", "toy", "l2", [0, 1, 2], THREE + 5, steps=[2 * s for s in STEPS], steps_per_task=200,
              continual_config={**SHARED, "steps_per_task": 200})


def test_versus_marks_a_row_trained_with_another_budget_and_names_it(tmp_path):
    """er (100 steps per task) against l2 at 100 and at 200: every row names its budget, as the header says the
    rows name what differs; the difference with l2 at 200 is shown marked ‡, without a verdict, and a note gives
    both budgets; the one with l2 at 100 is judged as before. It was a paired difference with a verdict, and
    er's label said nothing of its budget."""
    root = tmp_path / "results"
    _budget_runs(root)
    write_run(root / "scratch", "toy", "scratch", [0, 1, 2], REF_CURVES[[0, 1, 0]],
              continual_config={**SHARED, "steps_per_task": 100})
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=300, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    assert "Every run was trained with `hidden=32,32`; the rows name what else differs." in md
    table = md.split("## Metrics")[1].split("## ")[0]
    labels = [_row(line, "|")[1] for line in table.splitlines() if line.startswith("| `")]
    assert labels == ["er [steps_per_task=100]", "l2 [steps_per_task=100]", "l2 [steps_per_task=200]",
                      "scratch [steps_per_task=100]"]
    section = md.split("## er against every other row")[1]
    per, bwt = _row(section, "| `toy` | l2 [steps_per_task=200] |")[2:]
    for cell in (per, bwt):
        assert cell.endswith("‡ no verdict (other settings)") and "higher" not in cell and "lower" not in cell
    assert _row(section, "| `toy` | l2 [steps_per_task=100] |")[2] == "-3.00 [-3.00, -3.00] lower"
    assert "‡" not in _row(section, "| `toy` | scratch [steps_per_task=100] |")[2]
    assert ("- ‡ `toy`: er [steps_per_task=100] against l2 [steps_per_task=200] sets apart rows trained with other "
            "settings: steps_per_task 100 vs 200.") in section
    # the PER line judges the rows trained alike, and names the others apart
    line = next(x for x in section.splitlines() if x.startswith("- `toy`: "))
    assert "not above: l2 [steps_per_task=100] (lower)" in line
    assert line.endswith("Not judged, trained with other settings (‡): l2 [steps_per_task=200].")
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    entries = {v["row"]: v for v in summary["versus"]}
    other = entries["l2 [steps_per_task=200]"]
    assert other["comparable"] is False and other["differs"] == {"steps_per_task": ["100", "200"]}
    assert other["metrics"]["per"]["verdict"] == "no verdict (other settings)"
    assert other["metrics"]["per"]["point"] == pytest.approx(-5.0)  # the number is kept
    assert entries["l2 [steps_per_task=100]"]["comparable"] is True
    assert entries["l2 [steps_per_task=100]"]["differs"] == {}
    # FWT (CW) takes its reference by the same rule: the 200-step row has none
    references = {r["label"]: r["reference"] for r in summary["rows"]}
    assert references["er [steps_per_task=100]"] == "scratch [steps_per_task=100]"
    assert references["l2 [steps_per_task=200]"] is None


def test_every_trainer_setting_beyond_the_method_makes_a_difference_incomparable(tmp_path):
    """Evaluation protocol, batch size, heads, normalization and the base learner's configuration each set
    two rows apart (the note gives both values); the method's own options and an override written out at the
    value the other run recorded do not; rows of another base learner name that alone."""
    root = tmp_path / "results"
    base = {"eval_episodes": 10, "eval_seed": 10_000, "batch_size": 256, "heads": "multi", "normalize": "none"}
    write_run(root / "er", "toy", "er", [0, 1, 2], THREE, continual_config=base)
    cases = {
        "eval_seed": ({"eval_seed": 7}, {}, {"eval_seed": ["10000", "7"]}),
        "eval_episodes": ({"eval_episodes": 3}, {}, {"eval_episodes": ["10", "3"]}),
        "heads": ({"heads": "agnostic"}, {}, {"heads": ["multi", "agnostic"]}),
        "normalize": ({"normalize": "per-task"}, {}, {"normalize": ["none", "per-task"]}),
        "batch": ({"batch_size": 64}, {"algo_config": {"alpha": 2.5, "batch_size": 64}}, {"batch_size": ["256", "64"]}),
        "alpha": ({"hp": ["alpha=3"]}, {"algo_config": {"alpha": 3.0}}, {"alpha": ["2.5", "3.0"]}),
        "iql": ({}, {"algo": "iql", "algo_config": {"expectile": 0.7}}, {"algo": ["td3bc", "iql"]}),
        # the method's option, and the base learner's default written out: what a comparison compares
        "same": ({"hp": ["alpha=2.5"], "method_hp": ["buffer_size=10"]}, {"method_config": {"buffer_size": 10}}, {}),
    }
    for name, (cc, top, _) in cases.items():
        _edit_config(write_run(root / name, "toy", "finetune", [0, 1, 2], THREE, continual_config={**base, **cc}),
                     **top)
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=200, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    folder = {r["label"]: r["runs"][0] for r in summary["rows"]}
    differs = {folder[v["row"]]: v["differs"] for v in summary["versus"]}
    assert differs == {name: expected for name, (_, _, expected) in cases.items()}
    er = next(r["label"] for r in summary["rows"] if r["method"] == "er")
    alpha = next(label for label, run in folder.items() if run == "alpha")
    assert f"‡ `toy`: {er} against {alpha} sets apart rows trained with other settings: alpha 2.5 vs 3.0." in md
    section = md.split("## er against")[1]
    for label, run in folder.items():
        if run != "er":
            cell = _row(section, f"| `toy` | {label} |")[2]
            assert cell.endswith("no difference at 95%" if run == "same" else "‡ no verdict (other settings)"), run


def test_across_data_a_row_trained_otherwise_on_one_data_set_is_marked(tmp_path):
    """The difference averaged over data sets carries the mark, and the note names the data set, where the two
    rows were trained with other settings on any of them."""
    root = tmp_path / "results"
    for data, episodes in (("toy", 10), ("toy2", 3)):
        write_run(root / f"er-{data}", data, "er", [0, 1, 2], THREE + 2, continual_config={"eval_episodes": 10})
        write_run(root / f"ft-{data}", data, "finetune", [0, 1, 2], THREE, continual_config={"eval_episodes": episodes})
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=300, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    # the labels name the protocol on toy2 only, so the rows of the two data sets are not one row across them
    assert _row(md, "| `toy2` | finetune [eval_episodes=3] |") and _row(md, "| `toy` | finetune |")
    write_run(root / "ft-toy3", "toy3", "finetune", [0, 1, 2], THREE, continual_config={"eval_episodes": 3})
    write_run(root / "er-toy3", "toy3", "er", [0, 1, 2], THREE + 2, continual_config={"eval_episodes": 10})
    write_run(root / "ft-toy4", "toy4", "finetune", [0, 1, 2], THREE, continual_config={"eval_episodes": 3})
    write_run(root / "er-toy4", "toy4", "er", [0, 1, 2], THREE + 2, continual_config={"eval_episodes": 3})
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep2", reps=300, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    across = md.split("### er against every other row, across data sets")[1]
    # on toy4 both rows evaluated with 3 episodes (no label names it there), on toy2 and toy3 only finetune
    cells = _row(across, "| finetune [eval_episodes=3] |")
    assert cells[1] == "2" and all(c.endswith("‡ no verdict (other settings)") for c in cells[2:])
    assert ("- ‡ finetune [eval_episodes=3]: on `toy2`, er [eval_episodes=10] against finetune [eval_episodes=3] "
            "sets apart rows trained with other settings: eval_episodes 10 vs 3.") in across
    summary = json.loads((tmp_path / "rep2" / "continual_summary.json").read_text())
    entry = next(e for e in summary["versus_across_data"] if e["row"] == "finetune [eval_episodes=3]")
    assert entry["comparable"] is False and entry["differs"] == {
        "toy2": {"eval_episodes": ["10", "3"]}, "toy3": {"eval_episodes": ["10", "3"]}}


def test_versus_a_method_finds_its_row_on_every_data_whatever_its_label(tmp_path):
    """`--versus er` takes er's one row on each data, also where that row names the settings its data's rows
    differ in (`er [hidden=32,32 steps_per_task=100]`), not only the data where it reads `er`; a data where er
    has several rows and none reads `er` is named, with its rows, instead of being passed over in silence."""
    root = tmp_path / "results"
    _budget_runs(root)
    write_run(root / "er-toy2", "toy2", "er", [0, 1, 2], THREE + 2)
    write_run(root / "ft-toy2", "toy2", "finetune", [0, 1, 2], THREE)
    for size in (10, 20):
        write_run(root / f"er-toy3-{size}", "toy3", "er", [0, 1, 2], THREE, method_config={"buffer_size": size},
                  continual_config={"method_hp": [f"buffer_size={size}"]})
    write_run(root / "ft-toy3", "toy3", "finetune", [0, 1, 2], THREE)
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=200, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    section = md.split("## er against every other row")[1]
    compared = {tuple(_row(line, "|")[:2]) for line in section.splitlines() if line.startswith("| `")}
    # (the network size is no longer every run's, so toy's rows name it too)
    assert compared == {("`toy`", "l2 [hidden=32,32 steps_per_task=100]"),
                        ("`toy`", "l2 [hidden=32,32 steps_per_task=200]"), ("`toy2`", "finetune")}
    assert ("- `toy3`: er has 2 rows here (er [buffer_size=10], er [buffer_size=20]); name one as the table prints "
            "it to compare them.") in section


def test_versus_a_row_left_out_for_seeds_trained_twice_says_so(tmp_path, capsys):
    """`--versus oer` where oer's two folders trained the same seeds: the error says the row was left out,
    naming both folders and the seeds, instead of calling the row unknown."""
    from offrl.cli import main as cli_main

    root = tmp_path / "results"
    write_run(root / "oer-a", "toy", "oer", [0, 1], CURVES)
    write_run(root / "oer-b", "toy", "oer", [0, 1], CURVES + 1)
    write_run(root / "er", "toy", "er", [0, 1], CURVES)
    assert cli_main(["report", str(root), "--out", str(tmp_path / "rep"), "--reps", "100", "--no-plots",
                     "--versus", "oer"]) == 1
    err = capsys.readouterr().err
    assert "unknown row" not in err
    assert "--versus 'oer': no row to compare against; oer on `toy` is left out" in err
    assert f"{root / 'oer-a'} and {root / 'oer-b'}: seed(s) 0, 1" in err
    with pytest.raises(ConfigError, match="oer on `toy` is left out: runs of the same settings trained the same"):
        continual_report(sorted(root.iterdir()), tmp_path / "rep2", reps=100, plots=False, versus=["oer"])


def test_a_difference_of_two_seeds_shows_no_interval(tmp_path):
    """As the metrics table: `-x.xx (n=2)` where a side has 2 seeds (the fewest a side has), never the span of two
    values as an interval; from 3 seeds a side the interval is back."""
    root = tmp_path / "results"
    write_run(root / "er", "toy", "er", [0, 1], CURVES)
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES + np.array([8.0, 12.0])[:, None, None])
    write_run(root / "l2", "toy", "l2", [0, 1, 2], THREE + 1)
    write_run(root / "ewc", "toy", "ewc", [0, 1, 2], THREE - 1)
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=300, curve_reps=20, plots=False,
                          versus=["er", "l2"]).read_text()
    er = md.split("## er against every other row")[1].split("## ")[0]
    assert _row(er, "| `toy` | finetune |")[2] == "-10.00 (n=2) no verdict (fewer than 3 seeds)"
    assert _row(er, "| `toy` | l2 |")[2].startswith("-") and "(n=2) †" in _row(er, "| `toy` | l2 |")[2]
    assert "[" not in _row(er, "| `toy` | l2 |")[2]
    l2 = md.split("## l2 against every other row")[1]
    per = _row(l2, "| `toy` | ewc |")[2]
    assert per.startswith("+2.00 [") and per.endswith("higher")
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    computed = next(v for v in summary["versus"] if v["versus"] == "er" and v["row"] == "finetune")
    assert computed["metrics"]["per"]["lower"] <= computed["metrics"]["per"]["upper"]  # the JSON keeps the bounds


def _captured_figures(monkeypatch):
    import offrl.evaluation.continual_plots as plots

    figures = {}
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig) and real_save(fig, path))
    return figures


def _bands(fig):
    from matplotlib.collections import PolyCollection

    ax = fig.axes[0]
    return [c for c in ax.collections if isinstance(c, PolyCollection)], ax.get_ylabel()


def test_curves_of_fewer_than_three_seeds_have_no_band(tmp_path, monkeypatch):
    """A row of 2 seeds: its curves figure draws the means without a band, and the axis no longer says "95% CI";
    a row of 3 seeds keeps its bands."""
    figures = _captured_figures(monkeypatch)
    root = tmp_path / "results"
    write_run(root / "two", "toy", "finetune", [0, 1], CURVES)
    write_run(root / "three", "toy", "er", [0, 1, 2], THREE)
    continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=100, curve_reps=50)
    bands, label = _bands(figures["continual_curves_toy_finetune.png"])
    assert bands == [] and "CI" not in label and "no interval under 3 seeds" in label
    bands, label = _bands(figures["continual_curves_toy_er.png"])
    assert len(bands) == 3 and label == "normalized score (mean, 95% CI)"


def test_curve_bands_stop_where_fewer_than_three_seeds_go_on(tmp_path, monkeypatch):
    """Seeds of a row that stop at different steps: a band only over the steps that 3 seeds reached."""
    from offrl.evaluation.continual_plots import plot_task_curves
    from offrl.evaluation.stats import learning_curve

    figures = _captured_figures(monkeypatch)
    curves = THREE.copy()
    curves[2, 4:] = np.nan  # the third seed stopped after step 150
    estimates = [learning_curve(curves[:, :, i], reps=50) for i in range(3)]
    plot_task_curves(STEPS, estimates, ["slow", "medium", "fast"], [0, 100, 200, 300], tmp_path / "c.png")
    bands, label = _bands(figures["c.png"])
    assert len(bands) == 3 and "95% CI from 3 seeds on" in label
    for band in bands:
        xs = np.concatenate([p.vertices[:, 0] for p in band.get_paths()])
        assert xs.max() <= 150
