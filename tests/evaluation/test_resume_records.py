"""A killed run continues the same records: metrics.jsonl holds each (kind, step, seed) once, wandb keeps
one run id per seed, the numbers equal an uninterrupted run, and both the interrupt and the restart say
what is happening. Plus RunLogger's resume API on its own and when wandb is used (item 5 and 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from offrl.datasets import save
from offrl.errors import ConfigError
from offrl.logging import RunLogger, wandb_configured, wandb_mode

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"algo": "bc", "dataset": "toy", "algo_config": {}, "train_config": {}}
TRAIN_ARGS = ["--algo", "bc", "--seeds", "0", "1", "--steps", "400", "--eval-every", "100", "--chunk", "50",
              "--eval-episodes", "1", "--hp", "hidden=16,16", "batch_size=16", "--no-progress",
              "--run-id", "toy-bc"]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# The killed attempt runs `offrl train` through offrl.cli.main with each training chunk slowed down, so
# the kill lands mid-run (after a checkpoint, before the end) on any machine; the numbers are unchanged.
_SLOW_TRAIN = """
import sys, time
import offrl.train as T
real = T.make_chunk_fn
def slow(*a, **k):
    fn = real(*a, **k)
    def chunk(*args):
        time.sleep(0.4)
        return fn(*args)
    return chunk
T.make_chunk_fn = slow
from offrl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _read_wandb_records(path: Path) -> list:
    """The protobuf records of a ``.wandb`` transaction log (a LevelDB-style log: 7-byte file header,
    32 KiB blocks of records each with a 7-byte header: crc32c, length, type full/first/middle/last)."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    block, pos, pieces, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer: padding
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        body = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            pos += block - pos % block if pos % block else 0
            continue
        if kind == 1:
            out.append(body)
        elif kind == 2:
            pieces = body
        elif kind == 3:
            pieces += body
        elif kind == 4:
            out.append(pieces + body)
    return [Record.FromString(b) for b in out]


def _finished_records(run_file: Path, timeout: float = 60.0) -> list:
    """The records of a run file once wandb's service has written its exit record: ``run.finish()``
    (and the end of a process) can return before that service has flushed the file."""
    t0 = time.time()
    while True:
        records = _read_wandb_records(run_file)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.time() - t0 > timeout:
            return records
        time.sleep(0.2)


def _wandb_history(wandb_dir: Path) -> dict[str, list[tuple[int, set[str]]]]:
    """run id -> [(step, logged keys)] over every offline run folder (in the order they were made)."""
    out: dict[str, list[tuple[int, set[str]]]] = {}
    for run_file in sorted(wandb_dir.glob("wandb/offline-run-*/run-*.wandb")):
        run_id = None
        for rec in _finished_records(run_file):
            which = rec.WhichOneof("record_type")
            if which == "run":
                run_id = rec.run.run_id
            elif which == "history":
                items = {item.key or "/".join(item.nested_key): item.value_json for item in rec.history.item}
                out.setdefault(run_id, []).append(
                    (int(json.loads(items["_step"])), set(items) - {"_step", "_runtime", "_timestamp"}))
    return out


def _wait_for(predicate, proc, timeout=240.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before it could be killed (rc {proc.returncode}):\n{err[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("timed out waiting for the run to pass its first checkpoint")


@pytest.mark.slow  # two `offrl train` processes and an in-process reference: ~60 s on 2 idle cores
@pytest.mark.parametrize("overlap", [False, True], ids=["eval-in-line", "eval-beside-training"])
def test_killed_train_resumes_the_same_records_and_wandb_runs(tmp_path, overlap, toy_hopper_dataset):
    pytest.importorskip("wandb")
    from offrl.train import TrainConfig, train

    ds_path = tmp_path / "toy-ds"
    save(toy_hopper_dataset, ds_path, format="offrl")
    results, wandb_dir = tmp_path / "results", tmp_path / "wandb-home"
    wandb_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OFFRL_RESULTS_DIR": str(results), "WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir),
           "JAX_PLATFORMS": "cpu", "WANDB_SILENT": "true"}
    args = ["train", "--dataset", str(ds_path), *TRAIN_ARGS, *(["--overlap-eval"] if overlap else [])]
    run = results / "toy-bc"

    proc = subprocess.Popen([sys.executable, "-c", _SLOW_TRAIN, *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def past_first_checkpoint() -> bool:  # a train row logged after the checkpoint of step 100
        path = run / "metrics.jsonl"
        if not path.is_file():
            return False
        lines = path.read_text().splitlines()
        return any('"kind": "train"' in x and json.loads(x)["step"] > 100 for x in lines[:-1] if x.strip())

    _wait_for(past_first_checkpoint, proc)
    proc.send_signal(signal.SIGTERM)  # `kill`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, err
    assert "rerun the same command to resume" in err and "toy-bc: interrupted at step" in err, err
    killed = _records(run / "metrics.jsonl")
    ckpts = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    if not overlap:  # the kill lands between checkpoints: the rerun drops the rows past the last one
        assert ckpts and max(r["step"] for r in killed) > ckpts[-1], "the kill should leave rows past the checkpoint"
    else:  # beside training, a kill while an evaluation runs first lets it end and checkpoints its step (then no
        # row need be past the checkpoint); one just before the evaluation starts leaves rows past it, as in line
        assert ckpts and max(r["step"] for r in killed) >= ckpts[-1], (ckpts, err)
    assert f"resume from the checkpoint of step {ckpts[-1]}" in err, err
    assert not (run / "final.json").exists()

    rerun = subprocess.run([sys.executable, "-m", "offrl.cli", *args], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming toy-bc from step {ckpts[-1]}" in rerun.stderr, rerun.stderr

    # the same run, uninterrupted (in this process; CPU numbers repeat to the bit)
    ref_final = train(TrainConfig(dataset=str(ds_path), algo="bc", seeds=(0, 1), steps=400, eval_every=100,
                                  chunk=50, eval_episodes=1, hp=("hidden=16,16", "batch_size=16"), progress=False,
                                  run_id="toy-bc", results_dir=str(tmp_path / "ref"), wandb=False,
                                  overlap_eval=overlap))
    ref = _records(tmp_path / "ref" / "toy-bc" / "metrics.jsonl")
    got = _records(run / "metrics.jsonl")
    keys = Counter((r["kind"], r["step"], r["seed"]) for r in got)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    assert set(keys) == {(r["kind"], r["step"], r["seed"]) for r in ref}
    strip = lambda r: {k: v for k, v in r.items() if k != "time"}  # noqa: E731
    order = lambda rs: sorted(rs, key=lambda r: (r["kind"], r["step"], r["seed"]))  # noqa: E731
    assert [strip(r) for r in order(got)] == [strip(r) for r in order(ref)]
    final = json.loads((run / "final.json").read_text())
    assert final["normalized_score"] == ref_final["normalized_score"]
    a, b = np.load(run / "final_state.npz"), np.load(tmp_path / "ref" / "toy-bc" / "final_state.npz")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])

    # wandb: one run id per seed across both attempts (two offline folders each), every step once
    history = _wandb_history(wandb_dir)
    assert set(history) == {"toy-bc-seed0", "toy-bc-seed1"}
    assert len(list(wandb_dir.glob("wandb/offline-run-*"))) == 4
    for run_id, rows in history.items():
        steps = [s for s, _ in rows]
        assert len(steps) == len(set(steps)) and sorted(steps) == list(range(50, 401, 50)), (run_id, steps)
        evals = sorted(s for s, k in rows if "eval/normalized_score" in k)
        assert evals == [100, 200, 300, 400], (run_id, rows)


def test_resume_from_step_drops_later_rows_atomically_and_says_so(tmp_path, capsys):
    run = tmp_path / "r"
    with RunLogger(run, CONFIG, [0, 1], use_wandb=False) as log:
        log.write_config()
        for step in (10, 20, 30):
            log.log(step, {"loss": [1.0, 2.0]})
        log.log(20, {"normalized_score": [5.0, 6.0]}, kind="eval")
    with open(run / "metrics.jsonl", "a") as f:  # a write cut off by a kill
        f.write('{"kind": "train", "step": 40, "se')
    inode = (run / "metrics.jsonl").stat().st_ino
    with pytest.raises(ConfigError, match="resume_from_step"):
        RunLogger(run, CONFIG, [0, 1], use_wandb=False, resume_from_step=20)
    with pytest.raises(ConfigError, match=">= -1"):
        RunLogger(run, CONFIG, [0, 1], use_wandb=False, resume=True, resume_from_step=-2)
    capsys.readouterr()
    log = RunLogger(run, CONFIG, [0, 1], use_wandb=False, resume=True, resume_from_step=20)
    assert "resuming r from step 20" in capsys.readouterr().err
    assert (run / "metrics.jsonl").stat().st_ino != inode  # rewritten under a new name, then renamed
    assert [(r["kind"], r["step"]) for r in _records(run / "metrics.jsonl")] == [
        ("train", 10), ("train", 10), ("train", 20), ("train", 20), ("eval", 20), ("eval", 20)]
    log.log(30, {"loss": [3.0, 4.0]})
    log.close()
    recs = _records(run / "metrics.jsonl")
    assert Counter((r["kind"], r["step"], r["seed"]) for r in recs).most_common(1)[0][1] == 1
    assert [r["loss"] for r in recs if r["step"] == 30] == [3.0, 4.0]
    assert not list(run.glob(".metrics.jsonl.*"))

    # no checkpoint yet: the run starts over, nothing is kept
    RunLogger(run, CONFIG, [0, 1], use_wandb=False, resume=True, resume_from_step=0).close()
    assert _records(run / "metrics.jsonl") == []


def test_interrupt_waits_for_a_whole_log_call_and_says_how_to_resume(tmp_path, capsys):
    run = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt), RunLogger(run, CONFIG, [0, 1, 2], use_wandb=False) as log:
        log.write_config()
        log.log(50, {"loss": [1.0, 1.0, 1.0]})
        log.checkpointed(50)
        real_write = log._file.write

        def write_then_killed(text):  # SIGTERM arrives in the middle of writing the records
            os.kill(os.getpid(), signal.SIGTERM)
            return real_write(text)

        log._file.write = write_then_killed
        log.log(100, {"loss": [2.0, 2.0, 2.0]})
        pytest.fail("the interrupt should end the log call")
    err = capsys.readouterr().err
    assert "r: interrupted at step 100; rerun the same command to resume from the checkpoint of step 50" in err
    assert [r["step"] for r in _records(run / "metrics.jsonl")] == [50, 50, 50, 100, 100, 100]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers given back


def _no_wandb_login(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NETRC", str(tmp_path / "home" / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "home" / ".config" / "wandb"))
    monkeypatch.chdir(tmp_path)


def test_wandb_only_when_asked_or_configured(tmp_path, monkeypatch, capsys):
    _no_wandb_login(monkeypatch, tmp_path)
    assert wandb_configured() is None
    assert wandb_mode() == "disabled" and wandb_mode(True) == "offline" and wandb_mode(False) == "disabled"

    with RunLogger(tmp_path / "results" / "a", CONFIG, [0, 1]) as log:  # nothing configured: JSONL only
        assert log.wandb_mode == "disabled"
        log.log(1, {"x": 1.0})
    err = capsys.readouterr().err
    assert err.count("metrics are recorded in") == 1 and str(tmp_path / "results" / "a" / "metrics.jsonl") in err
    assert "--wandb" in err
    assert not (tmp_path / "wandb").exists()

    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert ".netrc" in wandb_configured() and wandb_mode() == "online"
    (home / ".netrc").write_text("machine example.org login u password p\n")
    assert wandb_configured() is None
    settings = home / ".config" / "wandb" / "settings"
    settings.parent.mkdir(parents=True)
    settings.write_text("[default]\nmode = offline\n")
    assert wandb_mode() == "offline" and "mode=offline" in wandb_configured()
    settings.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wandb_mode() == "online" and wandb_configured() == "WANDB_API_KEY"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode(True) == "disabled" and wandb_mode(False) == "disabled"


def test_asked_for_wandb_without_login_logs_offline_and_resumes_the_same_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    _no_wandb_login(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    (tmp_path / "wb").mkdir()
    run = tmp_path / "results" / "b"
    with RunLogger(run, CONFIG, [4], use_wandb=True) as log:
        assert log.wandb_mode == "offline"
        log.write_config()
        for step in (10, 20, 30):
            log.log(step, {"loss": [float(step)]})
    assert "upload them with `wandb sync" in capsys.readouterr().err
    time.sleep(1.1)  # offline folders are named by the second they start
    with RunLogger(run, CONFIG, [4], use_wandb=True, resume=True, resume_from_step=10) as log:
        for step in (20, 30, 40):
            log.log(step, {"loss": [float(step)]})
    history = _wandb_history(tmp_path / "wb")
    assert list(history) == ["b-seed4"]  # the same wandb run, resumed
    assert [s for s, _ in history["b-seed4"]] == [10, 20, 30, 40]  # steps already sent are not sent again
    assert [r["step"] for r in _records(run / "metrics.jsonl")] == [10, 20, 30, 40]


def test_wandb_switch_on_the_command_line():
    import tyro

    from offrl.train import TrainConfig

    parse = lambda *a: tyro.cli(TrainConfig, args=list(a)).wandb  # noqa: E731
    assert parse() is None
    assert parse("--wandb") is True and parse("--wandb", "on") is True
    assert parse("--wandb", "off") is False and parse("--wandb", "auto") is None
    assert tyro.cli(TrainConfig, args=["--wandb", "--seeds", "3"]).seeds == (3,)
    with pytest.raises(SystemExit):
        parse("--wandb", "maybe")


def test_a_run_id_resumes_only_a_run_trained_and_evaluated_the_same_way(tmp_path, toy_hopper_dataset):
    """An explicit run id names a folder; a record there that trains or evaluates otherwise is refused by
    name before anything runs (a resumed history never mixes two evaluation protocols), while settings of
    how a run computes or reports may change between attempts."""
    import dataclasses

    from offrl.errors import OffrlError
    from offrl.train import TrainConfig, config_difference, train

    ds_path = tmp_path / "toy.npz"
    save(toy_hopper_dataset, ds_path)
    tc = TrainConfig(dataset=str(ds_path), algo="bc", seeds=(0, 1), steps=200, eval_every=100, chunk=50,
                     eval_episodes=1, run_id="mine", results_dir=str(tmp_path / "res"), progress=False,
                     wandb=False)
    record = {"algo": "bc", "dataset": str(ds_path), "seeds": [0, 1], "algo_config": {"lr": 0.001},
              "train_config": json.loads(json.dumps(dataclasses.asdict(tc)))}
    same = json.loads(json.dumps(record))
    same["train_config"].update(eval_workers=4, checkpoint=False, wandb_tags=["x"])
    assert config_difference(record, same) == []
    # the hp strings as written: algo_config holds what they resolve to (a default written out is one run)
    same["train_config"]["hp"] = ["lr=0.001"]
    assert config_difference(record, same) == []
    older = json.loads(json.dumps(record))
    del older["train_config"]["eval_seed"]  # recorded before the field existed
    assert config_difference(older, record) == []
    other = json.loads(json.dumps(record))
    other["train_config"].update(eval_episodes=10, normalize_obs=False)
    other["seeds"] = [0, 1, 2]
    assert config_difference(other, record) == ["seeds", "train_config.eval_episodes",
                                                "train_config.normalize_obs"]

    run = tmp_path / "res" / "mine"
    run.mkdir(parents=True)
    other["algo_config"] = None  # whatever it was, this record evaluated 10 episodes per seed
    (run / "config.json").write_text(json.dumps(other))
    with pytest.raises(OffrlError, match=r"different configuration \(.*train_config.eval_episodes: 10 then, \d+ now"):
        train(tc)
    assert not (run / "metrics.jsonl").exists()


def test_the_default_run_id_digests_what_a_run_computes(tmp_path):
    """`offrl train` without --run-id: evaluation workers, checkpoints, wandb, concurrent kernels or a default
    written out keep the id (a rerun finds its run); a setting that changes the run does not; a folder
    recorded under the earlier form of the id (a digest of the options as given, hp strings and bookkeeping
    included) is found where none of the present id exists."""
    import dataclasses
    import hashlib

    from offrl.sweep.kinds import get_kind
    from offrl.sweep.spec import run_id_of
    from offrl.train import RESUME_FREE_FIELDS, REPORTING_FIELDS, TrainConfig, _jsonable, default_run_id, resolve_config

    def run_id(tc):
        return default_run_id(tc)

    tc = TrainConfig(dataset="local/hopper-medium-v0", algo="td3bc", hp=("batch_size=64",), steps=1000,
                     eval_every=500, results_dir=str(tmp_path))
    cfg = resolve_config(tc)[2]
    base = run_id(tc)
    assert base.startswith("td3bc-local_hopper-medium-v0-")
    for same in (dataclasses.replace(tc, eval_workers=4, checkpoint=False, wandb=False, concurrent_kernels=False,
                                     wandb_tags=("x",), overlap_eval=True, progress=False),
                 dataclasses.replace(tc, hp=("batch_size=64", f"alpha={cfg.alpha}"))):
        assert run_id(same) == base
    assert run_id(dataclasses.replace(tc, eval_episodes=5)) != base
    assert run_id(dataclasses.replace(tc, hp=("batch_size=64", f"alpha={cfg.alpha + 1}"))) != base
    # the id a sweep gives the same run: one rule, so a sweep finds a run trained from the command line
    assert run_id_of(get_kind("train"), tc) == base

    # folders of the two earlier forms (the resolved options digested apart from the sweep's rule; before
    # that, with the bookkeeping settings and hp strings too) are found where none of the present id exists
    resolved = resolve_config(tc)[0]

    def earlier(left_out):
        fields = {k: v for k, v in dataclasses.asdict(resolved).items() if k not in left_out}
        blob = json.dumps({"train": _jsonable(fields), "algo": _jsonable(dataclasses.asdict(cfg))}, sort_keys=True)
        return f"td3bc-local_hopper-medium-v0-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"

    newer, older = earlier(RESUME_FREE_FIELDS), earlier(REPORTING_FIELDS)
    assert len({base, newer, older}) == 3
    (tmp_path / older).mkdir()
    assert run_id(tc) == older
    (tmp_path / newer).mkdir()  # the newer earlier form first
    assert run_id(tc) == newer
    (tmp_path / base).mkdir()  # and the present id's folder before both
    assert run_id(tc) == base
