"""Pieces the sweep tests share: tiny datasets written by the test, tiny sweep files, readers of
the records runs leave, and launching ``offrl`` in a child process."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# bc with 16-unit layers on 600 rows: compiles and trains in seconds on a CPU, no env (no evaluation)
TINY = """
name: {name}
algo: bc
datasets: {datasets}
seeds: [0, 1]
train: {{steps: {steps}, eval_every: {every}, chunk: {every}, wandb: false, progress: false}}
hp: {{hidden: [16, 16], batch_size: 16}}
"""


def write_toy(name: str, seed: int = 0, n: int = 600) -> Path:
    """A random 11-d observation / 3-d action dataset saved as ``local/<name>`` (no env: no evaluation)."""
    from offrl.datasets import DatasetSpec, OfflineDataset, save

    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    term = np.zeros(n, bool)
    term[::97] = True
    spec = DatasetSpec(f"local/{name}", None, (11,), "float32", (3,), "float32")
    ds = OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                        np.roll(obs, -1, 0), term, np.zeros(n, bool), spec=spec)
    return save(ds, f"local/{name}")


def damaged_toy(name: str = "toy-bad-v0"):
    """``local/<name>`` with its data file damaged (loading it fails with a DataIntegrityError, an expected
    failure: never retried) and a function that puts the good file back."""
    data = write_toy(name, seed=2) / "data.h5"
    good = data.read_bytes()
    data.write_bytes(b"damaged")
    return lambda: data.write_bytes(good)


def toy_data() -> list[Path]:
    return [write_toy("toy-a-v0", 0), write_toy("toy-b-v0", 1)]


def write_sweep(path: Path, *, name: str = "tiny", steps: int = 200, every: int = 50, extra: str = "",
                datasets: tuple[str, ...] = ("local/toy-a-v0", "local/toy-b-v0")) -> Path:
    """A sweep of bc on ``datasets`` (2 seeds each, a checkpoint every ``every`` steps) plus ``extra`` YAML."""
    path.write_text(TINY.format(name=name, steps=steps, every=every, datasets=json.dumps(list(datasets))) + extra)
    return path


def metric_rows(run_dir: Path) -> collections.Counter:
    """How often each ``(kind, step, seed)`` appears in a run's ``metrics.jsonl``."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return collections.Counter((r["kind"], r["step"], r["seed"]) for r in rows)


def env() -> dict[str, str]:
    """This process's environment with this checkout first on the import path (children use it)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [e.get("PYTHONPATH")])])
    return e


def _default_sigint() -> None:
    # a test suite started in the background of a script (`pytest ... &`) runs with SIGINT ignored, and
    # a child would inherit that and never see the Ctrl-C these tests send it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(*args: str, cwd: Path) -> subprocess.Popen:
    """``python -m offrl.cli ARGS`` in a child process (output captured as text), Ctrl-C as in a terminal."""
    return subprocess.Popen([sys.executable, "-m", "offrl.cli", *args], cwd=cwd, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_default_sigint)


def signal_mid_run(launcher: subprocess.Popen, run_dirs, signum: int, timeout: float = 240) -> str:
    """Send ``signum`` to ``launcher`` once one of ``run_dirs`` is mid-run (a checkpoint written, not
    finished) and return the launcher's output when it has ended (killed if it outlives the wait)."""
    from offrl.sweep.plan import checkpoint_step

    try:
        wait_for(lambda: any(checkpoint_step(d) and not (d / "final.json").exists() for d in run_dirs), timeout,
                 "a run with a checkpoint")
        launcher.send_signal(signum)
        out, _ = launcher.communicate(timeout=180)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    return out


def wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_wandb_offline(run_dir: Path, timeout: float = 60.0) -> dict:
    """What an offline wandb run recorded, read from its ``run-<id>.wandb`` file with wandb's own
    protobuf messages: ``{"run": RunRecord, "config": {...}, "history": [{key: value}], "summary": {...}}``.
    ``run.finish()`` can return before wandb's service has written the file out, so this waits (up to
    ``timeout`` s) for the run's exit record."""
    deadline = time.monotonic() + timeout
    while True:
        records = _wandb_records(run_dir)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out = {"run": None, "config": {}, "history": [], "summary": {}}
    for r in records:
        which = r.WhichOneof("record_type")
        if which == "run":
            out["run"] = r.run
            out["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif which == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
        elif which == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
        elif which == "summary":
            out["summary"].update({i.key: json.loads(i.value_json) for i in r.summary.update if i.key})
    return out


def _wandb_records(run_dir: Path) -> list:
    """The records of a run's ``.wandb`` file written so far. The file is a LevelDB-style log
    (wandb's transaction log): a 7-byte header (``:W&B``, magic 0xBEE1, version), then 32 KiB blocks
    of records, each with a 7-byte header (CRC32, length, type: 1 full, 2 first, 3 middle, 4 last); a
    block's last < 7 bytes are padding. A record still being written is left out."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    paths = list(Path(run_dir).glob("*.wandb"))
    if not paths or paths[0].stat().st_size < 7:
        return []
    data = paths[0].read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B" and magic == 0xBEE1, f"{paths[0]} is not a wandb transaction log"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        if pos + 7 + length > len(data):
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records
