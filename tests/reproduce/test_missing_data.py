"""Missing data and envs are named, each with the command that gets it, before anything trains."""

import pytest

from offrl.cli import main as offrl_main
from offrl.errors import DownloadError, OffrlError
from offrl.paths import results_root


def _run_folders():
    root = results_root()
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_corl_without_d4rl_files_names_each_file_and_command(tmp_path, capsys):
    rc = offrl_main(["reproduce", "corl-last", "--no-download", "--algos", "bc", "td3bc",
                     "--datasets", "hopper-medium-v2", "d4rl/walker2d-medium-replay-v2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "nothing was trained" in err and "data missing for 2 dataset(s)" in err
    for name, file in (("hopper-medium-v2", "hopper_medium-v2.hdf5"),
                       ("walker2d-medium-replay-v2", "walker2d_medium_replay-v2.hdf5")):
        line = next(ln for ln in err.splitlines() if ln.strip().startswith(f"d4rl/{name}:"))
        assert f"`offrl datasets download d4rl/{name}`" in line
        assert f"as {tmp_path / 'offrl-data' / 'd4rl' / file}" in err      # the test's own empty data root
    assert "--skip-missing" in err
    assert _run_folders() == []                                              # nothing started
    assert not (tmp_path / "r").exists()                                     # and no report of nothing


def test_a_failed_download_is_reported_with_the_command(tmp_path, capsys, monkeypatch):
    calls = []

    def offline(dataset_id, **kw):
        calls.append(dataset_id)
        raise DownloadError(f"cannot reach the server for {dataset_id} (connection refused)")

    monkeypatch.setattr("offrl.datasets.api.download_dataset", offline)
    rc = offrl_main(["reproduce", "corl-best", "--algos", "iql", "--datasets", "halfcheetah-medium-v2"])
    out, err = capsys.readouterr()
    assert rc == 2 and calls == ["d4rl/halfcheetah-medium-v2"]               # downloading was tried first
    assert "downloading d4rl/halfcheetah-medium-v2" in out
    line = next(ln for ln in err.splitlines() if "d4rl/halfcheetah-medium-v2:" in ln)
    assert "`offrl datasets download d4rl/halfcheetah-medium-v2`" in line
    assert "download failed: cannot reach the server for d4rl/halfcheetah-medium-v2" in err
    assert _run_folders() == []


def test_local_data_name_the_collect_command(capsys):
    rc = offrl_main(["reproduce", "offrl-local-v0", "--algos", "bc", "--datasets", "local/hopper-medium-expert-v0",
                     "walker2d-random-v0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "create it with `offrl collect hopper-medium-expert`" in err
    assert "create it with `offrl collect walker2d-random`" in err
    assert _run_folders() == []


def test_local_data_of_another_size_stop_the_table_before_training(capsys):
    """A `local/*` dataset collected with `--steps 2000` would stand in for the 1M-transition data the
    table's rows are defined on: named with what differs and the command that recollects it, nothing
    trained (--skip-missing does not let it through); the dry run warns."""
    from offrl.collection import collect

    collect("hopper-medium", steps=2000, minari=False, progress=False)
    argv = ["reproduce", "offrl-local-v0", "--algos", "bc", "--datasets", "hopper-medium-v0"]
    for extra in ([], ["--skip-missing"]):
        assert offrl_main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        line = next(ln for ln in err.splitlines() if ln.strip().startswith("local/hopper-medium-v0:"))
        assert "transitions 2000 (default 1000000)" in line and "`offrl collect hopper-medium --overwrite`" in line
        assert "nothing was trained" in err
        assert _run_folders() == []
    assert offrl_main([*argv, "--dry-run"]) == 0
    assert "transitions 2000 (default 1000000)" in capsys.readouterr().out


def test_skip_missing_runs_nothing_here_and_reports_each_row(tmp_path, capsys):
    out_dir = tmp_path / "report"
    rc = offrl_main(["reproduce", "dt-paper", "--no-download", "--skip-missing", "--datasets", "hopper-medium-v2",
                     "--out", str(out_dir), "--no-plots"])
    out, err = capsys.readouterr()
    assert rc == 2                                                           # rows not compared
    assert "these rows are not run (--skip-missing)" in err
    assert "SKIPPED" in out and "data missing" in out
    md = (out_dir / "dt-paper.md").read_text()
    assert "not run: data missing" in md and "`offrl datasets download d4rl/hopper-medium-v2`" in md


def test_neorl2_names_its_data_and_its_envs(capsys):
    rc = offrl_main(["reproduce", "neorl2", "--no-download", "--algos", "bc", "--datasets", "Pipeline-train"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "`offrl datasets download neorl2/Pipeline-train`" in err
    assert "neorl2:Pipeline" in err and "github.com/polixir/NeoRL2" in err


@pytest.mark.parametrize("argv, message", [
    (["corl-lst"], "did you mean 'corl-last'"),
    (["corl-last", "--algos", "bcc"], "did you mean 'bc'"),
    (["corl-last", "--datasets", "hoper-medium-v2"], "did you mean 'd4rl/hopper-medium-v2'"),
    (["dt-paper", "--quick"], "has no quick check"),
    (["corl-last", "--record"], "--record writes our own measured rows"),
    # the quick check's references on the check's own seeds: it would compare runs with themselves
    (["offrl-local-v0", "--quick", "--record"], "must come from other seeds than the check trains (0, 1, 2, 3, 4)"),
    (["offrl-local-v0", "--quick", "--record", "--seeds", "4", "100"], "(4 among the seeds to record)"),
])
def test_bad_arguments_fail_with_a_clear_line(argv, message, capsys):
    assert offrl_main(["reproduce", *argv]) == 1
    assert message in capsys.readouterr().err
    assert _run_folders() == []


def test_collect_gets_local_parts_before_their_composite(capsys, monkeypatch):
    calls = []

    def fake_collect(name, **kw):
        calls.append(name)
        raise OffrlError(f"no MuJoCo here for {name}")

    monkeypatch.setattr("offrl.collection.collect", fake_collect)
    rc = offrl_main(["reproduce", "offrl-local-v0", "--collect", "--collect-workers", "1", "--algos", "bc",
                     "--datasets", "hopper-medium-expert-v0", "hopper-medium-v0", "hopper-expert-v0"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert calls[-1] == "hopper-medium-expert" and sorted(calls[:2]) == ["hopper-expert", "hopper-medium"]
    assert "collecting local/hopper-medium-v0 (`offrl collect hopper-medium`)" in out
    line = next(ln for ln in err.splitlines() if "local/hopper-medium-expert-v0:" in ln)
    assert "`offrl collect hopper-medium-expert`" in line and "collection failed: no MuJoCo here" in line


def test_an_absent_part_of_a_composite_is_collected_with_the_other_parts(capsys, monkeypatch):
    """medium-expert alone, or with medium only: its expert part was collected inside the composite's own
    collection, alone, after the first group had finished (on a 16-core machine, 2 min of a call in which
    nothing trained). It is now collected beside medium, in the first group, and saved."""
    calls = []

    def fake_collect(name, **kw):
        calls.append((name, kw.get("steps")))
        raise OffrlError(f"no MuJoCo here for {name}")

    monkeypatch.setattr("offrl.collection.collect", fake_collect)
    rc = offrl_main(["reproduce", "offrl-local-v0", "--collect", "--collect-workers", "1", "--algos", "bc",
                     "--datasets", "hopper-medium-expert-v0", "hopper-medium-v0"])
    out = capsys.readouterr().out
    assert rc == 2
    assert [name for name, _ in calls] == ["hopper-medium", "hopper-expert", "hopper-medium-expert"]
    assert ("collecting local/hopper-expert-v0 (`offrl collect hopper-expert`, a part of "
            "local/hopper-medium-expert-v0)") in out


def test_backend_options_reach_the_sweep_launcher(tmp_path, capsys, monkeypatch):
    seen = []

    def fake_run_sweep(sweep, **kw):
        seen.append((sweep.name, [c.run_id for c in sweep.runs], kw))
        return {c.run_id: {"error": "data missing: (test)"} for c in sweep.runs}

    monkeypatch.setattr("offrl.sweep.run_sweep", fake_run_sweep)
    rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "dt", "--datasets", "hopper-medium-v2", "--no-download",
                     "--skip-missing", "--backend", "ray", "--address", "auto", "--parallel", "3", "--retries", "2",
                     "--results-dir", str(tmp_path / "shared"), "--out", str(tmp_path / "r"), "--no-plots"])
    assert rc == 2
    assert [name for name, _, _ in seen] == ["corl-mlp", "dt-corl"]          # one sweep per spec, in order
    for _, run_ids, kw in seen:
        assert len(run_ids) == 1
        assert (kw["backend"], kw["address"], kw["parallel"], kw["retries"]) == ("ray", "auto", 3, 2)
        assert kw["progress"] is None  # the launcher decides: bars only on a terminal
    md = (tmp_path / "r" / "corl-last.md").read_text()
    assert md.count("not run: data missing") == 2 and str(tmp_path / "shared") in md


def test_no_progress_reaches_the_launcher_and_the_data_collection(tmp_path, capsys, monkeypatch):
    """`--no-progress`, as `offrl sweep --no-progress`: no bar from the runs nor from getting their data."""
    seen = []
    monkeypatch.setattr("offrl.sweep.run_sweep", lambda sweep, **kw: seen.append(("runs", kw["progress"])) or {})

    def fake_collect(name, **kw):
        seen.append(("collect", kw.get("progress")))
        raise OffrlError(f"no MuJoCo here for {name}")

    monkeypatch.setattr("offrl.collection.collect", fake_collect)
    offrl_main(["reproduce", "offrl-local-v0", "--collect", "--collect-workers", "1", "--algos", "bc", "--datasets",
                "hopper-medium-v0", "--skip-missing", "--no-progress", "--out", str(tmp_path / "r"), "--no-plots"])
    assert ("collect", False) in seen and ("runs", False) in seen, seen


def test_the_quick_dry_run_says_its_data_come_by_themselves(capsys):
    """The quick check collects its own data on first use: its dry run says so beside the plan's DATA MISSING,
    and collects nothing."""
    assert offrl_main(["reproduce", "offrl-local-v0", "--quick", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "DATA MISSING" in out and "collected into" in out and "needs nothing from you" in out
    assert "(local/hopper-medium-20k-v0: 20,000 transitions of `offrl collect hopper-medium`" in out
    assert _run_folders() == []
