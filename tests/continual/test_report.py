"""`offrl report` on continual run folders written by hand in the continual results contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offrl.errors import ConfigError, OffrlError
from offrl.evaluation import continual as cl
from offrl.evaluation.continual_plots import plot_method_comparison, plot_task_curves, plot_task_matrix
from offrl.evaluation.stats import learning_curve

PNG = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]

STEPS = [0, 50, 100, 150, 200, 250, 300]
TASKS = ["slow", "medium", "fast"]
# the small example of test_metrics.py: curves[seed, step, task]
CURVES = np.array([
    [[5, 15, 10], [60, 12, 18], [80, 10, 20], [70, 40, 25], [50, 70, 30], [44, 62, 70], [40, 60, 90]],
    [[0, 10, 20], [40, 14, 12], [60, 20, 10], [64, 50, 30], [60, 80, 40], [36, 56, 50], [30, 50, 70]],
], dtype=float)
REF_CURVES = np.full((2, 7, 3), 33.0)
REF_CURVES[0, 1:3, 0], REF_CURVES[0, 3:5, 1], REF_CURVES[0, 5:7, 2] = [55, 65], [40, 60], [45, 55]
REF_CURVES[1, 1:3, 0], REF_CURVES[1, 3:5, 1], REF_CURVES[1, 5:7, 2] = [30, 50], [50, 50], [60, 80]


def write_run(run_dir: Path, stream: str, method: str, seeds, curves, *, tasks=TASKS, steps=STEPS,
              steps_per_task=100, finish=True, method_config=None, continual_config=None, learner_curves=None):
    """A continual run folder as the continual trainer writes it: config.json, metrics.jsonl (train
    and eval lines, one per seed) and, when finished, final.json."""
    curves = np.asarray(curves, dtype=float)
    n = len(tasks)
    bounds = [k * steps_per_task for k in range(n + 1)]
    run_dir.mkdir(parents=True)
    config = {"kind": "continual", "run_id": run_dir.name, "stream": stream, "method": method, "algo": "td3bc",
              "tasks": tasks, "seeds": list(seeds), "steps_per_task": steps_per_task,
              "continual_config": {"seeds": list(seeds), "eval_every": 50, **(continual_config or {})},
              "method_config": method_config or {}, "algo_config": {"alpha": 2.5}, "offrl_version": "0.1.0"}
    (run_dir / "config.json").write_text(json.dumps(config))
    task_of = cl.task_of_eval(steps, bounds)
    with open(run_dir / "metrics.jsonl", "w") as f:
        for t, step in enumerate(steps):
            for s, seed in enumerate(seeds):
                if step:
                    f.write(json.dumps({"kind": "train", "step": step, "seed": seed, "task": int(task_of[t]),
                                        "critic/loss": 1.0}) + "\n")
                row = {"kind": "eval", "step": step, "seed": seed, "task": max(0, int(task_of[t]))}
                for i, name in enumerate(tasks):
                    row[f"score/{name}"] = curves[s, t, i]
                    row[f"return/{name}"] = 10 * curves[s, t, i]
                f.write(json.dumps(row) + "\n")
    if finish:
        at = [steps.index(b) for b in bounds]
        final = {**{k: config[k] for k in ("kind", "run_id", "stream", "method", "algo", "seeds", "tasks")},
                 "task_boundaries": bounds, "eval_steps": list(steps), "curves": curves.tolist(),
                 "matrix": curves[:, at[1:], :].tolist(), "matrix_return": (10 * curves[:, at[1:], :]).tolist(),
                 "initial": curves[:, at[0], :].tolist(), "metrics": {}}
        if learner_curves is not None:
            final["learner_curves"] = np.asarray(learner_curves, dtype=float).tolist()
        (run_dir / "final.json").write_text(json.dumps(final))
    return run_dir


def _row(md: str, start: str) -> list[str]:
    line = next(x for x in md.splitlines() if x.startswith(start))
    return [c.strip() for c in line.strip("|").split("|")]


def test_report_cli_on_continual_runs(tmp_path):
    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    write_run(root / "ref", "toy", "scratch", [0, 1], REF_CURVES)
    rng = np.random.default_rng(0)
    write_run(root / "er", "toy", "er", [0, 1, 2], np.clip(CURVES[[0, 1, 0]] + rng.normal(0, 5, (3, 7, 3)), 0, 100))
    out = tmp_path / "rep"
    proc = subprocess.run(
        [sys.executable, "-m", "offrl.cli", "report", str(root), "--out", str(out), "--reps", "2000",
         "--profile-reps", "100"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "continual.md" in proc.stdout
    md = (out / "continual.md").read_text()
    assert not (out / "report.md").exists()  # no single-task runs, no single-task report
    header = _row(md, "| data |")
    assert header == ["data", "method", "seeds", "PER", "BWT", "forgetting", "FWT (CW)", "FWT (GEM)",
                      "anytime AP", "status"]
    cells = dict(zip(header, _row(md, "| `toy` | finetune |")))
    # the hand-computed values of test_metrics.py; two seeds: the value and its seed count, no interval
    for col, value in (("PER", 170 / 3), ("BWT", -27.5), ("forgetting", 12.75), ("FWT (CW)", 0.65 / 3),
                       ("FWT (GEM)", 11.25), ("anytime AP", (377 / 6 + 973 / 18) / 2)):
        point, count = cells[col].split()
        assert float(point) == pytest.approx(value, abs=0.005) and count == "(n=2)", col
    # three seeds: an interval around the value
    point, lo, hi = (float(x) for x in _row(md, "| `toy` | er |")[3].strip("]").replace("[", "").replace(",", "").split())
    assert lo <= point <= hi
    assert cells["seeds"] == "2" and cells["status"] == "complete"
    assert _row(md, "| `toy` | scratch |")[6] == "reference"
    summary = json.loads((out / "continual_summary.json").read_text())
    rows = {r["label"]: r for r in summary["rows"]}
    assert rows["finetune"]["reference"] == "scratch" and rows["er"]["seeds"] == [0, 1, 2]
    bwt = rows["finetune"]["metrics"]["bwt"]
    assert cells["BWT"] == f"{bwt['point']:.2f} (n=2)"
    er_per = rows["er"]["metrics"]["per"]
    assert _row(md, "| `toy` | er |")[3] == f"{er_per['point']:.2f} [{er_per['lower']:.2f}, {er_per['upper']:.2f}]"
    np.testing.assert_allclose(rows["finetune"]["matrix_mean"], CURVES[:, [2, 4, 6]].mean(axis=0))
    for name in ("continual_comparison.png", "continual_matrix_toy_finetune.png", "continual_curves_toy_finetune.png",
                 "continual_matrix_toy_er.png", "continual_curves_toy_scratch.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
        assert f"({name})" in md


def test_no_row_plots_keeps_the_comparison_figure_alone(tmp_path):
    """--no-row-plots: a report for version control carries one figure, and links no PNG it did not write."""
    from offrl.cli import main as cli_main

    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    write_run(root / "er", "toy", "er", [0, 1], CURVES[:, :, ::-1])
    out = tmp_path / "rep"
    assert cli_main(["report", str(root), "--out", str(out), "--reps", "200", "--profile-reps", "20",
                     "--no-row-plots"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["continual_comparison.png"]
    md = (out / "continual.md").read_text()
    assert "](continual_comparison.png)" in md and md.count("](") == 1
    # one row: no comparison figure, so no (empty) plots section either
    assert cli_main(["report", str(root / "ft"), "--out", str(tmp_path / "one"), "--reps", "200",
                     "--no-row-plots"]) == 0
    assert not list((tmp_path / "one").glob("*.png"))
    assert "## Plots" not in (tmp_path / "one" / "continual.md").read_text()


def test_mixed_folder_gets_both_reports(tmp_path, monkeypatch):
    from offrl.cli import main as cli_main
    from offrl.logging import RunLogger

    root = tmp_path / "results"
    write_run(root / "cont", "toy", "finetune", [0, 1], CURVES)
    log = RunLogger(root / "single", {"algo": "bc", "dataset": "d4rl/hopper-medium-v2"}, [0, 1], use_wandb=False)
    log.write_config()
    log.log(100, {"normalized_score": np.array([40.0, 50.0]), "return_mean": np.array([1.0, 2.0])}, kind="eval")
    log.finish({"eval_steps": [100], "normalized_score": {"last": [40.0, 50.0], "best": [40.0, 50.0],
                                                          "curve": [[40.0], [50.0]]}})
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report", str(root), "--reps", "300", "--profile-reps", "50", "--no-plots"]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| `d4rl/hopper-medium-v2` | bc | normalized | 2 | 45.00 ± 5.00 |" in md
    assert "toy" not in md.split("## Per dataset")[1]  # the continual run is not read as a single-task one
    assert "[continual.md](continual.md)" in md
    cont = (tmp_path / "report" / "continual.md").read_text()
    assert _row(cont, "| `toy` | finetune |")[3] == "56.67 (n=2)"
    assert "FWT (CW) needs a from-scratch reference" in cont
    assert not list((tmp_path / "report").glob("*.png"))


def test_pooling_incomplete_and_broken_runs(tmp_path):
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    write_run(root / "er-a", "toy", "er", [0, 1], CURVES, method_config={"buffer_size": 1000})
    write_run(root / "er-b", "toy", "er", [2], CURVES[:1] + 2, method_config={"buffer_size": 1000})
    write_run(root / "er-small", "toy", "er", [0], CURVES[:1], method_config={"buffer_size": 100})
    # killed during task 1 (step 150): no final.json; read from metrics.jsonl
    write_run(root / "ewc", "toy", "ewc", [0, 1], CURVES[:, :4], steps=STEPS[:4], finish=False)
    one = write_run(root / "single", "one", "finetune", [0, 1], CURVES[:, :3, :1], tasks=["only"], steps=STEPS[:3])
    broken = write_run(root / "broken", "toy", "l2", [0], CURVES[:1])
    final = json.loads((broken / "final.json").read_text())
    final["curves"] = final["curves"][0]  # seeds axis lost
    (broken / "final.json").write_text(json.dumps(final))
    assert cl.is_continual_run(broken) and not cl.is_continual_run(tmp_path)
    with pytest.raises(OffrlError, match="curves has shape"):
        cl.load_continual_run(broken)

    run = cl.load_continual_run(root / "ewc")
    assert not run.complete and run.tasks_finished == 1 and run.last_step == 150
    np.testing.assert_array_equal(run.matrix[:, 0], CURVES[:, 2])  # after task 0
    assert np.isnan(run.matrix[:, 1:]).all()  # task 1 is not over: no row "after task 1"
    np.testing.assert_array_equal(run.initial, CURVES[:, 0])
    assert cl.load_continual_run(one).task_boundaries.tolist() == [0, 100]

    dirs = sorted(p for p in root.iterdir())
    with pytest.warns(UserWarning, match="skipping .*broken"):
        path = continual_report(dirs, tmp_path / "rep", reps=500, curve_reps=50)
    md = path.read_text()
    # the same method with another buffer size is its own row; equal settings pool their seeds
    pooled = _row(md, "| `toy` | er [method.buffer_size=1000] |")
    assert pooled[2] == "3"
    assert pooled[3].startswith(f"{np.mean([190 / 3, 50, 190 / 3 + 2]):.2f} [")
    assert _row(md, "| `toy` | er [method.buffer_size=100] |")[3] == f"{190 / 3:.2f}"  # one seed: no interval
    ewc = _row(md, "| `toy` | ewc |")
    assert ewc[3] == "–" and ewc[-1] == "incomplete (1/3 tasks, step 150)"
    single = _row(md, "| `one` | finetune |")
    assert single[4] == single[5] == single[7] == "–" and single[3] == "70.00 (n=2)"
    assert "A one-task stream has no earlier task" in md
    assert "| `toy` | l2 |" not in md
    for name in ("continual_matrix_toy_ewc.png", "continual_curves_one_finetune.png",
                 "continual_matrix_toy_er_method.buffer_size_100.png", "continual_comparison.png"):
        assert (tmp_path / "rep" / name).read_bytes()[:8] == PNG, name


def test_plot_functions(tmp_path):
    matrix = CURVES[:, [2, 4, 6]].mean(axis=0)
    matrix[2, 0] = np.nan
    assert plot_task_matrix(matrix, TASKS, tmp_path / "m.png", title="t").read_bytes()[:8] == PNG
    with pytest.raises(ValueError):
        plot_task_matrix(matrix[:2], TASKS, tmp_path / "bad.png")
    curves = [learning_curve(CURVES[:, :, i], reps=50) for i in range(3)]
    assert plot_task_curves(STEPS, curves, TASKS, [0, 100, 200, 300], tmp_path / "c.png").read_bytes()[:8] == PNG
    est = {("toy", m): {"per": cl.seed_interval([50.0, 60.0 + d], reps=100),
                        "bwt": cl.seed_interval([-5.0, d], reps=100),
                        "forgetting": cl.seed_interval([np.nan, np.nan])}
           for d, m in ((0.0, "finetune"), (4.0, "er"))}
    est[("other", "er")] = {"per": cl.seed_interval([70.0]), "bwt": cl.seed_interval([1.0])}
    assert plot_method_comparison(est, tmp_path / "b.png").read_bytes()[:8] == PNG


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]  # the IHDR chunk: width and height, big-endian, after the signature
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_method_comparison_stacks_its_panels_when_side_by_side_would_be_too_wide(tmp_path):
    """Few rows: PER, BWT and forgetting side by side; 4 data x 9 methods: one panel under another, at most
    a page wide (side by side that was 58 inches)."""
    def estimates(streams, methods):
        return {(s, m): {k: cl.seed_interval([10.0 + j, 12.0 + j], reps=50) for k in ("per", "bwt", "forgetting")}
                for s in streams for j, m in enumerate(methods)}

    w, h = _png_size(plot_method_comparison(estimates(["toy"], ["er", "finetune"]), tmp_path / "few.png"))
    assert w > 2 * h
    many = estimates([f"stream{i}/medium" for i in range(4)], [f"method{j}" for j in range(9)])
    w, h = _png_size(plot_method_comparison(many, tmp_path / "many.png"))
    assert h > w / 2 and w <= 18 * 120 + 40  # saved at 120 dpi: about 18 inches at most


def test_method_comparison_draws_no_interval_for_rows_of_under_three_seeds(tmp_path, monkeypatch):
    """As in the tables: a two-seed row's bar is hatched, without an error bar (a bootstrap of two seeds spans
    just their values); a three-seed row has its interval drawn; the legend says what hatching means."""
    from matplotlib.container import ErrorbarContainer

    import offrl.evaluation.continual_plots as plots

    figures = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    est = {("toy", "two"): {k: cl.seed_interval([10.0, 20.0], reps=50) for k in ("per", "bwt", "forgetting")},
           ("toy", "three"): {k: cl.seed_interval([10.0, 20.0, 16.0], reps=50) for k in ("per", "bwt", "forgetting")}}
    plot_method_comparison(est, tmp_path / "c.png")
    fig, = figures
    for ax in fig.axes:
        bars = {p.get_x(): p for p in ax.patches}
        hatched = [p for p in bars.values() if p.get_hatch()]
        assert len(bars) == 2 and len(hatched) == 1 and hatched[0].get_height() == pytest.approx(15.0)
        errorbars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(errorbars) == 1 and len(errorbars[0].lines[2][0].get_segments()) == 1  # the three-seed bar's
    legend, = fig.legends
    assert any("under 3 seeds" in t.get_text() for t in legend.get_texts())
    figures.clear()
    plot_method_comparison({k: v for k, v in est.items() if k[1] == "three"}, tmp_path / "d.png")
    assert not any("under 3 seeds" in t.get_text() for t in figures[0].legends[0].get_texts())


@pytest.mark.parametrize("edit, message", [
    (lambda c, f: c.pop("stream") and f.pop("stream"), "lack \\['stream'\\]"),
    (lambda c, f: f.update(tasks=["a", "a", "b"]), "repeat"),
    (lambda c, f: f.update(task_boundaries=[0, 100, 50, 300]), "malformed"),
    (lambda c, f: f.update(seeds=["zero", 1]), "malformed"),
    (lambda c, f: f.pop("eval_steps"), "no eval_steps"),
    (lambda c, f: f.update(matrix=f["matrix"][:1]), "matrix has shape"),
    (lambda c, f: f.update(initial=[[1, 2], [3]]), "initial is not a numeric array"),
])
def test_load_rejects_runs_that_break_the_contract(tmp_path, edit, message):
    run = write_run(tmp_path / "r", "toy", "er", [0, 1], CURVES)
    config, final = (json.loads((run / name).read_text()) for name in ("config.json", "final.json"))
    edit(config, final)
    (run / "config.json").write_text(json.dumps(config))
    (run / "final.json").write_text(json.dumps(final))
    with pytest.raises(OffrlError, match=message):
        cl.load_continual_run(run)


def test_rows_name_what_differs_and_the_header_what_every_run_shares(tmp_path):
    """Eight selection rules with the same ensemble and network read `oer [selection=max_reward]`, not
    the whole list of shared overrides; the report names the shared settings once. A run without
    overrides keeps every label whole."""
    from offrl.continual_report import continual_labels, continual_report

    root = tmp_path / "results"
    shared = {"hp": ["hidden=64,64"], "method_hp": ["dynamics_steps=2000"]}
    runs = [write_run(root / rule, "toy", "oer", [0, 1], CURVES, method_config={"selection": rule},
                      continual_config={**shared, "method_hp": [*shared["method_hp"], f"selection={rule}"]})
            for rule in ("mbes", "max_reward")]
    runs.append(write_run(root / "default", "toy", "oer", [0, 1], CURVES, method_config={"selection": "mbes2"},
                          continual_config=shared))
    loaded = [cl.load_continual_run(r) for r in runs]
    labels, common, _ = continual_labels(loaded)
    assert common == ["dynamics_steps=2000", "hidden=64,64"]
    assert sorted(labels.values()) == ["oer", "oer [selection=max_reward]", "oer [selection=mbes]"]
    md = continual_report(runs, tmp_path / "rep", reps=200, curve_reps=20).read_text()
    assert md.count("Every run was trained with `dynamics_steps=2000` `hidden=64,64`") == 1
    assert _row(md, "| `toy` | oer [selection=max_reward] |")[2] == "2"
    bare = write_run(root / "bare", "toy", "finetune", [0], CURVES[:1])
    labels, common, of_method = continual_labels([*loaded, cl.load_continual_run(bare)])
    # the base learner's override stays (it tells oer's rows from finetune's); oer's own shared option goes
    assert common == [] and of_method == {"oer": ["dynamics_steps=2000"]}
    assert set(labels.values()) == {"finetune", "oer [hidden=64,64]", "oer [hidden=64,64 selection=max_reward]",
                                    "oer [hidden=64,64 selection=mbes]"}
    md = continual_report([*runs, bare], tmp_path / "rep2", reps=50, curve_reps=20, plots=False).read_text()
    assert "Every `oer` row was also trained with `dynamics_steps=2000`." in md


def test_a_rows_intervals_do_not_depend_on_the_other_rows(tmp_path):
    """A row's bootstrap streams derive from its method and overrides, not from its printed label: a
    fine-tune row joining the report lengthens the OER rows' labels (their shared network size no longer
    goes to the header) and leaves their intervals, and the difference between them, exactly as they were."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    # ten seeds, spread out: with two, any stream's percentiles are the two seeds' own values
    curves = np.concatenate([CURVES, CURVES + 11, CURVES - 7, CURVES[::-1] + 3, CURVES + 19])
    seeds = list(range(len(curves)))
    runs = [write_run(root / rule, "toy", "oer", seeds, curves + 3 * i, method_config={"selection": rule},
                      continual_config={"hp": ["hidden=64,64"], "method_hp": [f"selection={rule}"]})
            for i, rule in enumerate(("mbes", "max_reward"))]
    bare = write_run(root / "bare", "toy", "finetune", [0, 1], CURVES)

    def rows(folders, out, versus):
        continual_report(folders, tmp_path / out, reps=300, curve_reps=20, plots=False, versus=[versus])
        summary = json.loads((tmp_path / out / "continual_summary.json").read_text())
        return ({r["label"]: r["metrics"] for r in summary["rows"]},
                {v["row"]: v["metrics"] for v in summary["versus"]})

    alone, alone_versus = rows(runs, "alone", "oer [selection=mbes]")
    joined, joined_versus = rows([*runs, bare], "joined", "oer [hidden=64,64 selection=mbes]")
    assert set(alone) == {"oer [selection=mbes]", "oer [selection=max_reward]"}
    for rule in ("mbes", "max_reward"):
        assert joined[f"oer [hidden=64,64 selection={rule}]"] == alone[f"oer [selection={rule}]"]
    assert alone["oer [selection=mbes]"]["per"]["lower"] < alone["oer [selection=mbes]"]["per"]["upper"]
    assert joined_versus["oer [hidden=64,64 selection=max_reward]"] == alone_versus["oer [selection=max_reward]"]


def test_a_method_with_one_row_keeps_its_whole_label(tmp_path):
    """Dropping a method's shared options is for methods with several rows: a lone `oer [dual=false ...]`
    beside ER rows must not read `oer`."""
    from offrl.continual_report import continual_labels

    root = tmp_path / "results"
    lone = write_run(root / "oer", "toy", "oer", [0, 1], CURVES, method_config={"dual": False},
                     continual_config={"method_hp": ["dual=false", "dynamics_steps=2000"]})
    ers = [write_run(root / name, "toy", "er", [0, 1], CURVES, method_config={"replay": replay},
                     continual_config={"method_hp": [f"replay={replay}", "buffer_size=500"]})
           for name, replay in (("er-bc", "bc"), ("er-rl", "rl"))]
    labels, common, of_method = continual_labels([cl.load_continual_run(r) for r in (lone, *ers)])
    assert of_method == {"er": ["buffer_size=500"]} and common == []
    assert set(labels.values()) == {"er [replay=bc]", "er [replay=rl]", "oer [dual=false dynamics_steps=2000]"}


def test_versus_compares_one_row_with_every_other_row_of_its_stream(tmp_path, capsys):
    """`--versus` gives each other row's PER and BWT difference with an interval and a verdict; a row is
    named by its method or by its label as the table prints it; a misspelt one fails with suggestions."""
    from offrl.cli import main as cli_main

    root = tmp_path / "results"
    high, low = np.full((3, 7, 3), 90.0), np.full((3, 7, 3), 10.0)
    low_rl = np.full((3, 7, 3), 10.0)
    low_rl[:, 6, 0] = [0.0, 2.0, 1.0]  # forgets its first task at the end: BWT -10, -8, -9 / 2 tasks
    write_run(root / "er", "toy", "er", [0, 1, 2], high)
    write_run(root / "ft", "toy", "finetune", [0, 1, 3], low)
    write_run(root / "rl", "toy", "er", [0, 1, 3], low_rl, method_config={"replay": "rl"},
              continual_config={"method_hp": ["replay=rl"]})
    write_run(root / "other", "toy2", "finetune", [0, 1], CURVES)  # no `er` on this stream: not compared
    out = tmp_path / "rep"
    assert cli_main(["report", str(root), "--out", str(out), "--reps", "500", "--profile-reps", "20", "--no-plots",
                     "--versus", "er", "er [replay=rl]"]) == 0
    md = (out / "continual.md").read_text()
    er_section = md.split("## er against every other row")[1].split("## ")[0]
    assert _row(er_section, "| data |") == ["data", "row", "PER: er - row", "BWT: er - row"]
    # er has seeds 0-2, finetune 0, 1, 3: not paired (†), each row's seeds resampled on its own
    assert _row(er_section, "| `toy` | finetune |")[2:] == ["+80.00 [80.00, 80.00] † higher",
                                                            "+0.00 [0.00, 0.00] † no difference at 95%"]
    per, bwt = _row(er_section, "| `toy` | er [replay=rl] |")[2:]
    assert per.startswith("+") and per.endswith("higher") and bwt.endswith("higher")
    assert ("`toy`: er has the highest PER, above every other row (each interval at 95%, not adjusted for the 2 "
            "comparisons).") in er_section
    assert "toy2" not in er_section
    rl_section = md.split("## er [replay=rl] against every other row")[1]
    assert _row(rl_section, "| `toy` | er |")[2].endswith("lower")
    assert _row(rl_section, "| `toy` | finetune |")[3].endswith("lower")  # -4.5 BWT: it forgets, finetune does not
    assert "†" not in _row(rl_section, "| `toy` | finetune |")[3]  # both seeds 0, 1, 3: paired
    assert "not above every row on PER; not above: er (lower), finetune (" in rl_section
    summary = json.loads((out / "continual_summary.json").read_text())
    first = next(v for v in summary["versus"] if v["versus"] == "er" and v["row"] == "finetune")
    assert first["metrics"]["per"]["point"] == pytest.approx(80.0) and first["metrics"]["per"]["verdict"] == "higher"
    # a row that no stream has, and --versus without continual runs, are clear errors
    capsys.readouterr()
    assert cli_main(["report", str(root), "--out", str(out), "--no-plots", "--versus", "eer"]) == 1
    assert "unknown row to compare against (--versus) 'eer'; did you mean 'er'?" in capsys.readouterr().err
    single = tmp_path / "single"
    single.mkdir()
    assert cli_main(["report", str(single), "--out", str(out), "--versus", "er"]) == 1
    assert "no continual run found" in capsys.readouterr().err


def test_a_method_option_written_out_at_its_default_is_the_same_row(tmp_path):
    """`--method-hp dual=true` (OER's default) on some seeds and the plain `oer` on others are one row of
    four seeds; `dual=false` stays a row of its own."""
    from offrl.continual_report import continual_labels, group_continual_runs

    root = tmp_path / "results"
    plain = write_run(root / "plain", "toy", "oer", [0, 1], CURVES[:2], method_config={"dual": True})
    written = write_run(root / "written", "toy", "oer", [2, 3], CURVES[:2], method_config={"dual": True},
                        continual_config={"method_hp": ["dual=true"]})
    single = write_run(root / "single", "toy", "oer", [0, 1], CURVES[:2], method_config={"dual": False},
                       continual_config={"method_hp": ["dual=false"]})
    runs = [cl.load_continual_run(r) for r in (plain, written, single)]
    labels, _, _ = continual_labels(runs)
    assert [labels[r] for r in (plain, written, single)] == ["oer", "oer", "oer [dual=false]"]
    groups = group_continual_runs(runs, labels)
    assert sorted(groups) == [("toy", "oer"), ("toy", "oer [dual=false]")]
    assert sorted(groups[("toy", "oer")].seeds) == [0, 1, 2, 3]


def test_the_same_settings_under_two_run_ids_never_count_a_seed_twice(tmp_path, capsys):
    """One configuration trained twice on seeds 0 and 1 under two run ids (e.g. `--run-id`) would make a row
    of 4 seeds out of 2: that row is left out, naming both folders and the seeds, the other rows are reported
    and the exit status is not 0; other seeds of the same settings pool."""
    from offrl.cli import main as cli_main
    from offrl.continual_report import group_continual_runs
    from offrl.report import LEFT_OUT_STATUS

    root = tmp_path / "results"
    write_run(root / "default-id", "toy", "er", [0, 1], CURVES[:2])
    write_run(root / "named", "toy", "er", [0, 1], CURVES[:2])
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES[:2])
    assert cli_main(["report", str(root), "--out", str(tmp_path / "rep"), "--reps", "100", "--no-plots"]) \
        == LEFT_OUT_STATUS != 0
    err = capsys.readouterr().err
    assert "trained the same seeds, which would count twice" in err
    assert f"{root / 'default-id'} and {root / 'named'}: seed(s) 0, 1" in err
    md = (tmp_path / "rep" / "continual.md").read_text()
    assert "> **Warning**: er on `toy` is left out" in md
    assert _row(md, "| `toy` | finetune |")[2] == "2" and "| `toy` | er |" not in md
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    assert [r["label"] for r in summary["rows"]] == ["finetune"]
    assert summary["left_out"][0]["label"] == "er" and summary["left_out"][0]["seeds_twice"][0]["seeds"] == [0, 1]
    write_run(tmp_path / "more" / "other-seeds", "toy", "er", [2, 3], CURVES[:2])
    groups = group_continual_runs([cl.load_continual_run(p) for p in (root / "named", tmp_path / "more" / "other-seeds")])
    assert groups[("toy", "er")].seeds == [0, 1, 2, 3]


def test_versus_a_method_finds_its_one_row_whatever_its_label(tmp_path):
    """`--versus finetune` where finetune's only row reads `finetune [hidden=64,64]`: that row; a method with
    two rows on a data set is ambiguous, and the message lists both labels."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES, continual_config={"hp": ["hidden=64,64"]})
    write_run(root / "er", "toy", "er", [0, 1], CURVES + 5)
    md = continual_report(sorted(root.iterdir()), tmp_path / "a", reps=200, curve_reps=10, plots=False,
                          versus=["finetune"]).read_text()
    assert "## finetune against every other row" in md
    assert "| `toy` | er |" in md
    write_run(root / "ft2", "toy", "finetune", [0, 1], CURVES, continual_config={"hp": ["hidden=32,32"]})
    with pytest.raises(ConfigError, match=r"finetune has 2 rows on toy \('finetune \[hidden=32,32\]', "
                                          r"'finetune \[hidden=64,64\]'\); name one"):
        continual_report(sorted(root.iterdir()), tmp_path / "b", reps=200, curve_reps=10, plots=False,
                         versus=["finetune"])


def test_the_missing_reference_note_names_the_rows_where_others_have_one(tmp_path):
    """On data where scratch is the reference of some rows, the note about a row without a reference names
    that row, not the data alone (which would read as if no row there had FWT)."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    write_run(root / "scratch", "toy", "scratch", [0, 1], CURVES)
    write_run(root / "er", "toy", "er", [0, 1], CURVES + 5)
    write_run(root / "er-small", "toy", "er", [0, 1], CURVES + 2, continual_config={"hp": ["hidden=64,64"]})
    write_run(root / "other", "toy2", "er", [0, 1], CURVES)
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=200, curve_reps=10, plots=False).read_text()
    note = next(line for line in md.splitlines() if "needs a from-scratch reference run" in line)
    assert note.endswith("none for `toy` / er [hidden=64,64], `toy2`.")  # in the order of the data


def test_versus_pairs_rows_by_seed_unless_told_not_to(tmp_path):
    """Two rows of the same seeds whose values move together seed by seed: the paired difference is the
    bootstrap of the per-seed differences and excludes 0, the unpaired one (--no-versus-paired) does not;
    the summary JSON says which was done."""
    from offrl.cli import main as cli_main

    root = tmp_path / "results"
    level = np.array([20.0, 35.0, 50.0, 65.0, 80.0])[:, None, None]  # seeds far apart
    lift = np.array([1.0, 1.5, 0.5, 1.2, 0.8])[:, None, None]     # one row a little above, every seed
    write_run(root / "a", "toy", "er", [0, 1, 2, 3, 4], np.broadcast_to(level, (5, 7, 3)).copy())
    # the other row's seeds in another order: paired by seed id, not by position
    order = [3, 0, 4, 1, 2]
    write_run(root / "b", "toy", "finetune", order, np.broadcast_to(level + lift, (5, 7, 3))[order].copy())

    def per_cell(*flags):
        out = tmp_path / ("rep" + "".join(flags))
        assert cli_main(["report", str(root), "--out", str(out), "--reps", "2000", "--profile-reps", "20",
                         "--no-plots", "--versus", "finetune", *flags]) == 0
        md = (out / "continual.md").read_text()
        summary = json.loads((out / "continual_summary.json").read_text())
        return md, next(v["metrics"]["per"] for v in summary["versus"] if v["row"] == "er")

    md, paired = per_cell()
    assert "paired: where both rows have the same seeds" in md
    assert paired["paired"] is True and paired["verdict"] == "higher"
    assert paired["point"] == pytest.approx(float(lift.mean()))
    assert 0.5 <= paired["lower"] < paired["upper"] <= 1.5  # within the per-seed lifts' range
    md, unpaired = per_cell("--no-versus-paired")
    assert "resampling each row's seeds independently (pairing by seed turned off)" in md
    assert "paired" not in unpaired and unpaired["point"] == pytest.approx(paired["point"])
    assert unpaired["lower"] < 0 < unpaired["upper"] and unpaired["verdict"] == "no difference at 95%"


def test_versus_averages_each_row_over_the_data_sets_it_shares(tmp_path):
    """Rows that share two or more data sets with the compared row get one difference averaged over them;
    a row on one data set only gets none; the JSON keeps those apart from the per-data rows."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    seeds = [0, 1, 2]
    base = np.broadcast_to(np.array([30.0, 50.0, 70.0])[:, None, None], (3, 7, 3))
    for data, lift in (("toy", 2.0), ("toy2", 6.0)):
        write_run(root / f"er-{data}", data, "er", seeds, base + lift)
        write_run(root / f"ft-{data}", data, "finetune", seeds, base.copy())
    write_run(root / "mt-toy", "toy", "multitask", seeds, base.copy())  # on one data set only
    continual_report([p for p in sorted(root.iterdir())], tmp_path / "rep", reps=500, curve_reps=20, plots=False,
                     versus=["er"])
    md = (tmp_path / "rep" / "continual.md").read_text()
    across = md.split("### er against every other row, across data sets")[1]
    assert _row(across, "| finetune |") == ["finetune", "2", "+4.00 [4.00, 4.00] higher",
                                            "+0.00 [0.00, 0.00] no difference at 95%"]
    assert "| multitask |" not in across
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    (entry,) = summary["versus_across_data"]
    assert entry["row"] == "finetune" and entry["data"] == ["toy", "toy2"] and entry["metrics"]["per"]["paired"]
    assert all(isinstance(v["data"], str) for v in summary["versus"])


def test_learner_lead_section_for_runs_that_scored_their_learner(tmp_path):
    """A run with learner_curves (eval_learner) gets the learner's lead over the deployed policy on each task
    at its end; runs without them get no such row, and the section is absent when no run has them."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    learner = CURVES.copy()
    learner[:, [2, 4, 6], [0, 1, 2]] += [[10.0, 20.0, 30.0], [0.0, 0.0, 30.0]]  # seed leads 20 and 10
    write_run(root / "oer", "toy", "oer", [0, 1], CURVES, learner_curves=learner)
    write_run(root / "ft", "toy", "finetune", [0, 1], CURVES)
    md = continual_report([root / "oer", root / "ft"], tmp_path / "rep", reps=500, curve_reps=20, plots=False).read_text()
    section = md.split("## The learner against the deployed policy")[1]
    cells = _row(section, "| `toy` | oer |")
    assert cells[2] == "2" and cells[3] == "15.00 (n=2)"
    assert "| `toy` | finetune |" not in section
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    lead = next(r for r in summary["rows"] if r["method"] == "oer")["metrics"]["learner_lead"]
    assert lead["point"] == pytest.approx(15.0)
    plain = continual_report([root / "ft"], tmp_path / "rep2", reps=200, curve_reps=20, plots=False).read_text()
    assert "The learner against the deployed policy" not in plain


def test_continual_report_warns_when_its_rows_come_from_other_code(tmp_path, capsys):
    from offrl.continual_report import continual_report

    stamps = ({"source": "aaaaaaaaaaaa", "git": "git 1111111111"}, {"source": "bbbbbbbbbbbb"})
    root = tmp_path / "results"
    runs = [write_run(root / "er-a", "s", "er", [0, 1], CURVES),
            write_run(root / "ft-a", "s", "finetune", [0, 1], CURVES)]
    out = continual_report(runs, tmp_path / "same", reps=50, curve_reps=20, plots=False)
    assert "Warning" not in out.read_text() and "warning" not in capsys.readouterr().err
    for run, stamp in zip(runs, stamps):
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "code": stamp}))
    out = continual_report(runs, tmp_path / "mixed", reps=50, curve_reps=20, plots=False)
    assert "> **Warning**: The runs come from 2 code versions" in out.read_text()
    assert "warning: The runs come from 2 code versions" in capsys.readouterr().err
    summary = json.loads((tmp_path / "mixed" / "continual_summary.json").read_text())
    assert summary["code_versions"]["versions"] == {"source aaaaaaaaaaaa (git 1111111111)": ["er-a"],
                                                    "source bbbbbbbbbbbb": ["ft-a"]}


def test_every_row_of_a_comparison_gets_its_own_colour():
    """A selection-rule ablation has 15 rows: no two bars may share a colour (tab10 repeats after 10)."""
    from offrl.evaluation.plots import _colors

    for n in (3, 10, 15, 20, 26):
        names = [f"row {i:02d}" for i in range(n)]
        colors = _colors(names)
        assert len({tuple(round(c, 6) for c in rgba) for rgba in colors.values()}) == n
        assert colors == _colors(list(reversed(names)))  # by name, not by order of appearance


def test_rows_are_keyed_by_data_and_pool_across_bookkeeping(tmp_path):
    """Runs on another data quality of the same stream are other rows, never pooled or compared with these
    (`--versus`, the from-scratch reference); settings of how a run computed or recorded (eval_workers,
    progress, eval_learner, checkpoint) never split a method's seeds; a from-scratch reference is used only
    with the same base learner and evaluation protocol."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    med, rnd = {"dataset": "toy/medium", "quality": "medium"}, {"dataset": "toy/medium-random", "quality": "medium-random"}

    def run(name, method, seeds, curves, data, **cc):
        d = write_run(root / name, "toy", method, seeds, curves, continual_config={"quality": data["quality"], **cc})
        config = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**config, **data}))

    run("oer-m", "oer", [0, 1], CURVES, med, eval_workers=4, progress=False, eval_learner=True)
    run("oer-m2", "oer", [2], CURVES[:1], med, eval_workers=0, progress=True, checkpoint=False)
    run("ft-m", "finetune", [0, 1], CURVES * 0.5, med)
    run("sc-m", "scratch", [0, 1], REF_CURVES, med)
    run("oer-r", "oer", [0, 1], CURVES * 0.2, rnd)
    run("ft-r", "finetune", [0, 1], CURVES * 0.9, rnd)
    run("sc-r", "scratch", [0, 1], REF_CURVES, rnd, eval_episodes=3)  # another protocol: no reference
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=300, curve_reps=20, plots=False,
                          versus=["oer"]).read_text()
    table = md.split("## Metrics")[1].split("## ")[0]
    rows = [line.split(" | ")[:3] for line in table.splitlines() if line.startswith("| `")]
    assert rows == [["| `toy/medium`", "finetune", "2"], ["| `toy/medium`", "oer", "3"],
                    ["| `toy/medium`", "scratch", "2"], ["| `toy/medium-random`", "finetune", "2"],
                    ["| `toy/medium-random`", "oer", "2"], ["| `toy/medium-random`", "scratch", "2"]]
    assert "quality=" not in md and "eval_workers" not in md and "progress" not in md
    assert "`toy/medium` / oer: FWT (CW) against scratch" in md
    assert "`toy/medium-random` / oer: FWT (CW) against" not in md
    assert "none for `toy/medium-random`" in md
    versus = md.split("## oer against every other row")[1]
    compared = [line.split(" | ")[:2] for line in versus.splitlines() if line.startswith("| `")]
    assert compared == [["| `toy/medium`", "finetune"], ["| `toy/medium`", "scratch"],
                        ["| `toy/medium-random`", "finetune"], ["| `toy/medium-random`", "scratch"]]
    # on medium-random OER (20 % of the curves) is below fine-tune (90 %): each data is judged on its own
    # two seeds a row: no verdict (their bootstrap interval would be the span of two values)
    assert ("`toy/medium-random`: oer is not above every row on PER; not above: finetune (no verdict (fewer "
            "than 3 seeds))") in versus
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    assert {(r["data"], r["label"]) for r in summary["rows"]} >= {("toy/medium", "oer"), ("toy/medium-random", "oer")}


def _with_checksums(run_dir: Path, checksums: list[str]) -> Path:
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "dataset_checksums": checksums}))
    return run_dir


def test_runs_on_data_collected_again_are_other_rows(tmp_path, capsys):
    """Two runs of one setting whose task data differ (the second task collected again between them) are never
    pooled: each row names the data of the task that differs, and a warning says why; runs on the same data,
    and runs without checksums, pool as before."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    old, new = ["aaaa1111" + "0" * 56, "bbbb2222" + "0" * 56, ""], ["aaaa1111" + "0" * 56, "cccc3333" + "0" * 56, ""]
    _with_checksums(write_run(root / "er-old", "toy", "er", [0, 1], CURVES), old)
    _with_checksums(write_run(root / "er-new", "toy", "er", [2, 3], CURVES + 5), new)
    _with_checksums(write_run(root / "er-new2", "toy", "er", [4], CURVES[:1] + 5), new)
    write_run(root / "er-unknown", "toy", "er", [5], CURVES[:1])
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=100, curve_reps=20, plots=False).read_text()
    assert _row(md, "| `toy` | er [data=bbbb2222] |")[2] == "2"
    assert _row(md, "| `toy` | er [data=cccc3333] |")[2] == "3"
    assert _row(md, "| `toy` | er |")[2] == "1"  # what it trained on is unknown: not pooled with either
    assert "> **Warning**: Runs of the same setting trained on data with different checksums" in md
    assert "warning: Runs of the same setting trained on data with different checksums" in capsys.readouterr().err
    md = continual_report([root / "er-new", root / "er-new2", root / "er-unknown"], tmp_path / "same", reps=100,
                          curve_reps=20, plots=False).read_text()
    assert _row(md, "| `toy` | er |")[2] == "4" and "different checksums" not in md


def test_one_seed_differences_show_the_value_alone(tmp_path):
    """`--versus` between rows of one seed each: the difference alone, marked `(1 seed)`, never a certain-looking
    `[x, x]` interval."""
    from offrl.continual_report import continual_report

    root = tmp_path / "results"
    write_run(root / "er", "toy", "er", [0], np.full((1, 7, 3), 90.0))
    write_run(root / "ft", "toy", "finetune", [0], np.full((1, 7, 3), 10.0))
    md = continual_report([root / "er", root / "ft"], tmp_path / "rep", reps=100, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    section = md.split("## er against every other row")[1]
    per, bwt = _row(section, "| `toy` | finetune |")[2:]
    assert per == "+80.00 (1 seed) no verdict (fewer than 3 seeds)" and "[" not in bwt
    assert _row(md, "| `toy` | er |")[3] == "90.00"  # a row's one seed: its value alone, as before


def _with_definition(run_dir: Path, gain: float) -> Path:
    """The run's config.json records a stream definition whose second task has pendulum gain ``gain``."""
    config = json.loads((run_dir / "config.json").read_text())
    definition = {"name": config["stream"], "tasks": [{"name": name, "env": "pendulum", "params": {"gain": g}}
                                                      for name, g in zip(TASKS, (1.0, gain, 3.0))]}
    (run_dir / "config.json").write_text(json.dumps({**config, "stream_definition": definition}))
    return run_dir


def test_runs_of_an_edited_stream_are_other_data(tmp_path, capsys):
    """The same stream name and method, trained on the same seeds before and after one task's parameter was
    edited: two rows, each data named by its definition's digest, a warning saying why, no row left out; a
    comparison or a forward-transfer reference pairs rows of one definition only; runs that record no
    definition keep the plain data; runs of one definition pool as before."""
    from offrl.continual_report import continual_report, stream_digest

    root = tmp_path / "results"
    old_er = _with_definition(write_run(root / "er-old", "toy", "er", [0, 1], CURVES), gain=2.0)
    new_er = _with_definition(write_run(root / "er-new", "toy", "er", [0, 1], CURVES + 5), gain=2.5)
    _with_definition(write_run(root / "ft-old", "toy", "finetune", [0, 1], CURVES * 0.5), gain=2.0)
    _with_definition(write_run(root / "scratch-new", "toy", "scratch", [0, 1], REF_CURVES), gain=2.5)
    write_run(root / "er-unknown", "toy", "er", [0], CURVES[:1])
    old, new = (stream_digest(json.loads((d / "config.json").read_text())) for d in (old_er, new_er))
    assert old != new
    # the shortest prefix of 8 or more that tells the two definitions apart
    size = next(n for n in range(8, 65, 4) if old[:n] != new[:n])
    old_data, new_data = f"toy [stream={old[:size]}]", f"toy [stream={new[:size]}]"
    md = continual_report(sorted(root.iterdir()), tmp_path / "rep", reps=100, curve_reps=20, plots=False,
                          versus=["er"]).read_text()
    assert _row(md, f"| `{old_data}` | er |")[2] == "2"
    assert _row(md, f"| `{new_data}` | er |")[2] == "2"
    assert _row(md, "| `toy` | er |")[2] == "1"  # no definition recorded: not pooled with either
    assert "left out" not in md and "trained the same seeds" not in md
    warning = "Runs on the same data recorded different stream definitions"
    assert f"> **Warning**: {warning}" in md and f"`{old_data}` (er, finetune)" in md
    assert f"warning: {warning}" in capsys.readouterr().err
    # the new definition's from-scratch run is no reference of the old definition's rows
    assert f"`{new_data}` / er: FWT (CW) against scratch" in md
    assert f"`{old_data}` / er: FWT (CW) against" not in md
    # er is compared with the finetune row of its own definition only, never with the other definition's rows
    section = md.split("## er against every other row")[1].split("### ")[0]
    compared = {tuple(_row(line, "|")[:2]) for line in section.splitlines() if line.startswith("| `")}
    assert compared == {(f"`{old_data}`", "finetune"), (f"`{new_data}`", "scratch")}
    assert "`toy`: no other row to compare with." in section
    summary = json.loads((tmp_path / "rep" / "continual_summary.json").read_text())
    assert summary["left_out"] == []
    assert {(r["data"], r["label"], r["stream"]) for r in summary["rows"]} == {
        (old_data, "er", "toy"), (new_data, "er", "toy"), (old_data, "finetune", "toy"),
        (new_data, "scratch", "toy"), ("toy", "er", "toy")}
    assert all(v["data"] == old_data if v["row"] == "finetune" else v["data"] == new_data
               for v in summary["versus"] if v["versus"] == "er" and v["data"] != "toy")
    # one definition, another seed: pooled, no digest, no warning
    _with_definition(write_run(tmp_path / "more" / "er-old2", "toy", "er", [2], CURVES[:1]), gain=2.0)
    md = continual_report([old_er, tmp_path / "more" / "er-old2"], tmp_path / "same", reps=100, curve_reps=20,
                          plots=False).read_text()
    assert _row(md, "| `toy` | er |")[2] == "3" and "stream=" not in md and warning not in md
