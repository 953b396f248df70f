"""`offrl report`'s P(X > Y) table lists each pair of algorithms once, the winner first (P(Y > X) is
1 - P(X > Y), so the other direction only repeated it), and its figure shows the same rows; the report's
progress bar is drawn only on a terminal, never into a log."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from offrl.evaluation import plots, stats
from offrl.report import main as report_main

HOP, WALK = "local/hopper-random-v0", "local/walker2d-random-v0"


def _run(root, algo, dataset, last, *, hp=()):
    """A finished single-task run folder as the trainer writes it, one seed a score of ``last``."""
    name = f"{algo}-{dataset.split('/')[1]}"
    d = root / name
    d.mkdir(parents=True)
    seeds = list(range(len(last)))
    config = {"run_id": name, "algo": algo, "dataset": dataset, "seeds": seeds, "algo_config": {},
              "train_config": {"steps": 200, "hp": list(hp)}}
    (d / "config.json").write_text(json.dumps(config))
    last = [float(x) for x in last]
    block = {"last": last, "best": last, "curve": [[x / 2, x] for x in last]}
    (d / "final.json").write_text(json.dumps({"run_id": name, "algo": algo, "dataset": dataset, "seeds": seeds,
                                              "eval_steps": [100, 200], "normalized_score": block, "return": block,
                                              "steps": 200}))
    (d / "metrics.jsonl").write_text("")


def _pairs_table(md: str) -> list[tuple[str, str, str]]:
    part = md[md.index("| X | Y | P(X > Y) |"):].split("\n\n")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()[2:]]
    return [(x, y, cell) for x, y, cell in rows]


def test_each_pair_is_listed_once_its_winner_first_and_the_figure_matches(tmp_path, monkeypatch):
    root = tmp_path / "results"
    for ds in (HOP, WALK):
        _run(root, "awac", ds, [10, 11, 12])  # first by name, last by score
        _run(root, "bc", ds, [40, 41, 42], hp=["hidden=64,64"])  # a label with a comma
        _run(root, "cql", ds, [39, 45, 50])  # beats bc in 6 of 9 seed pairs
        _run(root, "iql", ds, [40, 41, 42])  # bc's scores: exactly 0.5
    saved = {}
    real_save = plots._save

    def save(fig, path):
        saved[path.name] = fig
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", save)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reps", "300", "--profile-reps", "20"]) == 0
    md = (out / "report.md").read_text()
    bc = "bc [hidden=64,64]"
    table = _pairs_table(md)
    # the aggregate table's order (awac, bc, cql, iql) of pairs, each turned to read P >= 0.5; the tie keeps it
    assert [(x, y) for x, y, _ in table] == [(bc, "awac"), ("cql", "awac"), ("iql", "awac"), ("cql", bc),
                                             (bc, "iql"), ("cql", "iql")]
    points = [float(cell.split()[0]) for _, _, cell in table]
    assert points == pytest.approx([1, 1, 1, 2 / 3, 0.5, 2 / 3], abs=0.005)
    assert "Each pair is listed once, X the one more likely to win" in md  # and the report says so

    poi = json.loads((out / "summary.json").read_text())["probability_of_improvement"]
    assert len(poi) == 12  # both directions, so that either order finds a pair
    for x, y, _ in table:
        shown, other = poi[f"{x},{y}"], poi[f"{y},{x}"]
        assert shown["point"] >= 0.5 and other["point"] == pytest.approx(1 - shown["point"], abs=1e-12)
        # the same resamples: the other direction's interval is this one mirrored
        assert other["lower"] == pytest.approx(1 - shown["upper"], abs=1e-12)
        assert other["upper"] == pytest.approx(1 - shown["lower"], abs=1e-12)

    ax = saved["improvement.png"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    height = ax.transData.transform([(0, tick) for tick in ax.get_yticks()])[:, 1]  # on the page
    top_down = [labels[i] for i in np.argsort(-height)]
    assert top_down == [f"{x} > {y}" for x, y, _ in table]  # the table's rows in its order, names whole


def test_the_other_direction_is_the_complement_ties_counting_half():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(5, 3)).astype(float)  # few values: many ties
    y = rng.integers(0, 4, size=(4, 3)).astype(float)
    assert stats.probability_of_improvement(x, y) + stats.probability_of_improvement(y, x) == pytest.approx(1, abs=1e-15)


def _continual_run(root, method, seeds=(0, 1)):
    """A finished continual run folder (config.json and final.json, as the continual trainer writes them)."""
    tasks, steps, bounds = ["a", "b"], [0, 50, 100, 150, 200], [0, 100, 200]
    rng = np.random.default_rng(len(method))
    curves = rng.uniform(0, 100, size=(len(seeds), len(steps), len(tasks)))
    d = root / method
    d.mkdir(parents=True)
    info = {"kind": "continual", "run_id": method, "stream": "toy", "method": method, "algo": "td3bc",
            "tasks": tasks, "seeds": list(seeds)}
    (d / "config.json").write_text(json.dumps({**info, "steps_per_task": 100, "method_config": {},
                                               "continual_config": {"seeds": list(seeds)}, "algo_config": {}}))
    at = [steps.index(b) for b in bounds]
    (d / "final.json").write_text(json.dumps({
        **info, "task_boundaries": bounds, "eval_steps": steps, "curves": curves.tolist(),
        "matrix": curves[:, at[1:], :].tolist(), "matrix_return": curves[:, at[1:], :].tolist(),
        "initial": curves[:, at[0], :].tolist(), "metrics": {}}))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_continual_metrics_bar_only_on_a_terminal(tmp_path, monkeypatch, terminal):
    """Four continual rows are enough for the metrics' bar; piped to a log it would leave its frames there."""
    root = tmp_path / "results"
    for method in ("finetune", "scratch", "ewc", "replay"):
        _continual_run(root, method)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.chdir(tmp_path)
    assert report_main([str(root), "--out", str(tmp_path / "rep"), "--reps", "50", "--profile-reps", "20",
                        "--no-plots"]) == 0
    assert (tmp_path / "rep" / "continual.md").exists()
    assert ("continual metrics" in err.getvalue()) is terminal
    assert ("\r" in err.getvalue()) is terminal
