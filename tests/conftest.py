"""Test-wide settings: never touch the network, the user's caches or a GPU."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("MUJOCO_GL", "disable")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_roots(tmp_path, monkeypatch):
    """Every test gets empty data/result roots of its own."""
    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "offrl-data"))
    monkeypatch.setenv("OFFRL_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "d4rl"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    yield
