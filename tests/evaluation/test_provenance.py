"""Which code made a run: the source digest, the stamp in config.json (kept across a resume on other
code), and what `offrl report` says about runs of other code (the continual report's and `offrl sweep
plan`'s side: tests/continual/test_report.py, tests/sweep/test_sweep_spec.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from offrl import provenance
from offrl.logging import RunLogger
from offrl.reproduce.record import code_version

REPO = Path(__file__).resolve().parents[2]
A = {"source": "aaaaaaaaaaaa", "git": "git 1111111111"}  # two stamps of other code
B = {"source": "bbbbbbbbbbbb"}


def test_tree_digest_follows_the_python_source_only(tmp_path):
    a = tmp_path / "a"
    (a / "pkg" / "__pycache__").mkdir(parents=True)
    (a / "top.py").write_text("x = 1\n")
    (a / "pkg" / "mod.py").write_text("y = 2\n")
    (a / "pkg" / "data.csv").write_text("1,2\n")
    (a / "pkg" / "__pycache__" / "mod.cpython-311.py").write_text("compiled")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert provenance.tree_digest(a) == provenance.tree_digest(b) and len(provenance.tree_digest(a)) == 12
    (b / "pkg" / "data.csv").write_text("3,4\n")  # data and caches are not code
    (b / "pkg" / "__pycache__" / "mod.cpython-311.py").write_text("other")
    assert provenance.tree_digest(a) == provenance.tree_digest(b)
    (b / "pkg" / "mod.py").write_text("y = 3\n")
    assert provenance.tree_digest(a) != provenance.tree_digest(b)
    (b / "pkg" / "mod.py").write_text("y = 2\n")
    (b / "pkg" / "mod.py").rename(b / "pkg" / "other.py")  # the same bytes under another name
    assert provenance.tree_digest(a) != provenance.tree_digest(b)
    # the package's own digest is that of offrl/
    assert provenance.source_digest() == provenance.tree_digest(REPO / "offrl")


def test_stamp_outside_a_git_checkout_is_the_source_digest(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "offrl", copy / "offrl", ignore=shutil.ignore_patterns("__pycache__"))
    code = "from offrl import provenance as p; import json; print(json.dumps(p.code_stamp()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)}).stdout
    assert json.loads(out) == {"source": provenance.source_digest()}  # equal code, no git commit to name
    assert provenance.git_version(tmp_path) == ""
    assert provenance.checkout_version() in (provenance.git_version(), f"source {provenance.source_digest()}")
    code = "from offrl import provenance as p; print(p.checkout_version())"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)}).stdout.strip()
    assert out == f"source {provenance.source_digest()}"
    assert code_version(["0.1.0"], git=out) == f"offrl 0.1.0 ({out})"
    assert provenance.code_label(A) == "source aaaaaaaaaaaa (git 1111111111)"
    assert provenance.code_label(B) == "source bbbbbbbbbbbb" and provenance.code_label(None) == "not recorded"


def test_config_records_the_code_and_a_resume_on_other_code_keeps_its_start(tmp_path, monkeypatch):
    config = {"algo": "bc", "dataset": "d4rl/hopper-medium-v2", "algo_config": {}, "train_config": {}}
    run = tmp_path / "run"
    RunLogger(run, config, [0], use_wandb=False).write_config()
    assert json.loads((run / "config.json").read_text())["code"] == provenance.code_stamp()

    def resume_with(stamp):
        monkeypatch.setattr(provenance, "code_stamp", lambda: stamp)
        RunLogger(run, config, [0], resume=True, use_wandb=False).write_config()
        return json.loads((run / "config.json").read_text())

    start = provenance.code_stamp()
    same = resume_with(start)
    assert same["code"] == start and "code_resumed_with" not in same
    other = resume_with(B)
    assert other["code"] == start and other["code_resumed_with"] == [B]
    again = resume_with(B)  # the same later code is listed once
    assert again["code"] == start and again["code_resumed_with"] == [B]
    assert resume_with(A)["code_resumed_with"] == [B, A]
    # a run from before stamps takes the first code that resumes it
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({**config, "run_id": "old", "seeds": [0], "offrl_version": "0.1.0"}))
    monkeypatch.setattr(provenance, "code_stamp", lambda: A)
    RunLogger(old, config, [0], resume=True, use_wandb=False).write_config()
    cfg = json.loads((old / "config.json").read_text())
    assert cfg["code"] == A and "code_resumed_with" not in cfg


def test_code_versions_names_each_version_and_its_runs():
    summary, warning = provenance.code_versions({"r1": {"code": A}, "r2": {"code": A}})
    assert warning is None and summary == {"versions": {"source aaaaaaaaaaaa (git 1111111111)": ["r1", "r2"]},
                                           "resumed_on_other_code": []}
    summary, warning = provenance.code_versions({"r1": {"code": A}, "r2": {"code": B}, "r0": {},
                                                 "r3": {"code": A, "code_resumed_with": [B]}})
    assert summary["versions"] == {"not recorded": ["r0"], "source aaaaaaaaaaaa (git 1111111111)": ["r1", "r3"],
                                   "source bbbbbbbbbbbb": ["r2"]}
    assert summary["resumed_on_other_code"] == ["r3"]
    assert warning.startswith("The runs come from 3 code versions: not recorded (1 run), source aaaaaaaaaaaa "
                              "(git 1111111111) (2 runs), source bbbbbbbbbbbb (1 run); 1 run resumed on other "
                              "code than it started with (r3).")


def test_stamp_version_is_checkout_versions_form_of_a_recorded_stamp():
    assert provenance.stamp_version(A) == "git 1111111111"            # the commit where the run had one
    assert provenance.stamp_version(B) == "source bbbbbbbbbbbb"       # else the source digest
    assert provenance.stamp_version({}) == provenance.stamp_version(None) == ""


def test_report_of_training_runs_warns_too(tmp_path, monkeypatch, capsys):
    from offrl.report import main as report_main

    root = tmp_path / "results"
    for name, algo, stamp in (("bc-h", "bc", A), ("td3bc-h", "td3bc", B)):
        monkeypatch.setattr(provenance, "code_stamp", lambda stamp=stamp: stamp)
        log = RunLogger(root / name, {"algo": algo, "dataset": "d4rl/hopper-medium-v2", "algo_config": {},
                                      "train_config": {"steps": 100, "hp": []}}, [0, 1], use_wandb=False)
        log.write_config()
        scores = np.array([[40.0, 50.0], [42.0, 52.0]])
        log.log(100, {"normalized_score": scores[:, 1], "return_mean": scores[:, 1]}, kind="eval")
        log.finish({"eval_steps": [50, 100], "steps": 100,
                    "normalized_score": {"last": scores[:, 1], "best": scores.max(1), "curve": scores},
                    "return": {"last": scores[:, 1], "best": scores.max(1), "curve": scores}})
    monkeypatch.chdir(tmp_path)
    assert report_main([str(root), "--out", str(tmp_path / "rep"), "--reps", "50", "--profile-reps", "20",
                        "--no-plots"]) == 0
    assert "warning: The runs come from 2 code versions" in capsys.readouterr().err
    assert "> **Warning**: The runs come from 2 code versions" in (tmp_path / "rep" / "report.md").read_text()
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["code_versions"]["versions"]["source bbbbbbbbbbbb"] == ["td3bc-h"]


def test_runs_of_one_source_digest_are_one_code_version_whatever_their_commits():
    """The same offrl source under two commits (one checkout with uncommitted changes elsewhere): one version,
    no warning; the git commit decides only where no digest is recorded."""
    clean = {"source": "aaaaaaaaaaaa", "git": "git 1111111111"}
    dirty = {"source": "aaaaaaaaaaaa", "git": "git 2222222222+dirty"}
    summary, warning = provenance.code_versions({"r1": {"code": clean}, "r2": {"code": dirty}})
    assert warning is None
    assert summary["versions"] == {"source aaaaaaaaaaaa (git 1111111111, git 2222222222+dirty)": ["r1", "r2"]}
    # no digest recorded: the commit tells versions apart, and a clean one joins the digest seen with it
    summary, warning = provenance.code_versions({"r1": {"code": clean}, "r0": {"code": {"git": "git 1111111111"}},
                                                 "r3": {"code": {"git": "git 3333333333"}}})
    assert summary["versions"] == {"source aaaaaaaaaaaa (git 1111111111)": ["r0", "r1"], "git 3333333333": ["r3"]}
    assert warning.startswith("The runs come from 2 code versions")
    # resumed on a dirty checkout of the same source: not other code
    summary, warning = provenance.code_versions({"r1": {"code": clean, "code_resumed_with": [dirty]}})
    assert summary["resumed_on_other_code"] == [] and warning is None
    summary, _ = provenance.code_versions({"r1": {"code": clean, "code_resumed_with": [dirty, B]}})
    assert summary["resumed_on_other_code"] == ["r1"]
