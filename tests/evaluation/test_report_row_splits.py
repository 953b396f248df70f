"""What `offrl report` pools into one row and how sure its numbers look: runs on data collected again are
other rows, and statistics of a single seed carry no interval."""

from __future__ import annotations

import json

import numpy as np

from offrl.evaluation.results import data_checksums, data_split_warning, group_runs, load_runs, run_labels
from offrl.report import main as report_main

HOP = "local/hopper-random-v0"
OLD_DATA, NEW_DATA = "a1b2c3d4" + "0" * 56, "f9e8d7c6" + "1" * 56


def _run(root, name, algo, seeds, last, *, dataset=HOP, checksum=None):
    """A finished run folder as the trainer writes it; ``checksum`` is its data's (None: not recorded, as
    in runs of older versions)."""
    d = root / name
    d.mkdir(parents=True)
    config = {"run_id": name, "algo": algo, "dataset": dataset, "seeds": list(seeds), "algo_config": {},
              "train_config": {"steps": 200, "hp": []}}
    if checksum is not None:
        config["dataset_spec"] = {"id": dataset, "checksum": checksum}
    (d / "config.json").write_text(json.dumps(config))
    last = [float(x) for x in last]
    curve = [[x / 2, x] for x in last]
    block = {"last": last, "best": last, "curve": curve}
    (d / "final.json").write_text(json.dumps({"run_id": name, "algo": algo, "dataset": dataset, "seeds": list(seeds),
                                              "eval_steps": [100, 200], "normalized_score": block, "return": block,
                                              "steps": 200}))
    (d / "metrics.jsonl").write_text("")
    return d


def test_runs_on_data_with_other_checksums_are_never_pooled(tmp_path, monkeypatch, capsys):
    """Seed 0 trained, the data collected again, seed 1 trained: two rows named by their data, with a warning;
    runs on the same data pool, and a run that records no checksum keeps the plain label."""
    root = tmp_path / "results"
    _run(root, "bc-s0", "bc", [0], [40.0], checksum=OLD_DATA)
    _run(root, "bc-s1", "bc", [1], [60.0], checksum=NEW_DATA)
    _run(root, "bc-s2", "bc", [2], [62.0], checksum=NEW_DATA)
    _run(root, "bc-old", "bc", [3], [50.0])  # recorded before checksums were: what it trained on is unknown
    runs = load_runs([root])
    assert data_checksums(runs[0].config) in ((OLD_DATA,), (NEW_DATA,), ())
    groups = group_runs(runs)
    assert sorted(groups) == [(HOP, "bc"), (HOP, "bc [data=a1b2c3d4]"), (HOP, "bc [data=f9e8d7c6]")]
    assert groups[(HOP, "bc [data=f9e8d7c6]")].seeds == [1, 2] and groups[(HOP, "bc [data=a1b2c3d4]")].seeds == [0]
    assert groups[(HOP, "bc")].seeds == [3]

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reps", "100", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "warning: Runs of the same setting trained on data with different checksums" in err
    md = (out / "report.md").read_text()
    assert "> **Warning**: Runs of the same setting trained on data with different checksums" in md
    assert "bc [data=a1b2c3d4] on `local/hopper-random-v0`" in md
    assert f"| `{HOP}` | bc [data=f9e8d7c6] | normalized | 2 | 61.00 ± 1.00 |" in md
    assert f"| `{HOP}` | bc [data=a1b2c3d4] | normalized | 1 | 40.00 |" in md


def test_runs_on_the_same_data_or_without_checksums_pool_as_before(tmp_path):
    root = tmp_path / "results"
    _run(root, "a", "bc", [0], [40.0], checksum=OLD_DATA)
    _run(root, "b", "bc", [1], [60.0], checksum=OLD_DATA)
    _run(root, "c", "bc", [2], [50.0])
    assert list(group_runs(load_runs([root]))) == [(HOP, "bc")]
    assert data_split_warning([(HOP, "bc")]) is None
    # another dataset's data is other data anyway: no token
    _run(root, "walker", "bc", [0], [30.0], dataset="local/walker2d-random-v0", checksum=NEW_DATA)
    assert sorted(label for _, label in group_runs(load_runs([root]))) == ["bc", "bc"]


def test_a_data_label_shows_as_much_of_the_checksum_as_tells_the_data_apart(tmp_path):
    root = tmp_path / "results"
    _run(root, "a", "bc", [0], [40.0], checksum="12345678" + "aa" + "0" * 54)
    _run(root, "b", "bc", [1], [60.0], checksum="12345678" + "bb" + "0" * 54)
    runs = load_runs([root])
    assert sorted(run_labels(runs).values()) == ["bc [data=12345678aa00]", "bc [data=12345678bb00]"]


def test_a_single_seed_gets_its_value_alone_not_a_certain_looking_interval(tmp_path, monkeypatch):
    """One seed a side: a bootstrap only repeats it, so `42.40 [42.40, 42.40]` and `1.00 [1.00, 1.00]` would
    look certain; the cells give the value with `(1 seed)` and the JSON no bounds."""
    root = tmp_path / "results"
    _run(root, "td3bc", "td3bc", [0], [42.4])
    _run(root, "iql", "iql", [0], [30.0])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reps", "200", "--no-plots"]) == 0
    md = (out / "report.md").read_text()
    assert "| td3bc | 42.40 (1 seed) | 42.40 (1 seed) | 42.40 (1 seed) | 57.60 (1 seed) |" in md
    assert "| td3bc | iql | 1.00 (1 seed) |" in md and "| iql | td3bc |" not in md  # each pair once
    assert "[42.40, 42.40]" not in md and "[1.00, 1.00]" not in md
    assert "one seed per dataset, so no interval" in md and "one seed a side, so no interval" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["aggregates"]["td3bc"]["IQM"] == {"point": 42.4, "lower": None, "upper": None, "seeds": 1}
    assert summary["probability_of_improvement"]["td3bc,iql"] == {"point": 1.0, "lower": None, "upper": None,
                                                                  "seeds": 1}


def test_two_seeds_keep_their_intervals(tmp_path, monkeypatch):
    root = tmp_path / "results"
    _run(root, "td3bc", "td3bc", [0, 1], [40.0, 44.0])
    _run(root, "iql", "iql", [0, 1], [30.0, 31.0])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    assert report_main([str(root), "--out", str(out), "--reps", "200", "--no-plots"]) == 0
    md = (out / "report.md").read_text()
    assert "(1 seed)" not in md and "| td3bc | iql | 1.00 [1.00, 1.00] |" in md
    iqm = json.loads((out / "summary.json").read_text())["aggregates"]["td3bc"]["IQM"]
    assert iqm["seeds"] == 2 and iqm["lower"] <= iqm["point"] <= iqm["upper"]
    np.testing.assert_allclose(iqm["point"], 42.0)
