"""`offrl reproduce --start-within SECONDS`: no run starts after that time; the rows of the runs left say "not
started", the exit status says the table is incomplete, and the same command without it trains them."""

import json
import os

import pytest

from offrl.cli import main as offrl_main
from offrl.reproduce.verdict import EXIT_INCOMPLETE


@pytest.mark.slow  # the rerun trains BC's quick row (5 seeds, 3k steps): about a minute on 2 cores
def test_runs_left_after_the_start_time_are_reported_not_started(tmp_path, capsys):
    out_dir = tmp_path / "report"
    argv = ["reproduce", "offrl-local-v0", "--quick", "--algos", "bc", "--out", str(out_dir), "--no-plots",
            "--start-within", "0"]
    assert offrl_main(argv) == EXIT_INCOMPLETE
    out = capsys.readouterr().out
    assert "NOT STARTED" in out and "metrics are recorded" not in out
    rows = json.loads((out_dir / "offrl-local-v0-quick.json").read_text())["rows"]
    assert [r["score"] for r in rows] == ["last", "best"]
    for r in rows:
        assert r["verdict"] is None and r["status"].startswith("not started (--start-within)"), r
    results = os.environ["OFFRL_RESULTS_DIR"]
    assert not any(name == "final.json" for _, _, files in os.walk(results) for name in files)

    # the same command without the limit trains them: not starting left nothing behind that stops a run
    assert offrl_main(argv[:-2]) in (0, 1)
    rows = json.loads((out_dir / "offrl-local-v0-quick.json").read_text())["rows"]
    assert all(r["verdict"] in ("consistent", "higher", "lower") and len(r["scores"]) == 5 for r in rows), rows


def test_a_negative_start_time_is_refused_before_anything_runs(capsys):
    argv = ["reproduce", "offrl-local-v0", "--quick", "--start-within", "-5"]
    assert offrl_main(argv) != 0
    err = capsys.readouterr().err
    assert "--start-within -5.0: give the seconds after the start (>= 0)" in err
    assert not os.path.exists(os.path.join(os.environ["OFFRL_DATA_DIR"], "local"))
