"""Test-wide settings: never touch the network, the user's caches or a GPU."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("MUJOCO_GL", "disable")
# never the user's compilation cache (sweeps turn one on: offrl.compile_cache)
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
os.environ.pop("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", None)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_roots(tmp_path, monkeypatch):
    """Every test gets empty data/result roots of its own."""
    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "offrl-data"))
    monkeypatch.setenv("OFFRL_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "d4rl"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    # off: a test's runs share few programs and would only pay for writing them (~13 % on tests/reproduce);
    # tests/sweep/test_compile_cache.py turns it on
    monkeypatch.setenv("OFFRL_COMPILE_CACHE", "off")
    yield
    _forget_compile_cache()


def _forget_compile_cache():
    """A sweep turns JAX's persistent compilation cache on for its process (offrl.compile_cache): turn
    it off again, so that each test compiles as if alone."""
    import sys

    from offrl.compile_cache import ENV_DIR, ENV_MIN_TIME

    os.environ.pop(ENV_DIR, None)
    os.environ.pop(ENV_MIN_TIME, None)
    if "jax" in sys.modules:
        import jax

        if jax.config.jax_compilation_cache_dir:
            from jax.experimental.compilation_cache import compilation_cache

            jax.config.update("jax_compilation_cache_dir", None)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
            compilation_cache.reset_cache()


@pytest.fixture
def toy_hopper_dataset():
    """A 600-transition dataset with Hopper-v5's spaces and reference scores (random numbers, episodes
    ending every 97 steps): enough for short train/resume runs that evaluate on the real env."""
    import numpy as np

    from offrl.datasets import DatasetSpec, OfflineDataset

    rng = np.random.default_rng(0)
    n = 600
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    term = np.zeros(n, bool)
    term[::97] = True
    spec = DatasetSpec("toy/hopper", "Hopper-v5", (11,), "float32", (3,), "float32", ref_min=-20.0, ref_max=3234.0)
    return OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                          np.roll(obs, -1, 0), term, np.zeros(n, bool), spec=spec)


@pytest.fixture
def dataset_without_env_file(tmp_path):
    """The path of a small dataset file (200 transitions, Hopper's spaces, episodes ending every 50 steps)
    whose spec names no env: nothing is evaluated unless a command is given --env-id."""
    import numpy as np

    from offrl.datasets import DatasetSpec, OfflineDataset, save

    rng = np.random.default_rng(0)
    n = 200
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    spec = DatasetSpec("toy/no-env", None, (11,), "float32", (3,), "float32")
    path = tmp_path / "dataset_without_env.npz"
    save(OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                        np.roll(obs, -1, 0), np.arange(n) % 50 == 0, np.zeros(n, bool), spec=spec), path)
    return str(path)


@pytest.fixture
def no_collecting(monkeypatch):
    """Fail the test if any transition is collected (``collection.collect_stream``, which every collection
    steps through, after the checks of ``collection.collect`` and of the commands), e.g. where a data root that
    cannot hold the data must be refused before collecting."""
    from offrl import collection

    def refuse(*args, **kwargs):
        raise AssertionError("collected although the data root cannot hold the data")

    monkeypatch.setattr(collection, "collect_stream", refuse)


@pytest.fixture
def interrupt_on_call(monkeypatch):
    """``interrupt_on_call(owner, name, call)`` patches ``owner.name`` so that its ``call``-th call (1-based)
    first sends this process SIGINT, as Ctrl-C would while that code runs."""
    import signal

    def patch(owner, name: str, call: int) -> None:
        real = getattr(owner, name)
        calls = []

        def wrapped(*args, **kwargs):
            calls.append(1)
            if len(calls) == call:
                os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)

    return patch
