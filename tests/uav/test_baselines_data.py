"""Baselines, datasets and the ``offrl uav`` CLI on small budgets (the full comparison is in docs/uav.md)."""

import json

import jax
import numpy as np
import pytest

from offrl.envs.uav import make_params
from offrl.envs.uav.baselines import (ComparisonConfig, PSOConfig, TabularConfig, run_comparison, summary_table,
                                      train_tabular)
from offrl.envs.uav.data import LEVELS, DatasetConfig, build_datasets, load_dataset, save_datasets
from offrl.envs.uav.policies import evaluate, goto_actions, kmeans_cells, random_policy
from offrl.errors import ConfigError

SMALL = make_params(episode_len=25)


def test_goto_and_kmeans():
    pos = jax.numpy.array([[0, 0], [5, 5], [3, 3]])
    tgt = jax.numpy.array([[3, 1], [5, 2], [3, 3]])
    np.testing.assert_array_equal(goto_actions(pos, tgt), [3, 2, 0])
    users = jax.numpy.array([[100.0, 100.0], [110.0, 90.0], [900.0, 900.0], [890.0, 910.0]])
    cells = np.asarray(kmeans_cells(users, make_params(n_uavs=2, users_xy=users.tolist())))
    assert sorted(map(tuple, cells)) == [(1, 1), (9, 9)]


def test_comparison_small_budget_learns():
    cfg = ComparisonConfig(seeds=(0, 1), eval_episodes=4, tabular=TabularConfig(episodes=60, chunks=3),
                           pso=PSOConfig(particles=6))
    res = run_comparison(SMALL, cfg)
    s = {m: v["mean"] for m, v in res["summary"].items()}
    assert set(s) == {"random", "greedy", "kmeans", "sarsa", "qlearning", "pso"}
    assert s["sarsa"] > s["random"] and s["pso"] > s["random"] and s["kmeans"] > s["random"]
    assert res["curves"]["sarsa"]["eval"].shape == (2, 3)
    assert "| sarsa |" in summary_table(res)


@pytest.mark.parametrize("budget", [7, 13, 4])
def test_pso_uses_exactly_the_episode_budget(monkeypatch, budget):
    """Count the fitness episodes PSO really rolls out (a callback per vmapped particle and seed) for
    budgets that are not a multiple of the swarm (13 = 6 + 6 + 1) or smaller than it (4)."""
    from offrl.envs.uav import baselines

    rolled = []

    def counting_evaluate(policy, key, params, n_episodes):
        per_episode = evaluate(policy, key, params, n_episodes)
        if n_episodes == 1:  # fitness evaluations; the held-out evaluations below use 3 episodes
            jax.debug.callback(lambda v: rolled.append(np.size(v)), per_episode)
        return per_episode

    monkeypatch.setattr(baselines, "evaluate", counting_evaluate)
    p = make_params(episode_len=5)
    res = baselines.train_pso(p, PSOConfig(particles=6), budget, [0, 1], eval_episodes=3)
    assert sum(rolled) == 2 * budget  # two seeds
    assert res["episodes"][-1] == budget and res["eval_curve"].shape == (2, len(res["episodes"]))
    swarm, per_iter = baselines.pso_schedule(PSOConfig(particles=6), budget)
    assert sum(per_iter) == budget and swarm == min(6, budget)
    with pytest.raises(ConfigError, match="layouts_per_eval"):
        baselines.pso_schedule(PSOConfig(particles=6, layouts_per_eval=2), budget | 1)


def test_tabular_is_deterministic_and_validates():
    cfg = TabularConfig(episodes=8, chunks=2)
    a = train_tabular("sarsa", SMALL, cfg, [3], eval_episodes=2)
    b = train_tabular("sarsa", SMALL, cfg, [3], eval_episodes=2)
    np.testing.assert_array_equal(a["q"], b["q"])
    with pytest.raises(ConfigError, match="method"):
        train_tabular("dqn", SMALL, cfg, 1)
    with pytest.raises(ConfigError, match="alpha"):
        train_tabular("sarsa", SMALL, TabularConfig(alpha=0.0), 1)


def test_datasets_roundtrip_and_scores():
    cfg = DatasetConfig(episodes=3, tabular=TabularConfig(episodes=30, chunks=3), ref_episodes=4)
    built = build_datasets(SMALL, cfg)
    assert set(built["datasets"]) == set(LEVELS)
    paths = save_datasets(built["datasets"])
    for lv in LEVELS:
        assert paths[lv].name == f"{lv}-v0" and paths[lv].parent.name == "uav"
        ds = load_dataset(lv)
        n = 3 * 25 * (3 if lv == "mixed" else 1)
        assert len(ds) == n and ds.num_episodes == n // 25
        assert ds.observations.shape == (n, 4, SMALL.obs_dim) and ds.actions.shape == (n, 4)
        assert ds.actions.dtype == np.int32 and ds.truncations.sum() == n // 25 and not ds.terminations.any()
        assert ds.infos["avail_actions"].shape == (n, 4, 5) and ds.infos["state"].shape == (n, SMALL.state_dim)
        # every logged action was available, the team reward is the associated-user count
        av = ds.infos["avail_actions"]
        assert av[np.arange(n)[:, None], np.arange(4)[None], ds.actions].all()
        np.testing.assert_array_equal(ds.rewards, ds.infos["n_assoc"])
        # next_obs of a row is the obs of the next row inside an episode (true terminal obs kept)
        inner = ~ds.truncations[:-1]
        np.testing.assert_array_equal(ds.next_observations[:-1][inner], ds.observations[1:][inner])
        assert ds.spec.ref_min == pytest.approx(built["ref_min"]) and ds.spec.ref_max > ds.spec.ref_min
    # the normalised score is the spec's: 100 * (R - random) / (trained SARSA - random)
    ds = load_dataset("poor")
    np.testing.assert_allclose(ds.stats()["normalized_return"]["mean"],
                               100 * (ds.episode_returns().mean() - built["ref_min"]) / (built["ref_max"] - built["ref_min"]))
    with pytest.raises(ConfigError, match="level"):
        load_dataset("legendary")


def test_random_policy_only_valid_actions():
    v = evaluate(random_policy(), jax.random.PRNGKey(0), SMALL, 3)
    assert v.shape == (3,) and (np.asarray(v) >= 0).all()


def test_cli_baselines_plot_datasets(tmp_path, capsys, monkeypatch):
    from offrl.cli import main

    (tmp_path / "cwd").mkdir()

    out = tmp_path / "results" / "uav"  # without --out: $OFFRL_RESULTS_DIR/uav (set by conftest.py)
    monkeypatch.chdir(tmp_path / "cwd")
    assert main(["uav", "baselines", "--episodes", "20", "--seeds", "0", "--eval-episodes", "2", "--no-plots"]) == 0
    assert not (tmp_path / "cwd" / "results").exists()
    d = json.loads((out / "baselines.json").read_text())
    assert set(d["summary"]) == {"random", "greedy", "kmeans", "sarsa", "qlearning", "pso"}
    assert "| sarsa |" in (out / "baselines.md").read_text()
    assert main(["uav", "plot"]) == 0  # --result defaults to the same folder
    assert (out / "association_over_training.png").stat().st_size > 1000
    assert (out / "trajectories.png").stat().st_size > 1000
    assert main(["uav", "datasets", "--episodes", "1", "--train-episodes", "10", "--levels", "poor"]) == 0
    assert "uav/poor-v0" in capsys.readouterr().out
    assert main(["uav", "baselines", "--episodes", "2", "--out", str(out)]) == 1  # ConfigError -> exit 1
    assert "episodes" in capsys.readouterr().err
    assert main(["uav", "plot", "--result", str(tmp_path / "missing.json")]) == 1
    monkeypatch.setenv("OFFRL_RESULTS_DIR", str(tmp_path / "elsewhere"))
    assert main(["uav", "plot"]) == 1
    assert f"{tmp_path / 'elsewhere' / 'uav' / 'baselines.json'} does not exist" in capsys.readouterr().err


def test_speed_benchmark_writes_its_json_without_out(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "uav_speed.py"
    spec = importlib.util.spec_from_file_location("uav_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # the measurements themselves are not under test here: only the command line
    monkeypatch.setattr(bench, "bench_numpy", lambda params, n: {"backend": "numpy", "n_envs": 1, "env_steps_per_s": 1.0})
    monkeypatch.setattr(bench, "bench_jax", lambda params, n_envs, n_steps, repeats: {
        "backend": "jax", "n_envs": n_envs, "env_steps_per_s": 2.0, "compile_s": 0.0})
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--quick"]) == 0
    assert json.loads((tmp_path / "uav_speed.json").read_text())["meta"]["quick"] is True


@pytest.mark.parametrize("text, problem", [
    ('{"a":', "is not a readable JSON file (Expecting value"),  # cut off while being written
    ("{}", "is not a complete `offrl uav baselines` result: it lacks curves, policies, summary, config"),
    ("[1, 2]", "holds a JSON list, not the object"),
    ('{"curves": {"sarsa": {"eval": [[1.0]]}}, "policies": {"pso": 3}, "summary": {}, "config": {"preset": "urban"}}',
     "is not a complete `offrl uav baselines` result: it lacks config.n_uavs, curves.sarsa.episodes, "
     "policies.pso as an object"),
])
def test_plot_refuses_a_broken_result_naming_the_file(tmp_path, capsys, text, problem):
    from offrl.cli import main

    f = tmp_path / "baselines.json"
    f.write_text(text)
    assert main(["uav", "plot", "--result", str(f)]) == 1
    err = capsys.readouterr().err
    assert f"result: {f} {problem}" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.png"))


def test_cli_baselines_names_every_file_it_writes(tmp_path, capsys, monkeypatch):
    """One ``wrote PATH`` line per file written: baselines.json, baselines.md and each PNG. The real
    plots cost ~15 s of compilation on a small CPU (test_cli_baselines_plot_datasets draws them), so
    plot_all is replaced here by one that writes two files and returns their paths, as it does."""
    from offrl.cli import main
    from offrl.envs.uav import plots

    def fake_plot_all(result, params, out):
        paths = [out / "association_over_training.png", out / "trajectories.png"]
        for p in paths:
            p.write_bytes(b"png")
        return paths

    monkeypatch.setattr(plots, "plot_all", fake_plot_all)
    out = tmp_path / "out"
    # the smallest run the options allow: 10 episodes, one seed, one evaluation layout, one UAV
    assert main(["uav", "baselines", "--episodes", "10", "--seeds", "0", "--eval-episodes", "1", "--n-uavs", "1",
                 "--out", str(out)]) == 0
    wrote = [line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines() if line.startswith("wrote ")]
    assert sorted(wrote) == sorted(str(p) for p in out.iterdir()) and len(wrote) == len(set(wrote)) == 4
    assert [p.rsplit("/", 1)[-1] for p in wrote[:2]] == ["baselines.json", "baselines.md"]
