"""Runs of a sweep share compiled programs through JAX's persistent cache (offrl.compile_cache):
nothing changes in what they compute, and a run whose programs were compiled before compiles nothing."""

import json
import os
from pathlib import Path

from sweeptools import toy_data, write_sweep

from offrl.cli import main
from offrl.compile_cache import ENV_DIR, enable
from offrl.sweep import load_sweep


def _losses(res: Path, run_id: str) -> list:
    rows = [json.loads(x) for x in (res / run_id / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["seed"], r["actor/bc_loss"]) for r in rows if r["kind"] == "train"]


def test_a_sweep_keeps_its_compiled_programs_and_computes_the_same(tmp_path, capsys, monkeypatch):
    toy_data()  # two datasets of the same shape: their runs compile the same programs
    f = write_sweep(tmp_path / "s.yaml", steps=200, every=100)
    a, b = load_sweep(f).runs
    cache = tmp_path / "jax-cache"
    monkeypatch.setenv("OFFRL_COMPILE_CACHE", "off")  # as the other tests run
    assert main(["sweep", str(f), "--results-dir", str(tmp_path / "x"), "--datasets", a.dataset]) == 0
    assert "compiled programs" not in capsys.readouterr().out
    monkeypatch.setenv("OFFRL_COMPILE_CACHE", str(cache))

    off = tmp_path / "off"
    assert main(["sweep", str(f), "--results-dir", str(off), "--no-compile-cache", "--datasets", a.dataset]) == 0
    assert "compiled programs" not in capsys.readouterr().out and not cache.exists()

    on = tmp_path / "on"
    assert main(["sweep", str(f), "--results-dir", str(on), "--datasets", a.dataset]) == 0
    assert f"compiled programs are kept in {cache}" in capsys.readouterr().out
    kept = sorted(p.name for p in cache.iterdir())
    assert kept and os.environ[ENV_DIR] == str(cache)  # child processes get the same cache
    assert _losses(on, a.run_id) == _losses(off, a.run_id)

    # the other dataset's run finds every program it needs: nothing new is compiled (or written)
    assert main(["sweep", str(f), "--results-dir", str(on), "--datasets", b.dataset]) == 0
    assert sorted(p.name for p in cache.iterdir()) == kept
    assert (on / b.run_id / "final.json").exists()


def test_a_cache_the_user_gave_jax_is_kept(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    monkeypatch.setenv(ENV_DIR, str(mine))
    assert enable() == mine
    assert enable(tmp_path / "other") == mine and not (tmp_path / "other").exists()
