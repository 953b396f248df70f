"""Plugins (``OFFRL_PLUGINS``): an algorithm registered by a module outside offrl is known to ``offrl
train``, to the sweep launcher and its child processes, and to a Ray task's entry; a module that cannot
be imported is one line and exit status 1."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from offrl import plugins
from offrl.algos.base import ALGORITHMS
from offrl.cli import main

REPO = Path(__file__).resolve().parents[1]
MODULE = "offrl_test_plugin_bcreg"

# behaviour cloning plus a penalty on the actions' size, written as a user would write it (docs/extending.md)
PLUGIN_SOURCE = '''
import dataclasses

import jax.numpy as jnp
from flax import struct

from offrl.algos import Algorithm, common, register
from offrl.algos.base import hp
from offrl.algos.networks import DeterministicActor


@dataclasses.dataclass(frozen=True)
class Config:
    lr: float = hp(3e-4, "Adam learning rate", min=0, open_min=True)
    hidden: tuple[int, ...] = hp((16, 16), "hidden layer sizes", positive_items=True)
    batch_size: int = hp(16, "transitions per gradient step", min=1)
    action_penalty: float = hp(0.01, "weight of mean(action^2)", min=0)
    steps_per_call: int = 1


@struct.dataclass
class State:
    actor: common.TrainState


def init(key, spec, cfg):
    obs_dim, act_dim = common.dims(spec)
    net = DeterministicActor(act_dim, cfg.hidden, common.max_action(spec), **common.net_options(cfg, spec))
    return State(common.make_state(key, net, (jnp.zeros((1, obs_dim)),), common.adam_for(cfg)(cfg.lr)))


def update(cfg, state, batch, key):
    def loss_fn(params):
        pred = common.apply(state.actor, params, batch["observations"])
        bc = jnp.mean((pred - batch["actions"]) ** 2)
        return bc + cfg.action_penalty * jnp.mean(pred ** 2), bc

    actor, loss, bc = common.grad_step(state.actor, loss_fn)
    return State(actor), {"actor/loss": loss, "actor/bc_loss": bc}


def act(cfg, state, carry, obs, prev_reward, key):
    return common.forward(state.actor, obs), carry


register(Algorithm("bcreg", Config, init, update, act, description="BC plus an action penalty"))
'''

SWEEP = """
name: bcreg-plugin
algo: bcreg
dataset: local/toy-plugin-v0
seeds: [0, 1]
train: {steps: 40, eval_every: 20, wandb: false, progress: false}
grid:
  hp.action_penalty: [0.0, 0.1]
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin module written into ``tmp_path/src`` (importable here and, through PYTHONPATH, in child
    processes) and named in ``$OFFRL_PLUGINS``; afterwards ``bcreg`` and the import are forgotten."""
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(src), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv(plugins.ENV_VAR, MODULE)
    monkeypatch.setattr(ALGORITHMS, "_entries", dict(ALGORITHMS._entries))
    monkeypatch.setattr(plugins, "_loaded", [])
    yield src
    sys.modules.pop(MODULE, None)


def write_toy(name: str = "toy-plugin-v0", n: int = 300) -> None:
    """A random 5-d observation / 2-d action dataset saved as ``local/<name>`` (no env: no evaluation)."""
    from offrl.datasets import DatasetSpec, OfflineDataset, save

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n, 5)).astype(np.float32)
    ends = np.zeros(n, bool)
    ends[49::50] = True
    spec = DatasetSpec(f"local/{name}", None, (5,), "float32", (2,), "float32")
    save(OfflineDataset(obs, rng.uniform(-1, 1, (n, 2)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                        np.roll(obs, -1, 0), np.zeros(n, bool), ends, spec=spec), f"local/{name}")


def test_module_names_are_read_once_each_and_loading_is_idempotent(plugin):
    assert plugins.plugin_modules(" a.b, c ,,a.b ") == ["a.b", "c"]
    assert plugins.plugin_modules("") == []
    assert plugins.load_plugins() == [MODULE] and "bcreg" in ALGORITHMS
    # a second load imports nothing again (a re-run module would register bcreg twice and raise)
    assert plugins.load_plugins() == [MODULE] and plugins.load_plugins([MODULE]) == [MODULE]


def test_an_unknown_name_says_how_ones_own_is_registered(capsys):
    """Without OFFRL_PLUGINS a plugin's algorithm is unknown: the error says where to name its module."""
    assert main(["train", "--algo", "bcreg", "--dataset", "local/toy-plugin-v0"]) == 1
    err = capsys.readouterr().err
    assert "unknown algorithm 'bcreg'; did you mean 'bc'? (one of your own is known once its module is named in " \
           "OFFRL_PLUGINS: docs/extending.md)" in err
    assert main(["continual", "train", "--stream", "pendulum-gain", "--method", "erlast"]) != 0
    assert "OFFRL_PLUGINS" in capsys.readouterr().err


def test_offrl_train_finds_the_plugins_algorithm(plugin, tmp_path, capsys):
    from offrl.provenance import code_stamp

    assert "plugins" not in code_stamp()  # a stamp taken before the plugin loads (a process's earlier run)
    write_toy()
    argv = ["train", "--algo", "bcreg", "--dataset", "local/toy-plugin-v0", "--seeds", "0", "--steps", "40",
            "--eval-every", "20", "--hp", "action_penalty=0.1", "--no-progress", "--results-dir", str(tmp_path / "res")]
    assert main(argv) == 0, capsys.readouterr().err
    (run_dir,) = (tmp_path / "res").iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algo"] == "bcreg" and config["algo_config"]["action_penalty"] == 0.1
    assert json.loads((run_dir / "final.json").read_text())["steps"] == 40
    # the run records the plugin's code (its run id covers the options only): an edited plugin is other code
    import hashlib

    from offrl.provenance import code_versions

    digest = hashlib.sha256((plugin / f"{MODULE}.py").read_bytes()).hexdigest()[:12]
    assert config["code"]["plugins"] == {MODULE: digest}
    edited = {**config, "code": {**config["code"], "plugins": {MODULE: "0" * 12}}}
    versions, warning = code_versions({"a": config, "b": edited})
    assert len(versions["versions"]) == 2 and f"+ plugins {MODULE} {digest}" in warning


def test_a_sweep_of_the_plugins_algorithm_runs_in_child_processes(plugin, tmp_path, capsys):
    write_toy()
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP)
    assert main(["sweep", str(sweep), "--parallel", "2", "--gpus", "", "--results-dir", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "2 to run in child processes (2 at a time)" in out and "2 finished, 0 failed" in out
    for run_dir in (tmp_path / "res").iterdir():
        assert json.loads((run_dir / "final.json").read_text())["algo"] == "bcreg"
        assert "attempt 1, CPU" in (run_dir / "sweep.log").read_text()


def test_a_ray_task_imports_the_plugins_its_payload_names(plugin, tmp_path):
    """Ray workers do not get the launcher's environment: the task's payload carries the module list.
    The task's entry runs in a fresh interpreter without $OFFRL_PLUGINS, as on a Ray worker."""
    from offrl.sweep import load_sweep
    from offrl.sweep.backends import _ray_payload
    from offrl.sweep.kinds import get_kind

    write_toy()
    (tmp_path / "s.yaml").write_text(SWEEP)
    plugins.load_plugins()  # what `offrl sweep` did before it read the file
    config = load_sweep(tmp_path / "s.yaml", results_dir=tmp_path / "res").runs[0]
    data = _ray_payload(get_kind("train"), config)
    assert data["plugins"] == [MODULE]
    (tmp_path / "task.json").write_text(json.dumps(data))
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV_VAR}
    code = ("import json, sys; from offrl.sweep.backends import _ray_task; "
            "print(json.dumps(_ray_task(json.load(open(sys.argv[1])))))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "task.json")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "finished" and outcome["final"]["algo"] == "bcreg"


def test_a_module_that_cannot_be_imported_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plugins, "_loaded", [])
    monkeypatch.setenv(plugins.ENV_VAR, "offrl_no_such_plugin.algo")
    assert main(["train", "--algo", "bc", "--dataset", "local/none-v0"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["offrl train: error: OFFRL_PLUGINS: cannot import 'offrl_no_such_plugin.algo': "
                                "ModuleNotFoundError: No module named 'offrl_no_such_plugin'"]
    # a module that raises while it runs (here: a name offrl already has) is reported the same way
    (tmp_path / "offrl_test_plugin_clash.py").write_text(textwrap.dedent("""
        from offrl.algos import get, register
        register(get("bc"))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.ENV_VAR, "offrl_test_plugin_clash")
    assert main(["continual", "list"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["offrl continual: error: OFFRL_PLUGINS: cannot import 'offrl_test_plugin_clash': "
                                "ValueError: algorithm 'bc' is already registered"]
    sys.modules.pop("offrl_test_plugin_clash", None)


def test_a_sweep_worker_that_cannot_import_a_plugin_fails_in_one_line_without_retry(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"kind": "train", "config": {"run_id": "r1"}}))
    env = {**os.environ, plugins.ENV_VAR: "offrl_no_such_plugin",
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "offrl.sweep.worker", str(run), str(tmp_path / "out.json")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads((tmp_path / "out.json").read_text())
    # no traceback: an expected failure, which the launcher reports without retrying it
    assert outcome["status"] == "failed" and outcome["traceback"] is None
    assert outcome["error"] == ("PluginError: OFFRL_PLUGINS: cannot import 'offrl_no_such_plugin': "
                                "ModuleNotFoundError: No module named 'offrl_no_such_plugin'")
