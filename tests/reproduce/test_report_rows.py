"""Rows read back from run folders, the side-by-side report and the exit code, end to end through
`offrl reproduce ... --no-train` on finished runs written by hand (no training)."""

import json
from pathlib import Path

import pytest

from offrl.cli import main as offrl_main
from offrl.evaluation.results import published_rows
from offrl.provenance import machine_card
from offrl.reproduce.cli import build_sweeps
from offrl.reproduce.targets import Context, get_target, select_runs
from offrl.reproduce.verdict import Tolerance, chance_rates
from offrl.sweep import load_sweep


def _runs(target, **select):
    t = get_target(target)
    return [c for s in select_runs(build_sweeps(t.specs(Context())), **select) for c in s.runs]


def _report(tmp_path, target):
    return json.loads((tmp_path / "out" / f"{target}.json").read_text())


def test_consistent_and_lower_rows_set_the_exit_code(tmp_path, finished_run, capsys):
    # CORL last: bc hopper-medium-v2 53.51 ± 1.76, td3bc hopper-medium-v2 60.37 ± 3.49
    bc, td3bc = _runs("corl-last", algos=("bc", "td3bc"), datasets=("hopper-medium-v2",))
    finished_run(bc, [52.0, 54.5, 53.0, 55.0])
    finished_run(td3bc, [60.0, 61.5, 58.0, 62.0])
    argv = ["reproduce", "corl-last", "--algos", "bc", "td3bc", "--datasets", "hopper-medium-v2", "--no-train",
            "--out", str(tmp_path / "out"), "--reps", "2000"]
    assert offrl_main(argv) == 0
    out = capsys.readouterr().out
    assert "2 rows: 2 consistent" in out and "0 lower" in out
    rows = _report(tmp_path, "corl-last")["rows"]
    assert [(r["algo"], r["score"], r["verdict"]) for r in rows] == [("bc", "last", "consistent"),
                                                                     ("td3bc", "last", "consistent")]
    assert rows[0]["mean"] == pytest.approx(53.625) and rows[0]["reference"]["mean"] == 53.51
    assert rows[0]["ci_low"] < 53.51 < rows[0]["ci_high"]
    md = (tmp_path / "out" / "corl-last.md").read_text()
    assert "Rule: consistent when the reference mean lies inside our 95% bootstrap CI" in md
    assert "| bc | `d4rl/hopper-medium-v2` | last | 53.62 [" in md and "53.51 ± 1.76" in md
    _, lower = chance_rates(4, 4, Tolerance())                # CORL's 4 seeds against our 4, 1 std
    assert f"4 seeds against the reference's 4 (2 rows): {lower:.1%} lower" in md
    assert (tmp_path / "out" / "corl-last.png").stat().st_size > 5000

    # a regression: td3bc falls well below CORL's 60.37 ± 3.49
    finished_run(td3bc, [40.0, 42.0, 41.0, 39.0])
    assert offrl_main(argv) == 1
    out = capsys.readouterr().out
    assert "1 lower" in out and "lower      td3bc" in out
    md = (tmp_path / "out" / "corl-last.md").read_text()
    assert "Lower than the reference beyond the tolerance:" in md and "td3bc on `d4rl/hopper-medium-v2` (last)" in md


def test_best_target_reads_the_best_scores_and_gaps_exit_2(tmp_path, finished_run, capsys):
    # CORL best: iql walker2d-medium-v2 87.58 ± 0.48; cql walker2d-medium-v2 has no run here
    iql, cql = _runs("corl-best", algos=("iql", "cql"), datasets=("walker2d-medium-v2",))
    finished_run(iql, last=[70.0, 72.0, 71.0, 69.0], best=[95.0, 96.0, 94.0, 97.0])
    rc = offrl_main(["reproduce", "corl-best", "--algos", "iql", "cql", "--datasets", "walker2d-medium-v2",
                     "--no-train", "--out", str(tmp_path / "out"), "--no-plots", "--reps", "500"])
    assert rc == 2                                            # one row not compared
    rows = {r["algo"]: r for r in _report(tmp_path, "corl-best")["rows"]}
    assert rows["iql"]["score"] == "best" and rows["iql"]["mean"] == pytest.approx(95.5)
    assert rows["iql"]["verdict"] == "higher"
    assert rows["cql"]["verdict"] is None and rows["cql"]["status"] == "not finished (not started)"
    assert not (tmp_path / "out" / "corl-best.png").exists()
    assert "1 higher, 0 lower, 1 not compared" in capsys.readouterr().out


def test_dt_paper_uses_its_wider_band(tmp_path, finished_run, capsys):
    # dt-paper hopper-medium-v2 67.6 ± 1.0: band max(2 x 1.0, 3) = 3 points; 64.8 is within it
    (run,) = _runs("dt-paper", datasets=("hopper-medium-v2",))
    finished_run(run, [64.5, 65.0, 64.9])
    rc = offrl_main(["reproduce", "dt-paper", "--datasets", "hopper-medium-v2", "--no-train", "--no-plots",
                     "--out", str(tmp_path / "out"), "--reps", "500"])
    rep = _report(tmp_path, "dt-paper")
    assert rc == 0 and rep["rows"][0]["verdict"] == "consistent" and rep["rows"][0]["comparison"]["by"] == ["std"]
    assert "max(2 x its std, 3 points)" in rep["rule"]
    # the paper's 3 seeds (the target's, the csv line names none) against our 3; with a points floor the
    # simulated rates (band of 2 stds alone) are upper bounds
    flagged, lower = chance_rates(3, 3, Tolerance(std_multiple=2.0))
    assert rep["chance"]["pairs"] == [{"ours_seeds": 3, "reference_seeds": 3, "rows": 1, "not_consistent": flagged,
                                       "lower": lower}] and rep["chance"]["upper_bound"]
    assert f"at most {lower:.1%} lower" in (tmp_path / "out" / "dt-paper.md").read_text()
    # the band is an option: one std, no floor, and the same row is lower
    rc = offrl_main(["reproduce", "dt-paper", "--datasets", "hopper-medium-v2", "--no-train", "--no-plots",
                     "--out", str(tmp_path / "out"), "--reps", "500", "--std-multiple", "1", "--min-points", "0"])
    assert rc == 1 and _report(tmp_path, "dt-paper")["rows"][0]["verdict"] == "lower"


def test_local_table_records_its_rows_and_compares_a_second_run(tmp_path, finished_run, capsys):
    csv_path, page = tmp_path / "published_scores.csv", tmp_path / "reproduce.md"
    csv_path.write_text("source,algo,dataset,mean,std\ncorl-last,bc,hopper-medium-v2,53.51,1.76\n")
    page.write_text("<!-- reproduce:offrl-local-v0 -->\n<!-- /reproduce:offrl-local-v0 -->\n")
    sel = dict(algos=("td3bc",), datasets=("local/hopper-medium-v0",))
    (run,) = _runs("offrl-local-v0", **sel)
    finished_run(run, last=[55.0, 60.0, 52.0, 58.0, 50.0], best=[70.0, 72.0, 69.0, 75.0, 71.0],
                 checksum="sha256:first")
    base = ["reproduce", "offrl-local-v0", "--algos", "td3bc", "--datasets", "local/hopper-medium-v0", "--no-train",
            "--no-plots", "--reps", "500", "--reference-csv", str(csv_path)]
    rc = offrl_main([*base, "--out", str(tmp_path / "o1"), "--record", "--csv", str(csv_path), "--docs", str(page),
                     "--card", "1x NVIDIA H200"])
    assert rc == 0                                            # recording: no reference yet is not a gap
    assert "recorded 2 row(s) of offrl-local-v0" in capsys.readouterr().out
    table = page.read_text()
    assert "| `local/hopper-medium-v0` | td3bc | 55.00 ± 3.69 [" in table and "| 1x NVIDIA H200 |" in table

    # a second, independent run (other seeds, another results folder) against the recorded rows
    other = ["--seeds", "5", "6", "7", "8", "9", "--results-dir", str(tmp_path / "second")]
    (run2,) = [c for s in select_runs(build_sweeps(get_target("offrl-local-v0").specs(Context()), seeds=(5, 6, 7, 8, 9),
                                                   results_dir=tmp_path / "second"), **sel) for c in s.runs]
    assert run2.run_id != run.run_id
    finished_run(run2, last=[57.0, 53.0, 59.0, 51.0, 56.0], best=[71.0, 73.0, 70.0, 72.0, 74.0],
                 checksum="sha256:other")
    rc = offrl_main([*base, *other, "--out", str(tmp_path / "o2")])
    rows = json.loads((tmp_path / "o2" / "offrl-local-v0.json").read_text())["rows"]
    assert rc == 0 and [(r["score"], r["verdict"]) for r in rows] == [("last", "consistent"), ("best", "consistent")]
    assert rows[0]["reference"]["card"] == "1x NVIDIA H200" and rows[0]["reference"]["seeds"] == "5"
    md = (tmp_path / "o2" / "offrl-local-v0.md").read_text()
    assert "checksum differs from the data of the reference" in md   # regenerated data that differ are flagged
    # what seed noise alone would do to these two rows under the target's band (2 reference stds)
    flagged, lower = chance_rates(5, 5, get_target("offrl-local-v0").tolerance)
    chance = json.loads((tmp_path / "o2" / "offrl-local-v0.json").read_text())["chance"]
    assert chance["pairs"] == [{"ours_seeds": 5, "reference_seeds": 5, "rows": 2, "not_consistent": flagged,
                                "lower": lower}]
    assert chance["expected_lower"] == pytest.approx(2 * lower) and not chance["upper_bound"]
    assert (f"5 seeds against the reference's 5 (2 rows): {lower:.1%} lower, {flagged:.1%} not consistent" in md
            and f"expected to have {2 * lower:.1f} lower" in md)


def test_rows_recorded_later_or_elsewhere_keep_their_runs_code_machine_and_date(tmp_path, finished_run, capsys):
    """Runs finished by an earlier command on other code and another machine, recorded here from copies of
    their folders (a copy has new file times): each row names the run's own code, machine and finish date;
    a run made before runs wrote their finish time keeps the date its line was first recorded with."""
    import os

    csv_path, page = tmp_path / "published_scores.csv", tmp_path / "reproduce.md"
    csv_path.write_text("source,algo,dataset,mean,std\n")
    page.write_text("<!-- reproduce:offrl-local-v0 -->\n<!-- /reproduce:offrl-local-v0 -->\n")
    (td3bc,) = _runs("offrl-local-v0", algos=("td3bc",), datasets=("local/hopper-medium-v0",))
    (iql,) = _runs("offrl-local-v0", algos=("iql",), datasets=("local/hopper-medium-v0",))
    finished_run(td3bc, [55.0, 60.0, 52.0, 58.0, 50.0], code={"source": "aaaaaaaaaaaa", "git": "git 1111111111"},
                 machine="1x NVIDIA H100 80GB HBM3", finished_at="2026-12-06T23:59:30Z")
    old = finished_run(iql, [61.0, 62.0, 60.0, 63.0, 64.0])          # no code stamp, machine or finish time
    os.utime(old / "final.json", (1_790_000_000, 1_790_000_000))   # finished 2026-09-21 (its file's time)
    argv = ["reproduce", "offrl-local-v0", "--algos", "td3bc", "iql", "--datasets", "local/hopper-medium-v0",
            "--no-train", "--no-plots", "--reps", "200", "--reference-csv", str(csv_path), "--record", "--csv",
            str(csv_path), "--docs", str(page)]
    assert offrl_main([*argv, "--out", str(tmp_path / "o1")]) == 0
    capsys.readouterr()
    rows = {r["algo"]: r for r in published_rows(csv_path) if r["score"] == "last"}
    assert rows["td3bc"]["code_version"] == "offrl 0.1.0 (git 1111111111)"   # the run's code, not this checkout's
    assert rows["td3bc"]["card"] == "1x NVIDIA H100 80GB HBM3" and rows["td3bc"]["date"] == "2026-12-06"
    assert rows["iql"]["card"] == machine_card() and rows["iql"]["date"] == "2026-09-21"   # nothing named: here, file
    first = csv_path.read_text()

    # the folders copied elsewhere (new file times) and recorded again by another command: no line changes
    os.utime(old / "final.json", None)
    os.utime(Path(td3bc.results_dir) / td3bc.run_id / "final.json", None)
    assert offrl_main([*argv, "--out", str(tmp_path / "o2")]) == 0
    assert csv_path.read_text() == first
    # --card names the machine for every row it records (a row whose measurement changed)
    finished_run(td3bc, [56.0, 60.0, 52.0, 58.0, 50.0], machine="1x NVIDIA H100 80GB HBM3",
                 finished_at="2026-12-07T00:00:01Z")
    assert offrl_main([*argv, "--out", str(tmp_path / "o3"), "--card", "1x NVIDIA H200"]) == 0
    rows = {r["algo"]: r for r in published_rows(csv_path) if r["score"] == "last"}
    td3bc_row = (rows["td3bc"]["card"], rows["td3bc"]["date"], rows["td3bc"]["mean"])
    assert td3bc_row == ("1x NVIDIA H200", "2026-12-07", 55.2)
    assert (rows["iql"]["date"], rows["iql"]["card"]) == ("2026-09-21", machine_card())   # its line kept


def test_reproduce_shares_run_ids_with_offrl_sweep(tmp_path):
    from offrl.reproduce.targets import sweeps_dir

    ours = {c.run_id for c in _runs("offrl-local-v0", algos=("cql",))}
    theirs = set(load_sweep(sweeps_dir() / "offrl_local_v0_cql.yaml").run_ids)
    assert ours == theirs and len(ours) == 9


def test_an_unreadable_run_is_reported_and_the_others_still_judged(tmp_path, finished_run, capsys):
    bc, td3bc = _runs("corl-last", algos=("bc", "td3bc"), datasets=("hopper-medium-v2",))
    finished_run(bc, [52.0, 54.5, 53.0, 55.0])
    broken = finished_run(td3bc, [60.0, 61.5, 58.0, 62.0])
    (broken / "final.json").write_text('{"run_id": "cut off')
    rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "td3bc", "--datasets", "hopper-medium-v2",
                     "--no-train", "--no-plots", "--out", str(tmp_path / "out"), "--reps", "500"])
    rows = {r["algo"]: r for r in _report(tmp_path, "corl-last")["rows"]}
    assert rc == 2 and rows["bc"]["verdict"] == "consistent"
    assert rows["td3bc"]["verdict"] is None and rows["td3bc"]["status"].startswith("unreadable results:")
    assert "not valid JSON" in rows["td3bc"]["status"]


def test_a_mistyped_option_exits_1_not_the_incomplete_code_2(tmp_path, capsys):
    """A regression gate reading exit 2 as 'nothing lower, some row not compared' must not pass a typo."""
    assert offrl_main(["reproduce", "dt-paper", "--no-train", "--std-multipl", "2",
                       "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


def test_seeds_column_counts_the_seeds_behind_the_mean(tmp_path, finished_run, capsys):
    (bc,) = _runs("corl-last", algos=("bc",), datasets=("hopper-medium-v2",))
    finished_run(bc, [52.0, float("nan"), 53.0, 55.0])
    argv = ["reproduce", "corl-last", "--algos", "bc", "--datasets", "hopper-medium-v2", "--no-train",
            "--out", str(tmp_path / "out"), "--reps", "500"]
    offrl_main(argv)
    (row,) = _report(tmp_path, "corl-last")["rows"]
    assert row["mean"] == pytest.approx(160 / 3) and len(row["seeds"]) == 3
    assert "| 3 | " in (tmp_path / "out" / "corl-last.md").read_text()


def test_an_interrupted_call_reports_and_records_the_runs_finished_before_it(tmp_path, finished_run, capsys,
                                                                           monkeypatch):
    """A job stopped by its time limit (SIGINT) once left no report and recorded nothing, although some of
    its runs had finished: their rows were recorded only by a later call that completed."""
    import offrl.sweep

    csv_path, page = tmp_path / "published_scores.csv", tmp_path / "reproduce.md"
    csv_path.write_text("source,algo,dataset,mean,std\ncorl-last,bc,hopper-medium-v2,53.51,1.76\n")
    page.write_text("<!-- reproduce:offrl-local-v0 -->\n<!-- /reproduce:offrl-local-v0 -->\n")
    done, _ = _runs("offrl-local-v0", algos=("td3bc",), datasets=("local/hopper-medium-v0",
                                                                  "local/hopper-medium-replay-v0"))
    finished_run(done, last=[55.0, 60.0, 52.0, 58.0, 50.0], best=[70.0, 72.0, 69.0, 75.0, 71.0])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(offrl.sweep, "run_sweep", interrupted)
    rc = offrl_main(["reproduce", "offrl-local-v0", "--algos", "td3bc", "--datasets", "local/hopper-medium-v0",
                     "local/hopper-medium-replay-v0", "--skip-missing", "--no-plots", "--reps", "500",
                     "--reference-csv", str(csv_path), "--out", str(tmp_path / "o"), "--record", "--csv",
                     str(csv_path), "--docs", str(page), "--card", "1x NVIDIA H100"])
    assert rc == 130
    out = capsys.readouterr().out
    assert "interrupted; finished runs are kept" in out and "recorded 2 row(s) of offrl-local-v0" in out
    rows = json.loads((tmp_path / "o" / "offrl-local-v0.json").read_text())["rows"]
    assert [(r["dataset"], r["score"], r["mean"]) for r in rows[:2]] == [
        ("local/hopper-medium-v0", "last", 55.0), ("local/hopper-medium-v0", "best", 71.4)]
    assert all(r["status"].startswith("not finished") and r["mean"] is None for r in rows[2:]), rows[2:]
    assert "| `local/hopper-medium-v0` | td3bc | 55.00 ± 3.69 [" in page.read_text()


def test_an_interrupt_while_reporting_waits_for_the_report_and_the_records(tmp_path, finished_run, capsys,
                                                                         monkeypatch):
    """A job's time limit reached just as its last run finished (SIGINT while the report was being written)
    once cut the call before it recorded anything: the finished runs' rows were lost."""
    import os
    import signal

    import offrl.reproduce.report as report

    csv_path, page = tmp_path / "published_scores.csv", tmp_path / "reproduce.md"
    csv_path.write_text("source,algo,dataset,mean,std\ncorl-last,bc,hopper-medium-v2,53.51,1.76\n")
    page.write_text("<!-- reproduce:offrl-local-v0 -->\n<!-- /reproduce:offrl-local-v0 -->\n")
    (done,) = _runs("offrl-local-v0", algos=("iql",), datasets=("local/hopper-medium-v0",))
    finished_run(done, last=[55.0, 60.0, 52.0, 58.0, 50.0], best=[70.0, 72.0, 69.0, 75.0, 71.0])
    real_write_report = report.write_report

    def write_report_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the time limit, in the middle of the report
        return real_write_report(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", write_report_interrupted)
    rc = offrl_main(["reproduce", "offrl-local-v0", "--algos", "iql", "--datasets", "local/hopper-medium-v0",
                     "--no-train", "--no-plots", "--reps", "500", "--reference-csv", str(csv_path), "--out",
                     str(tmp_path / "o"), "--record", "--csv", str(csv_path), "--docs", str(page), "--card",
                     "1x NVIDIA H100"])
    assert rc == 130
    out = capsys.readouterr().out
    assert "SIGINT: stopping once the report is written and the finished runs recorded" in out
    assert "recorded 2 row(s) of offrl-local-v0" in out
    recorded = [ln for ln in csv_path.read_text().splitlines() if ln.startswith("offrl-local-v0,iql,")]
    assert [ln.split(",")[3:6] for ln in recorded] == [["55.00", "3.69", "last"], ["71.40", "2.06", "best"]]
    assert "| `local/hopper-medium-v0` | iql | 55.00 ± 3.69 [" in page.read_text()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back afterwards
