"""Benchmark: load a 2M-transition D4RL-layout HDF5 file into device arrays.

Writes a hopper-sized file (obs 11, act 3, gzip, infos/qpos+qvel, timeouts every 1000 rows) once,
then in a fresh process times ``offrl.datasets.load(path)`` + ``ds.transitions()`` (blocked until
the arrays are on the device) and reports peak RSS growth against the file's uncompressed bytes.

    python benchmarks/load.py [--rows 2000000] [--path /tmp/offrl-bench.hdf5] [--no-infos] [--mode qlearning]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def make_file(path: Path, rows: int) -> int:
    """Write the synthetic file; returns its uncompressed byte count."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    obs = rng.standard_normal((rows + 1, 11), dtype=np.float32)
    arrays = {
        "observations": obs[:-1], "next_observations": obs[1:],
        "actions": rng.uniform(-1, 1, (rows, 3)).astype(np.float32),
        "rewards": rng.standard_normal(rows, dtype=np.float32),
        "terminals": rng.random(rows) < 0.001,
        "timeouts": (np.arange(rows) % 1000) == 999,
        "infos/qpos": rng.standard_normal((rows, 6), dtype=np.float32),
        "infos/qvel": rng.standard_normal((rows, 6), dtype=np.float32),
    }
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, a in arrays.items():
            f.create_dataset(k, data=a, compression="gzip", chunks=True)
        f.create_dataset("metadata/algorithm", data=np.bytes_(b"SAC"))
    os.replace(tmp, path)
    return sum(a.nbytes for a in arrays.values())


def measure(path: str, mode: str, infos: bool) -> dict:
    """Run in a fresh process: time and peak-RSS of load + device placement."""
    import jax

    import offrl.datasets as D

    jax.devices()  # backend start-up is not part of loading
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    ds = D.load(path, mode=mode, infos=infos)
    t1 = time.perf_counter()
    tr = ds.transitions()
    jax.block_until_ready(tr)
    t2 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": len(ds), "load_s": t1 - t0, "device_s": t2 - t1, "total_s": t2 - t0,
            "peak_rss_growth_mb": (rss1 - rss0) / 1024, "device": str(jax.devices()[0])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--path", default="/tmp/offrl-bench-2m.hdf5")
    ap.add_argument("--mode", default="qlearning", choices=["qlearning", "raw"])
    ap.add_argument("--no-infos", action="store_true")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        print(json.dumps(measure(a.path, a.mode, not a.no_infos)))
        return
    path = Path(a.path)
    if not path.exists():
        print(f"writing {a.rows} rows to {path} ...", flush=True)
        make_file(path, a.rows)
    import h5py

    with h5py.File(path) as f:
        raw = sum(f[k].size * f[k].dtype.itemsize for k in ("observations", "next_observations", "actions",
                                                            "rewards", "terminals", "timeouts", "infos/qpos",
                                                            "infos/qvel"))
    cmd = [sys.executable, __file__, "--_child", "--path", str(path), "--mode", a.mode] + (
        ["--no-infos"] if a.no_infos else [])
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    r.update(file_mb=path.stat().st_size / 2**20, raw_mb=raw / 2**20, mode=a.mode, infos=not a.no_infos)
    r["peak_over_raw"] = r["peak_rss_growth_mb"] / r["raw_mb"]
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
