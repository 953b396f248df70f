"""`offrl train --data-root DIR` (TrainConfig.data_root): the dataset is read from that root, the hints about
missing or damaged data name it, a root that cannot be a folder is refused up front, and the root changes no
run id (present or earlier form) nor stops a run from resuming on another root."""

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from offrl.cli import main

TOY = "local/toy-v0"
# bc with 16-unit layers on 300 rows and no env (no evaluation): trains in seconds on a CPU
TINY = ["--algo", "bc", "--seeds", "0", "--steps", "100", "--eval-every", "100", "--hp", "hidden=16,16",
        "batch_size=16", "--wandb", "off", "--no-progress"]


def write_toy(root: Path) -> Path:
    """A random 11-d observation / 3-d action dataset saved as ``local/toy-v0`` in the data root ``root``."""
    from offrl.datasets import DatasetSpec, OfflineDataset, save

    rng = np.random.default_rng(0)
    n = 300
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    term = np.zeros(n, bool)
    term[::97] = True
    spec = DatasetSpec(TOY, None, (11,), "float32", (3,), "float32")
    ds = OfflineDataset(obs, rng.uniform(-1, 1, (n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                        np.roll(obs, -1, 0), term, np.zeros(n, bool), spec=spec)
    return save(ds, TOY, root=root)


def default_root() -> Path:
    import os

    return Path(os.environ["OFFRL_DATA_DIR"])


# ------------------------------------------------------------------ run ids
def test_the_data_root_changes_no_run_id_nor_its_earlier_forms(tmp_path):
    """The present id (command line and sweep alike), the sweep's id from before identities, and both earlier
    forms that `default_run_id` looks for are those of the same config without a data root; a folder recorded
    under an earlier form is found from a config with one."""
    from offrl.sweep.kinds import get_kind
    from offrl.sweep.spec import legacy_run_id_of, run_id_of
    from offrl.train import (REPORTING_FIELDS, RESUME_FREE_FIELDS, TrainConfig, _jsonable, default_run_id,
                             resolve_config, train_identity)

    tc = TrainConfig(dataset="local/hopper-medium-v0", algo="td3bc", hp=("batch_size=64",), steps=1000,
                     eval_every=500, results_dir=str(tmp_path))
    rooted = dataclasses.replace(tc, data_root=str(tmp_path / "my data"))
    base = default_run_id(tc)
    assert default_run_id(rooted) == base and train_identity(rooted) == train_identity(tc)
    kind = get_kind("train")
    assert run_id_of(kind, rooted) == run_id_of(kind, tc) == base
    assert legacy_run_id_of(kind, rooted) == legacy_run_id_of(kind, tc)
    # and that one as sweeps computed it before the field existed
    from offrl.logging import to_jsonable
    from offrl.sweep.spec import NOT_IDENTITY

    fields = {k: v for k, v in dataclasses.asdict(tc).items() if k not in NOT_IDENTITY and k != "data_root"}
    blob = json.dumps({"kind": "train", "config": to_jsonable(fields)}, sort_keys=True)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:8]
    assert legacy_run_id_of(kind, rooted) == f"td3bc-local_hopper-medium-v0-{digest}"

    # the earlier forms as they were computed before the field existed: the resolved options without it
    resolved, _, cfg = resolve_config(tc)

    def earlier(left_out):
        fields = {k: v for k, v in dataclasses.asdict(resolved).items() if k not in left_out and k != "data_root"}
        blob = json.dumps({"train": _jsonable(fields), "algo": _jsonable(dataclasses.asdict(cfg))}, sort_keys=True)
        return f"td3bc-local_hopper-medium-v0-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"

    newer, older = earlier(RESUME_FREE_FIELDS), earlier(REPORTING_FIELDS)
    assert len({base, newer, older}) == 3
    (tmp_path / older).mkdir()
    assert default_run_id(rooted) == default_run_id(tc) == older
    (tmp_path / newer).mkdir()
    assert default_run_id(rooted) == default_run_id(tc) == newer


def test_a_run_resumes_and_is_found_finished_reading_another_data_root(tmp_path, capsys):
    """The data root is not recorded with a run's settings nor compared: a stopped run resumes, and a finished
    one is found, from a copy of its data in another root (their checksum is still compared)."""
    from offrl.train import TrainConfig, config_difference, default_run_id

    first, second = tmp_path / "first", tmp_path / "second"
    write_toy(first)
    shutil.copytree(first, second)
    res = ["--results-dir", str(tmp_path / "res")]
    assert main(["train", "--dataset", TOY, "--data-root", str(first), *TINY, *res]) == 0
    out = capsys.readouterr().out
    run_id = default_run_id(TrainConfig(algo="bc", dataset=TOY, seeds=(0,), steps=100, eval_every=100,
                                        hp=("hidden=16,16", "batch_size=16")))
    run = tmp_path / "res" / run_id
    assert f"into {run}\n" in out and (run / "final.json").is_file()  # the id of the same run without a root
    record = json.loads((run / "config.json").read_text())
    assert "data_root" not in record["train_config"] and str(first) not in (run / "config.json").read_text()

    # found finished from the other root
    assert main(["train", "--dataset", TOY, "--data-root", str(second), *TINY, *res]) == 0
    assert f"already finished: {run} holds this run" in capsys.readouterr().out

    # a stopped run (checkpoints, no final.json) resumes from the other root
    final = json.loads((run / "final.json").read_text())
    (run / "final.json").unlink()
    assert main(["train", "--dataset", TOY, "--data-root", str(second), *TINY, *res]) == 0
    assert "different configuration" not in capsys.readouterr().err
    assert json.loads((run / "final.json").read_text())["run_id"] == final["run_id"] == run_id

    # the comparison itself: a record that holds a data root (or a new config that does) differs in nothing
    new = json.loads(json.dumps(record))
    new["train_config"]["data_root"] = str(second)
    old = json.loads(json.dumps(record))
    old["train_config"]["data_root"] = str(first)
    assert config_difference(old, new) == [] and config_difference(record, new) == []


# ------------------------------------------------------------------ hints and refusals
def test_missing_data_hints_name_the_data_root(tmp_path, capsys):
    root = tmp_path / "mine"
    assert main(["train", "--dataset", "local/hopper-medium-v0", "--data-root", str(root), *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"offrl train: error: local/hopper-medium-v0 is not on this machine (looked in "
                   f"{root}/local/hopper-medium-v0); create it with `offrl collect hopper-medium --data-root {root}`")
    # downloadable data: the command downloads into that root (load's own words name none)
    assert main(["train", "--dataset", "d4rl/hopper-medium-v2", "--data-root", str(root), *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"offrl train: error: d4rl/hopper-medium-v2: missing {root}/d4rl/"), err
    assert err.endswith(f"; get it with `offrl datasets download d4rl/hopper-medium-v2 --root {root}`"), err
    # the default root, written out or not: no option in the command
    assert main(["train", "--dataset", "d4rl/hopper-medium-v2", "--data-root", str(default_root()), *TINY]) == 1
    assert capsys.readouterr().err.strip().endswith("get it with `offrl datasets download d4rl/hopper-medium-v2`")
    assert not root.exists() and not default_root().exists()  # only looked in


def test_damaged_data_hint_names_the_data_root(tmp_path, capsys):
    from offrl.collection import collect
    from offrl.datasets import local_dataset_dir

    root = tmp_path / "mine"
    collect("hopper-medium", steps=300, root=root, minari=False, progress=False)
    data = local_dataset_dir("local/hopper-medium-v0", root) / "data.h5"
    data.write_bytes(b"damaged")
    assert main(["train", "--dataset", "local/hopper-medium-v0", "--data-root", str(root), *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("offrl train: error: ") and len(err.splitlines()) == 1, err
    assert err.endswith(f"collect it again with `offrl collect hopper-medium --steps 300 --data-root {root} "
                        "--overwrite`"), err


def test_a_data_root_that_cannot_be_a_folder_is_refused_up_front(tmp_path, capsys, monkeypatch):
    from offrl.train import TrainConfig, load_dataset

    afile = tmp_path / "afile"
    afile.write_text("x")
    res = tmp_path / "res"
    for root, problem in ((afile, "is not a directory"), (afile / "below", f"cannot be created: {afile} is not a "
                                                                            "directory")):
        assert main(["train", "--dataset", TOY, "--data-root", str(root), *TINY, "--results-dir", str(res)]) == 1
        captured = capsys.readouterr()
        assert captured.err.strip() == (f"offrl train: error: data root {root} {problem}; pass --data-root DIR, "
                                        "the folder that holds the data")
        assert captured.out == ""  # not even the "training ..." line
    # the default root, named with where it comes from
    monkeypatch.setenv("OFFRL_DATA_DIR", str(afile))
    assert main(["train", "--dataset", TOY, *TINY, "--results-dir", str(res)]) == 1
    assert capsys.readouterr().err.strip() == (f"offrl train: error: data root {afile} (from $OFFRL_DATA_DIR) is "
                                               "not a directory; pass --data-root DIR, the folder that holds the data")
    assert afile.read_text() == "x" and not res.exists()
    # a dataset path reads no data root: a broken default one does not stand in its way
    folder = write_toy(tmp_path / "elsewhere")
    assert len(load_dataset(TrainConfig(dataset=str(folder)))) == 300


# ------------------------------------------------------------------ sweeps
def test_a_sweeps_train_runs_read_the_data_root_of_the_file(tmp_path, capsys, monkeypatch):
    """`train: {data_root: DIR}`: the plan looks for the data there and names commands that write there,
    --collect collects there, and the run reads them there, under the id the same run has without a root."""
    import offrl.sweep.plan as plan
    from offrl.datasets import is_present
    from offrl.sweep.spec import load_sweep

    root = tmp_path / "my data"
    body = ("name: rooted\nalgo: bc\ndataset: local/hopper-medium-v0\nseeds: [0]\nhp: {hidden: [16, 16], "
            "batch_size: 16}\ntrain: {steps: 100, eval_every: 100, chunk: 100, eval_episodes: 1, wandb: false, "
            "progress: false%s}\n")
    f = tmp_path / "s.yaml"
    f.write_text(body % f", data_root: '{root}'")
    res = ["--results-dir", str(tmp_path / "res")]
    assert main(["sweep", "plan", str(f), *res]) == 0
    out = capsys.readouterr().out
    assert "DATA MISSING" in out
    assert (f"local/hopper-medium-v0: missing {root}/local/hopper-medium-v0; create it with "
            f"`offrl collect hopper-medium --data-root '{root}'`") in out

    real = plan._collect_local
    monkeypatch.setattr(plan, "_collect_local", lambda name, steps, progress, root: real(name, 300, False, root))
    assert main(["sweep", str(f), *res, "--collect", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"collecting local/hopper-medium-v0 (`offrl collect hopper-medium --data-root '{root}'`)" in out
    assert "rooted: 1 finished, 0 failed" in out
    assert is_present("local/hopper-medium-v0", root=root) and not default_root().exists()

    plain = tmp_path / "plain.yaml"
    plain.write_text(body % "")
    run_id, = load_sweep(plain, results_dir=res[1]).run_ids
    assert load_sweep(f, results_dir=res[1]).run_ids == [run_id]
    assert (Path(res[1]) / run_id / "final.json").is_file()

