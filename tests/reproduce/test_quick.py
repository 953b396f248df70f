"""`offrl reproduce offrl-local-v0 --quick`: the CPU regression gate, run for real.

It collects its 20k-transition hopper-medium data in this test's own data root, trains BC and TD3+BC
(5 seeds, 3k steps, 64x64 networks) through the sweep launcher and compares them with the shipped
quick references; a second invocation finds both runs finished and trains nothing.
"""

import json

import pytest

from offrl.cli import main as offrl_main
from offrl.evaluation.results import published_rows


@pytest.mark.slow  # ~1-3 min on 2 cores: data collection, two short trainings and their evaluations
def test_quick_check_is_consistent_and_resumes(tmp_path, capsys):
    out_dir = tmp_path / "report"
    argv = ["reproduce", "offrl-local-v0", "--quick", "--out", str(out_dir)]
    assert offrl_main(argv) == 0
    first = capsys.readouterr().out
    assert "collecting the quick check's data" in first and "2 to run in this process" in first
    report = json.loads((out_dir / "offrl-local-v0-quick.json").read_text())
    rows = report["rows"]
    assert [(r["algo"], r["score"]) for r in rows] == [("bc", "last"), ("bc", "best"), ("td3bc", "last"),
                                                       ("td3bc", "best")]
    for r in rows:
        assert r["verdict"] == "consistent", r
        assert r["seeds"] == [0, 1, 2, 3, 4] and r["steps"] == 3000 and len(r["scores"]) == 5
        assert r["reference"]["source"] == "offrl-local-v0-quick" and int(r["reference"]["seeds"]) >= 10
        assert r["dataset"] == "local/hopper-medium-20k-v0"
        # the check trains on seeds the references were not recorded on
        assert r["reference"]["command"] and "--seeds" in r["reference"]["command"]
    assert (out_dir / "offrl-local-v0-quick.png").stat().st_size > 5000
    assert "4 rows: 4 consistent" in (out_dir / "offrl-local-v0-quick.md").read_text()

    # a rerun skips the finished runs (nothing is collected or trained again) and judges the same rows
    assert offrl_main(argv) == 0
    second = capsys.readouterr().out
    assert "2 already finished" in second and "collecting" not in second and "metrics are recorded" not in second
    again = json.loads((out_dir / "offrl-local-v0-quick.json").read_text())["rows"]
    assert [r["scores"] for r in again] == [r["scores"] for r in rows]


def test_quick_references_ship_with_the_package():
    rows = [r for r in published_rows() if r["source"] == "offrl-local-v0-quick"]
    assert sorted((r["algo"], r["score"]) for r in rows) == [("bc", "best"), ("bc", "last"), ("td3bc", "best"),
                                                             ("td3bc", "last")]
    for r in rows:
        assert r["dataset"] == "local/hopper-medium-20k-v0" and r["steps"] == "3000"
        assert r["card"].startswith("CPU") and r["date"] and r["code_version"].startswith("offrl ")
        assert r["std"] > 0 and float(r["ci_low"]) < r["mean"] < float(r["ci_high"])
        assert r["data_checksum"].startswith("sha256:")
