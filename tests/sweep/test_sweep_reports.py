"""What the launcher and `offrl sweep plan` say about each run: a failed run's last failure (kept in its
folder until it finishes), a run another process finished while this launcher waited for it, runs that
resume from their checkpoints, runs without their data."""

import dataclasses
import json
import os
import shutil
import threading

import pytest
from sweeptools import REPO, damaged_toy, toy_data, wait_for, write_sweep

from offrl.cli import main
from offrl.runlock import RunLock
from offrl.sweep import load_sweep, run_sweep
from offrl.sweep.plan import FAILURE_NAME


@pytest.mark.parametrize("options", [[], ["--parallel", "2", "--gpus", ""]], ids=["in-process", "child-processes"])
def test_a_failed_run_is_shown_failed_with_its_error_until_it_finishes(tmp_path, monkeypatch, capsys, options):
    toy_data()
    repair = damaged_toy()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    f = write_sweep(tmp_path / "s.yaml", steps=100, datasets=("local/toy-a-v0", "local/toy-bad-v0"))
    res = tmp_path / "res"
    fine, broken = load_sweep(f, results_dir=res).runs
    assert main(["sweep", str(f), "--results-dir", str(res), *options]) == 1
    assert "1 finished, 1 failed" in capsys.readouterr().out
    record = json.loads((res / broken.run_id / FAILURE_NAME).read_text())
    assert record["error"].startswith("DataIntegrityError: ") and record["attempts"] == 1
    assert not record["unexpected"] and not (res / fine.run_id / FAILURE_NAME).exists()

    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("2 ")]
    status = row[row.index("failed (attempt 1): "):]
    # the error's type and the start of its message, cut short (the whole message is in the record)
    assert status.startswith("failed (attempt 1): DataIntegrityError: ") and status.split("  ")[0].endswith("...")
    assert len(status.split("  ")[0]) < len(f"failed (attempt 1): {record['error']}")
    assert "1 finished, 1 pending; 1 failed when last run" in out and "pending  " not in row

    repair()
    assert main(["sweep", str(f), "--results-dir", str(res), *options]) == 0
    assert not (res / broken.run_id / FAILURE_NAME).exists()
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    assert "failed (attempt" not in out and "2 finished" in out


def test_an_unexpected_failure_is_recorded_with_its_last_attempt_and_a_finished_run_ignores_it(tmp_path, capsys):
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    real = sweep.kind.run
    broken = {"local/toy-a-v0"}

    def flaky(config):
        if config.dataset in broken:
            raise RuntimeError("device fell over " + "x" * 200)
        return real(config)

    sweep.kind = dataclasses.replace(sweep.kind, run=flaky)
    run_sweep(sweep, retries=1)
    folder = tmp_path / "res" / sweep.runs[0].run_id
    record = json.loads((folder / FAILURE_NAME).read_text())
    assert record["attempts"] == 2 and record["unexpected"] and record["error"].startswith("RuntimeError: device")
    broken.clear()
    run_sweep(sweep)
    assert not (folder / FAILURE_NAME).exists() and (folder / "final.json").exists()
    # a record left behind (a run finished by `offrl train`) is not shown for a finished run
    (folder / FAILURE_NAME).write_text(json.dumps(record))
    from offrl.sweep.plan import format_plan, run_states

    assert "failed" not in format_plan(sweep, run_states(sweep), cpu=False).split("\n2 finished")[0]


def test_a_run_finished_by_another_process_meanwhile_is_reported_so(tmp_path, capsys):
    """A launcher waits for a run another process holds; that process finishes it: the launcher says the
    run was finished elsewhere (not `done`, which would claim it trained it) and counts it finished."""
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=100)
    res = tmp_path / "res"
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0
    capsys.readouterr()
    elsewhere, here = load_sweep(f, results_dir=res).runs
    trained = tmp_path / "trained-elsewhere"
    shutil.move(res / elsewhere.run_id, trained)
    shutil.rmtree(res / here.run_id)
    lock = RunLock(res / elsewhere.run_id)
    lock.acquire()

    def other_process():  # finishes its run (here: puts its finished folder in place) once the other is done
        try:
            wait_for(lambda: (res / here.run_id / "final.json").exists(), 300, "the launcher's own run")
            shutil.copytree(trained, res / elsewhere.run_id, dirs_exist_ok=True)
        finally:
            lock.release()

    helper = threading.Thread(target=other_process, daemon=True)
    helper.start()
    try:
        code = main(["sweep", str(f), "--results-dir", str(res)])
    finally:
        helper.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"waiting for {elsewhere.run_id}" in out and f"done {here.run_id}" in out
    assert f"finished elsewhere {elsewhere.run_id}" in out and "(trained by another process)" in out
    assert f"done {elsewhere.run_id}" not in out and "tiny: 2 finished, 0 failed" in out


def test_a_ray_task_on_a_finished_run_says_another_process_trained_it(tmp_path):
    """The Ray task's body (called here as a Ray worker calls it) on a run that was finished when it started."""
    from offrl.sweep.backends import _ray_payload, _ray_task

    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100, datasets=("local/toy-a-v0",)),
                       results_dir=tmp_path / "res")
    fresh = _ray_task(_ray_payload(sweep.kind, sweep.runs[0]))
    again = _ray_task(_ray_payload(sweep.kind, sweep.runs[0]))
    assert fresh["status"] == again["status"] == "finished"
    assert not fresh["trained_elsewhere"] and again["trained_elsewhere"] and again["final"] == fresh["final"]


def test_the_launcher_says_how_many_runs_resume_from_their_checkpoints(tmp_path, capsys):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=100)
    res = tmp_path / "res"
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0
    first, second = load_sweep(f, results_dir=res).runs
    (res / first.run_id / "final.json").unlink()  # stopped after its last checkpoint: it resumes there
    shutil.rmtree(res / second.run_id)
    capsys.readouterr()
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0
    assert "2 runs: 0 already finished, 0 without their data, 2 to run in this process (1 resumes from its " \
           "checkpoint)" in capsys.readouterr().out


def test_the_plan_calls_runs_without_their_data_skipped(tmp_path, capsys):
    """The launcher skips such runs (`SKIPPED`, counted as skipped): the plan says the same."""
    f = write_sweep(tmp_path / "s.yaml", steps=100)  # no data at all
    assert main(["sweep", "plan", str(f), "--results-dir", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: data missing for 2 run(s); they are skipped until it is there:" in out and "fail" not in out


def test_a_child_that_finishes_while_the_launcher_stops_is_reported_finished(tmp_path, monkeypatch):
    """Ctrl-C while two child processes train: the launcher stops them and reports each as its folder says.
    Here the first run's end raises the interrupt and the other child is left to end on its own during
    the stop's grace wait (as a run in its last chunk does): it is reported finished, not interrupted."""
    from offrl.sweep import backends

    toy_data()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    monkeypatch.setattr(backends, "_stop", lambda children: [c.proc.wait() for c in children])
    seen = []

    def report(outcome):
        seen.append(outcome)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backends.ProcessBackend(per_gpu=2).run(sweep.kind, sweep.runs, report)
    assert [o.status for o in seen] == ["finished", "finished"], seen
    assert {o.run_id for o in seen} == {c.run_id for c in sweep.runs}
