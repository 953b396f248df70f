"""What a new user meets first: the quickstart's data, listing, pipes, small runs, help, messages, UAV API."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offrl import collection
from offrl.cli import main
from offrl.errors import ConfigError
from offrl.train import MAX_CHUNK, TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _offrl(*args: str, stdout) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "offrl.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=120)


# ------------------------------------------------------------------ output into a pipe closed early
def test_closed_pipe_ends_quietly():
    """``offrl datasets list minari/ | head -3``: a reader that went away ends the command with status 141
    and no traceback, whether it left before the first write or after a few lines."""
    r, w = os.pipe()
    os.close(r)  # no reader at all: the first write fails
    try:
        p = _offrl("datasets", "list", "minari/", stdout=w)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr and "Exception ignored" not in p.stderr

    # the shell's way: head reads three lines and exits while offrl is still writing
    shell = subprocess.run(
        f"set -o pipefail; {sys.executable} -m offrl.cli datasets list | head -3",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert len(shell.stdout.splitlines()) == 3
    assert "Traceback" not in shell.stderr and "BrokenPipeError" not in shell.stderr
    assert shell.returncode in (0, 141)  # 0 when everything fit in the pipe before head left


# ------------------------------------------------------------------ listing = what can be made or loaded
def test_local_listing_is_what_collection_makes(capsys):
    from offrl.datasets.registry import list_datasets

    from offrl.continual.streams import QUALITIES, list_streams, load_stream

    local = list_datasets("local/")
    single = sorted(f"local/{e}-{lv}-v0" for e in collection.ENVS for lv in collection.LEVELS)
    tasks = sorted(f"local/{s}/{t.name}-{q}-v0" for s in list_streams() for t in load_stream(s).tasks
                   for q in QUALITIES if collection.policy_file(f"{s}/{t.name}").is_file())
    assert local == sorted(single + tasks)
    samples = single + [next(i for i in tasks if i.startswith(f"local/{s}/")) for s in list_streams()]
    for i in samples:  # every listed id is one `offrl collect` accepts, named as its description says
        assert collection.parse_name(i)
        assert main(["datasets", "info", i]) == 0
        d = json.loads(capsys.readouterr().out)
        name = re.search(r"offrl collect (\S+)\)", d["description"]).group(1)
        assert collection.parse_name(name) == collection.parse_name(i)
    assert main(["datasets", "list"]) == 0
    assert "local/ant-medium" not in capsys.readouterr().out  # no shipped Ant-v5 policies (ant-dir tasks are listed)
    assert main(["datasets", "info", "local/ant-medium-v0"]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'local/ant-medium-v0'" in err and "offrl collect" not in err


# ------------------------------------------------------------------ chunk choice
@pytest.mark.parametrize("steps, eval_every, per_call, want", [
    (1_000_000, 5_000, 1, 1000),   # the usual run: unchanged
    (100, 5_000, 1, 100),          # --steps 100
    (1_500, 1_000, 1, 500),
    (300, 100, 2, 100),
    (999, 333, 1, 333),
    (30, 5_000, 2, 10),            # largest divisor of 10 that TD3+BC's 2 steps per call divide
    (7, 7, 1, 7),
])
def test_default_chunk_is_largest_common_divisor(steps, eval_every, per_call, want):
    tc = TrainConfig(steps=steps, eval_every=eval_every)
    chunk = tc.resolved_chunk(per_call)
    assert chunk == want and steps % chunk == 0 and eval_every % chunk == 0 and chunk % per_call == 0
    assert chunk <= MAX_CHUNK


def test_chunk_errors_are_clear():
    with pytest.raises(ConfigError, match="steps_per_call=2"):
        TrainConfig(algo="td3bc", steps=101, eval_every=5_000).resolved_chunk(2)
    with pytest.raises(ConfigError, match="multiple of chunk"):
        TrainConfig(steps=100, chunk=1000)
    with pytest.raises(ConfigError, match="chunk=3 must be a multiple"):
        TrainConfig(steps=300, eval_every=300, chunk=3).resolved_chunk(2)


# ------------------------------------------------------------------ the quickstart's data, then the next command
def test_quickstart_data_is_in_the_standard_root_and_trains_next(tmp_path, capsys, monkeypatch):
    """The quickstart's dataset lands in the standard data root under an id that ``load``,
    ``datasets info/list`` and ``offrl train`` resolve; a rerun reuses it; the README names it."""
    from offrl.datasets import load, local_dataset_dir
    from offrl.quickstart import QuickstartArgs, dataset_id, quickstart_dataset

    ds, collected = quickstart_dataset(300, progress=False)
    ds_id = dataset_id(300)
    assert collected and ds_id == "local/hopper-medium-300-v0" == ds.spec.id
    assert local_dataset_dir(ds_id).parent.parent == Path(os.environ["OFFRL_DATA_DIR"])
    again = load(ds_id)  # the standard root, no root argument
    assert len(again) == 300 and again.spec.env_id == "Hopper-v5" and again.spec.ref_max is not None
    np.testing.assert_array_equal(again.actions, ds.actions)
    assert quickstart_dataset(300, progress=False)[1] is False  # reused, not collected again

    assert main(["datasets", "info", ds_id]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["present"] and d["env_id"] == "Hopper-v5" and "300 transitions" in d["description"]
    assert main(["datasets", "list", "local/"]) == 0
    assert f"* {ds_id}" in capsys.readouterr().out

    # the next command: --steps 100 fits (chunk 100), the end names the results folder
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--algo", "bc", "--dataset", ds_id, "--seeds", "0", "--steps", "100", "--eval-episodes", "1",
            "--hp", "hidden=16,16", "batch_size=16", "--no-progress", "--wandb", "False"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    results = Path(os.environ["OFFRL_RESULTS_DIR"])
    run_dir = next(results.iterdir())
    assert f"results: {run_dir}" in out and "already finished" not in out
    assert json.loads((run_dir / "config.json").read_text())["train_config"]["chunk"] == 100
    # rerunning a finished run says so and trains nothing
    before = (run_dir / "final.json").read_text()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"already finished: {run_dir}" in out and f"results: {run_dir}" in out
    assert (run_dir / "final.json").read_text() == before
    # an explicit run id naming a finished run of another configuration is refused
    longer = list(argv)
    longer[argv.index("--steps") + 1] = "200"  # in place: an option given twice is refused
    assert main([*longer, "--run-id", run_dir.name]) == 1
    assert "different configuration" in capsys.readouterr().err

    # the README's tour and snippet use the id the default quickstart saves
    readme = (REPO / "README.md").read_text()
    qs_id = dataset_id(QuickstartArgs().transitions)
    assert f"--dataset {qs_id}" in readme and f'D.load("{qs_id}")' in readme
    from offrl.datasets.registry import DATASETS

    for i in set(re.findall(r"local/[\w.-]+-v\d+", readme)):
        assert i in DATASETS or i == qs_id, i


def test_quickstart_never_overwrites_other_data():
    from offrl.datasets import save
    from offrl.quickstart import dataset_id, quickstart_dataset

    other = collection.collect("hopper-medium", steps=200, save=False, progress=False)
    save(other, dataset_id(300))
    with pytest.raises(ConfigError, match="holds 200 transitions"):
        quickstart_dataset(300, progress=False)


def test_quickstart_end_to_end_then_rerun(tmp_path, capsys):
    from offrl.quickstart import QuickstartArgs, run

    args = QuickstartArgs(out=tmp_path / "qs", algo="bc", transitions=1500, steps=200, eval_every=100, eval_episodes=1)
    final = run(args)
    out = capsys.readouterr().out
    assert "| local/hopper-medium-1500-v0 | bc | 2 |" in out and "[2/4] training bc" in out
    assert "offrl train --algo iql --dataset local/hopper-medium-1500-v0" in out  # the next command it suggests
    assert len(final["normalized_score"]["last"]) == 2
    assert (tmp_path / "qs" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "qs" / "report" / "report.md").read_text()
    assert "| `local/hopper-medium-1500-v0` | bc |" in report
    assert not list((tmp_path / "qs" / "report").glob("*.png"))  # the quickstart's figure is the one above
    # a rerun reuses the data and the finished run and says so
    assert run(args) == final
    out = capsys.readouterr().out
    assert "already collected, reused" in out and "[2/4] already trained" in out and "training bc" not in out


# ------------------------------------------------------------------ figures that carry information
@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib figure saved during the test, kept open for inspection."""
    from matplotlib.figure import Figure

    figures = []
    orig = Figure.savefig

    def keep(self, *a, **kw):
        figures.append(self)
        return orig(self, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def test_learning_curve_draws_the_behaviour_line(tmp_path, saved_figures):
    from offrl.evaluation import plots, stats

    curve = np.array([[10.0, 40.0, 50.0], [20.0, 35.0, 55.0]])
    est = stats.learning_curve(curve, reps=100)
    path = plots.plot_learning_curves({"iql": (np.array([500, 1000, 1500]), est)}, tmp_path / "c.png",
                                      references={"behaviour data": 33.1}, seed_curves={"iql": curve})
    assert path.read_bytes()[:4] == b"\x89PNG"
    ax = saved_figures[-1].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"behaviour data (33.1)", "single seeds", "iql"} <= set(lines)
    assert set(np.asarray(lines["behaviour data (33.1)"].get_ydata(), dtype=float)) == {33.1}
    assert len(ax.get_lines()) == 1 + 2 + 1  # behaviour, two seeds, the mean
    np.testing.assert_allclose(lines["iql"].get_ydata(), curve.mean(0))
    assert "behaviour data (33.1)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_report_leaves_out_figures_without_information(tmp_path):
    """One algorithm on one dataset: no aggregate or profile figure (the table holds it all); two
    algorithms: both, plus P(improvement)."""
    from offrl.report import ReportArgs, make_report

    def run(root, algo, scores):
        d = root / f"{algo}-run"
        d.mkdir(parents=True)
        cfg = {"run_id": d.name, "algo": algo, "dataset": "d4rl/hopper-medium-v2", "seeds": [0, 1, 2],
               "algo_config": {}, "train_config": {"steps": 200}}
        (d / "config.json").write_text(json.dumps(cfg))
        curve = [[s / 2, s] for s in scores]
        final = {"run_id": d.name, "algo": algo, "dataset": cfg["dataset"], "seeds": [0, 1, 2],
                 "eval_steps": [100, 200],
                 "normalized_score": {"last": scores, "best": scores, "curve": curve},
                 "return": {"last": scores, "best": scores, "curve": curve}, "steps": 200}
        (d / "final.json").write_text(json.dumps(final))
        (d / "metrics.jsonl").write_text("")

    run(tmp_path / "one", "iql", [40.0, 50.0, 45.0])
    md = make_report(ReportArgs(paths=(tmp_path / "one",), out=tmp_path / "r1", reps=200, profile_reps=100)).read_text()
    pngs = {p.name for p in (tmp_path / "r1").glob("*.png")}
    assert pngs == {"curves_d4rl_hopper-medium-v2.png"}
    assert "left out" in md and "aggregates.png" not in md and "| iql |" in md  # the numbers stay in the table

    run(tmp_path / "two", "iql", [40.0, 50.0, 45.0])
    run(tmp_path / "two", "td3bc", [60.0, 55.0, 58.0])
    make_report(ReportArgs(paths=(tmp_path / "two",), out=tmp_path / "r2", reps=200, profile_reps=100))
    assert {"aggregates.png", "profiles.png", "improvement.png"} <= {p.name for p in (tmp_path / "r2").glob("*.png")}


# ------------------------------------------------------------------ help and --seeds
def test_train_help_lists_algorithms_without_markup(capsys):
    from offrl import algos

    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in algos.names():
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), name
    assert "``" not in out and "{None}" not in out


@pytest.mark.parametrize("command", [["collect"], ["continual", "train"], ["continual", "collect"], ["sweep"],
                                     ["sweep", "plan"], ["reproduce"], ["report"], ["online"], ["eval"]])
def test_every_command_help_reads_without_markup(command, capsys):
    """Optional options show a metavar that says what to give, not tyro's "{None}|STR"."""
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: offrl " + " ".join(command) in out
    assert "{None}" not in out and "``" not in out


def test_seeds_are_lists_everywhere_with_a_note_for_one(capsys):
    import dataclasses

    from offrl.cli import note_single_seed
    from offrl.envs.uav.baselines import ComparisonConfig, run_comparison
    from offrl.envs.uav.cli import Baselines
    from offrl.envs.uav.params import make_params

    fields = {f.name: f for f in dataclasses.fields(Baselines)}
    assert fields["seeds"].type in ("tuple[int, ...]", tuple[int, ...])
    assert {f.name: f for f in dataclasses.fields(TrainConfig)}["seeds"].default == (0, 1, 2, 3, 4)
    note_single_seed((4,))
    err = capsys.readouterr().err
    assert "runs seed 4 only" in err and "--seeds 0 1 2 3" in err
    note_single_seed((0,))
    note_single_seed((0, 1, 2))
    assert capsys.readouterr().err == ""
    with pytest.raises(ConfigError, match=r"give the seeds themselves"):
        run_comparison(make_params(), ComparisonConfig(seeds=4))
    with pytest.raises(SystemExit):
        main(["uav", "baselines", "--help"])
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "--seeds [INT [INT ...]]" in help_text and "(default: 0 1 2 3)" in help_text


# ------------------------------------------------------------------ UAV env: gymnax names, labelled plots
def test_uav_env_offers_default_params_and_labelled_trajectories(tmp_path, saved_figures, monkeypatch):
    import jax

    from offrl.envs.uav import UAVOffload, plots
    from offrl.envs.uav.params import make_params
    from offrl.envs.uav.policies import random_policy

    params = make_params("urban", n_uavs=2, episode_len=5)
    env = UAVOffload(params)
    assert env.default_params is env.params is params  # gymnax's name and ours
    obs, state = env.reset(jax.random.PRNGKey(0), env.default_params)
    assert set(obs) == set(env.agents)

    monkeypatch.setattr(plots, "method_policies", lambda result: {"random": random_policy()})  # one rollout to compile
    plots.plot_trajectories({"policies": {}}, params, tmp_path / "t.png")
    drawn = [ax for ax in saved_figures[-1].axes if ax.get_title()]
    assert drawn and all(ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "y (m)" for ax in drawn)
