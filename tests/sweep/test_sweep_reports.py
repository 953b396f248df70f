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

    # failed attempts are counted over launcher runs: a second run of the same command fails a second time
    assert main(["sweep", str(f), "--results-dir", str(res), *options]) == 1
    assert json.loads((res / broken.run_id / FAILURE_NAME).read_text())["attempts"] == 2
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    assert "failed (attempt 2): DataIntegrityError: " in capsys.readouterr().out

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
    # the toy data has no env to evaluate in: the trainer's final.json holds no score
    assert f"done {first.run_id} (bc on local/toy-a-v0): no evaluation recorded" in capsys.readouterr().out
    (res / first.run_id / "final.json").unlink()  # stopped after its last checkpoint: it resumes there
    shutil.rmtree(res / second.run_id)
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


def _train_final(run_id: str) -> dict:
    """A training run's final.json as the trainer writes it: two seeds evaluated twice."""
    import numpy as np

    from offrl.train import summarize

    history = [{"step": 50, "return_mean": np.array([100.0, 200.0]), "normalized_score": np.array([30.0, 50.0])},
               {"step": 100, "return_mean": np.array([150.0, 180.0]), "normalized_score": np.array([40.0, 44.0])}]
    return summarize({"run_id": run_id, "algo": "bc", "dataset": "local/toy-a-v0", "seeds": [0, 1]}, history, True)


def _continual_final(run_id: str) -> dict:
    """A continual run's final.json as the continual trainer writes it: two seeds through two tasks."""
    import numpy as np

    from offrl.continual.trainer import summarize

    scores = {0: [[5.0, 5.0], [5.0, 5.0]],
              100: [[60.0, 10.0], [80.0, 0.0]],  # (seeds, tasks) after the first task
              200: [[40.0, 70.0], [70.0, 90.0]]}  # and after the second
    history = [{"step": step, "scores": np.array(s), "returns": np.array(s) * 10} for step, s in scores.items()]
    config = {"run_id": run_id, "stream": "pendulum-gain", "method": "finetune", "algo": "td3bc", "quality": "medium",
              "seeds": [0, 1], "tasks": ["a", "b"], "heads": 1, "dataset": "local/toy-b-v0"}
    return summarize(config, history, 2, 100)


def test_the_launcher_says_each_finished_runs_score_or_per_and_bwt(tmp_path, capsys):
    """`done <run>` carries the run's headline from its final.json: a training run's normalized score at the
    last evaluation and its best, a continual run's PER and BWT, each the mean over the seeds."""
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    trained, continual = sweep.runs
    finals = {trained.run_id: _train_final(trained.run_id), continual.run_id: _continual_final(continual.run_id)}
    sweep.kind = dataclasses.replace(sweep.kind, run=lambda config: finals[config.run_id])
    run_sweep(sweep)
    out = capsys.readouterr().out.splitlines()
    (train_line,) = [line for line in out if f"done {trained.run_id}" in line]
    (continual_line,) = [line for line in out if f"done {continual.run_id}" in line]
    # the seeds' last scores are 40 and 44, their best 40 and 50
    assert train_line.endswith("(bc on local/toy-a-v0): normalized score last 42.00, best 45.00 (mean of 2 seeds)")
    # PER: the seeds' mean scores after the last task, 55 and 80; BWT: their first task's change, -20 and -10
    assert continual_line.endswith("(bc on local/toy-b-v0): PER 67.50, BWT -15.00 (mean of 2 seeds)")


def test_a_headline_says_what_final_json_holds_and_never_fails():
    """A final.json without some numbers, or with numbers in another form, gives a headline of what it holds."""
    from offrl.sweep.cli import run_headline

    # a training run without evaluations (no env) writes its score blocks as None
    assert run_headline({"seeds": [0, 1], "normalized_score": None, "return": None}) == "no evaluation recorded"
    # no reference scores: the return; no best recorded: the last alone
    assert run_headline({"seeds": [3], "normalized_score": None, "return": {"last": [12.5]}}) == \
        "return last 12.50 (1 seed)"
    # a continual run without its summary: the mean of its per-seed metrics; a NaN BWT (one task) left out
    assert run_headline({"kind": "continual", "seeds": [0, 1],
                         "metrics": {"per": [50.0, 60.0], "bwt": [float("nan"), float("nan")]}}) == \
        "PER 55.00 (mean of 2 seeds)"
    for odd in (None, [], {}, {"normalized_score": {"last": "high", "best": {"x": 1}}, "return": [1, 2]},
                {"summary": "broken", "metrics": {"per": [[1.0], [2.0, 3.0]]}}):
        assert run_headline(odd) == ""
