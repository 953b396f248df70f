"""PNG plots of the baseline comparison: association over training and UAV trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from offrl.envs.uav.params import EnvParams
from offrl.envs.uav.policies import (Policy, greedy_policy, kmeans_policy, random_policy, rollout,
                                     tabular_policy, targets_policy)

COLORS = {"sarsa": "tab:blue", "qlearning": "tab:orange", "pso": "tab:green", "kmeans": "tab:red",
          "greedy": "tab:purple", "random": "tab:gray"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(result: dict[str, Any], path: str | Path) -> Path:
    """Greedy association on held-out layouts vs training episodes (mean and min-max over seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for m in ("sarsa", "qlearning", "pso"):
        c = result["curves"].get(m)
        if c is None:
            continue
        ev = np.asarray(c["eval"])
        x = np.asarray(c["episodes"])
        ax.plot(x, ev.mean(0), color=COLORS[m], label=m)
        ax.fill_between(x, ev.min(0), ev.max(0), color=COLORS[m], alpha=0.2)
    for m in ("kmeans", "greedy", "random"):
        if m in result["summary"]:
            ax.axhline(result["summary"][m]["mean"], color=COLORS[m], ls="--", lw=1, label=f"{m} (no training)")
    ax.set_xlabel("training episodes (environment episodes used)")
    ax.set_ylabel("mean UAV-associated users / step")
    ax.set_title("Association over training (held-out layouts)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def method_policies(result: dict[str, Any]) -> dict[str, Policy]:
    """The seed-0 policy of every method in a comparison result."""
    pols = {"random": random_policy(), "greedy": greedy_policy(), "kmeans": kmeans_policy()}
    for m in ("sarsa", "qlearning"):
        if m in result["policies"]:
            pols[m] = tabular_policy(result["policies"][m]["q"][0])
    if "pso" in result["policies"]:
        pols["pso"] = targets_policy(result["policies"]["pso"]["targets"][0])
    return pols


def plot_trajectories(result: dict[str, Any], params: EnvParams, path: str | Path, key=None) -> Path:
    """UAV trajectories and final association of every method on one held-out layout."""
    plt = _plt()
    key = jax.random.PRNGKey(10_000) if key is None else key
    pols = method_policies(result)
    order = [m for m in ("sarsa", "qlearning", "pso", "kmeans", "greedy", "random") if m in pols]
    cols = 3
    rows = (len(order) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), layout="constrained", squeeze=False)
    for ax, m in zip(axes.ravel(), order):
        out = jax.jit(lambda k, p=pols[m]: rollout(p, k, params, record=True))(key)
        users = np.asarray(out["users"])
        start = np.asarray(out["start_pos"]) * params.cell_m
        traj = np.concatenate([start[None], np.asarray(out["uav_pos"]) * params.cell_m])
        assoc_n = np.asarray(out["n_assoc"])
        ax.scatter(users[:, 0], users[:, 1], s=6, c="k", alpha=0.5, label="ground users")
        for u in range(params.n_uavs):
            ax.plot(traj[:, u, 0], traj[:, u, 1], "-o", ms=2, lw=1.2, label=f"uav_{u}")
            ax.plot(*traj[-1, u], "^", ms=9, color=ax.lines[-1].get_color())
        ax.set_xlim(-50, params.area_m + 50)
        ax.set_ylim(-50, params.area_m + 50)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_title(f"{m}: {assoc_n.mean():.1f} users/step (final {int(assoc_n[-1])})", fontsize=9)
    for ax in axes.ravel()[len(order):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("UAV trajectories on one held-out layout (lines: paths; triangles: final positions)", fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(result: dict[str, Any], params: EnvParams, out_dir: str | Path) -> list[Path]:
    """Write ``association_over_training.png`` and ``trajectories.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_training(result, out / "association_over_training.png"),
            plot_trajectories(result, params, out / "trajectories.png")]
