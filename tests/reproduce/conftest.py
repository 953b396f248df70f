"""Finished runs written by hand (config.json + final.json, as the trainer writes them), so that the
report, the verdicts and the recording are tested without training."""

import json
from pathlib import Path

import pytest


def write_finished_run(config, last, best=None, *, checksum="sha256:abc", version="0.1.0", code=None, machine=None,
                       finished_at=None):
    """A finished run folder for ``config`` (a TrainConfig from a target's sweep) with per-seed
    normalized scores ``last`` and ``best``; ``code`` (config.json's code stamp), ``machine`` and
    ``finished_at`` (final.json's) are left out unless given, as in runs made before they were written."""
    best = list(best if best is not None else last)
    seeds = list(config.seeds)
    assert len(last) == len(best) == len(seeds)
    d = Path(config.results_dir) / config.run_id
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps({
        "run_id": config.run_id, "algo": config.algo, "dataset": config.dataset, "seeds": seeds,
        "algo_config": {}, "train_config": {"steps": config.steps, "hp": list(config.hp)},
        "dataset_spec": {"id": config.dataset, "checksum": checksum}, "offrl_version": version,
        **({"code": code} if code else {})}))
    curve = [[b, la] for b, la in zip(best, last)]
    (d / "final.json").write_text(json.dumps({
        "run_id": config.run_id, "algo": config.algo, "dataset": config.dataset, "seeds": seeds,
        "eval_steps": [config.steps // 2, config.steps],
        "normalized_score": {"last": list(last), "best": best, "curve": curve},
        "return": {"last": list(last), "best": best, "curve": curve}, "wall_time_s": 1.0, "steps": config.steps,
        **({"machine": machine} if machine else {}), **({"finished_at": finished_at} if finished_at else {})}))
    return d


@pytest.fixture
def finished_run():
    return write_finished_run
