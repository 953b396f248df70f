"""`offrl reproduce --data-root DIR`: every row reads its data from DIR (its run id unchanged), the missing
data are looked for, downloaded and collected there, every command named gets them there, and a root that
cannot serve is refused up front in the words of the other commands' `--data-root`."""

import os
from pathlib import Path

import pytest

from offrl.cli import main as offrl_main
from offrl.datasets import registry as R
from offrl.errors import ConfigError, OffrlError
from offrl.paths import results_root
from offrl.reproduce.cli import build_sweeps
from offrl.reproduce.targets import TARGETS, Context, SweepSpec


def _run_folders():
    root = results_root()
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_every_targets_run_ids_do_not_depend_on_the_data_root(tmp_path):
    """The root says where the data are, not what a run computes: the rows of every target keep their ids
    (so a table's finished runs are found whichever root), and each row reads the root given."""
    root = str(tmp_path / "elsewhere")
    for name, target in TARGETS.items():
        specs = target.specs(Context())
        plain = [c for s in build_sweeps(specs) for c in s.runs]
        rooted = [c for s in build_sweeps(specs, data_root=root) for c in s.runs]
        assert [c.run_id for c in rooted] == [c.run_id for c in plain], name
        assert {c.data_root for c in plain} == {None}, name                  # the default: $OFFRL_DATA_DIR
        assert {c.data_root for c in rooted} == {root}, name


def test_the_rows_reach_the_launcher_with_the_root_and_their_usual_ids(tmp_path, monkeypatch):
    seen = {}

    def fake_run_sweep(sweep, **kw):
        seen.setdefault(key, []).extend((c.run_id, c.data_root) for c in sweep.runs)
        return {}

    monkeypatch.setattr("offrl.sweep.run_sweep", fake_run_sweep)
    argv = ["reproduce", "offrl-local-v0", "--algos", "bc", "td3bc", "--datasets", "hopper-medium", "--skip-missing",
            "--out", str(tmp_path / "r"), "--no-plots"]
    root = tmp_path / "mine"
    for key, extra in (("default", []), ("root", ["--data-root", str(root)])):
        offrl_main([*argv, *extra])
    assert len(seen["default"]) == 2
    assert [i for i, _ in seen["root"]] == [i for i, _ in seen["default"]]
    assert {r for _, r in seen["default"]} == {None} and {r for _, r in seen["root"]} == {str(root)}


def test_a_relative_root_is_given_to_the_runs_written_out(tmp_path, monkeypatch):
    """Child processes and Ray workers may run elsewhere: the runs get the root as a whole path."""
    seen = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("offrl.sweep.run_sweep", lambda sweep, **kw: seen.extend(c.data_root for c in sweep.runs) or {})
    offrl_main(["reproduce", "offrl-local-v0", "--algos", "bc", "--datasets", "hopper-medium", "--skip-missing",
                "--data-root", "data", "--out", str(tmp_path / "r"), "--no-plots"])
    assert seen == [str(tmp_path / "data")]


def test_dry_run_looks_in_the_root_and_names_it(tmp_path, capsys):
    root = tmp_path / "mine"
    assert offrl_main(["reproduce", "offrl-local-v0", "--dry-run", "--algos", "bc", "--datasets", "hopper-medium",
                       "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("local/hopper-medium-v0: missing"))
    assert line.strip() == (f"local/hopper-medium-v0: missing {root / 'local' / 'hopper-medium-v0'}; create it with "
                            f"`offrl collect hopper-medium --data-root {root}`")
    assert not root.exists() and _run_folders() == []                    # a dry run writes nothing


def test_the_quick_dry_run_says_its_data_go_into_the_root(tmp_path, capsys):
    root = tmp_path / "mine"
    assert offrl_main(["reproduce", "offrl-local-v0", "--quick", "--dry-run", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"are collected into {root} when the check first runs" in out
    assert not root.exists()


def test_missing_downloads_are_named_with_the_root(tmp_path, capsys):
    root = tmp_path / "mine"
    rc = offrl_main(["reproduce", "corl-last", "--no-download", "--algos", "bc", "--datasets", "hopper-medium-v2",
                     "--data-root", str(root), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "data missing for 1 dataset(s)" in err
    assert (f"d4rl/hopper-medium-v2: (a) `offrl datasets download d4rl/hopper-medium-v2 --root {root}`\n"
            f"    (b) save http://rail.eecs.berkeley.edu/datasets/offline_rl/gym_mujoco_v2/hopper_medium-v2.hdf5\n"
            f"        as {root / 'd4rl' / 'hopper_medium-v2.hdf5'}\n") in err
    assert str(tmp_path / "offrl-data") not in err                       # not the default root of $OFFRL_DATA_DIR


def test_download_and_collect_get_the_data_into_the_root(tmp_path, capsys, monkeypatch):
    calls = []

    def fake_download(dataset_id, **kw):
        calls.append(("download", dataset_id, kw.get("root")))
        raise OffrlError(f"no network here for {dataset_id}")

    def fake_collect(name, **kw):
        calls.append(("collect", name, kw.get("root")))
        raise OffrlError(f"no MuJoCo here for {name}")

    monkeypatch.setattr("offrl.datasets.api.download_dataset", fake_download)
    monkeypatch.setattr("offrl.collection.collect", fake_collect)
    root = tmp_path / "mine"
    rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "--datasets", "hopper-medium-v2", "--data-root",
                     str(root), "--out", str(tmp_path / "r")])
    assert rc == 2 and calls == [("download", "d4rl/hopper-medium-v2", str(root))]
    calls.clear()
    rc = offrl_main(["reproduce", "offrl-local-v0", "--collect", "--collect-workers", "1", "--algos", "bc",
                     "--datasets", "hopper-medium", "--data-root", str(root), "--out", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert rc == 2 and calls == [("collect", "hopper-medium", str(root))]
    assert f"collecting local/hopper-medium-v0 (`offrl collect hopper-medium --data-root {root}`)" in out
    line = next(ln for ln in err.splitlines() if "local/hopper-medium-v0:" in ln)
    assert f"`offrl collect hopper-medium --data-root {root}`" in line and "collection failed: no MuJoCo here" in line


def test_local_data_of_another_size_in_the_root_name_the_root(tmp_path, capsys):
    """The data are found in the root given (not reported missing) and the line that would recollect them
    writes them there."""
    from offrl.collection import collect

    root = tmp_path / "mine"
    collect("hopper-medium", steps=2000, minari=False, progress=False, root=str(root))
    argv = ["reproduce", "offrl-local-v0", "--algos", "bc", "--datasets", "hopper-medium-v0", "--data-root", str(root)]
    assert offrl_main(argv) == 2
    err = capsys.readouterr().err
    assert "data missing" not in err
    line = next(ln for ln in err.splitlines() if ln.strip().startswith("local/hopper-medium-v0:"))
    assert line.strip() == ("local/hopper-medium-v0: transitions 2000 (default 1000000); collect it again with "
                            f"`offrl collect hopper-medium --overwrite --data-root {root}`, or keep it and pass "
                            "another data root (--data-root DIR)")
    assert _run_folders() == []


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--no-train"], ["--collect"]])
def test_a_root_that_cannot_be_a_folder_is_refused_up_front(tmp_path, capsys, monkeypatch, extra):
    def never(*args, **kw):
        raise AssertionError("got data into a root that was to be refused")

    monkeypatch.setattr("offrl.datasets.api.download_dataset", never)
    monkeypatch.setattr("offrl.collection.collect", never)
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    for root, problem in ((file, "is not a directory"),
                          (file / "data", f"cannot be created: {file} is not a directory")):
        rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "--datasets", "hopper-medium-v2", "--data-root",
                         str(root), "--out", str(tmp_path / "r"), *extra])
        assert rc == 1
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            f"offrl reproduce: error: data root {root} {problem}; pass --data-root DIR, the folder that holds the data")
    assert _run_folders() == [] and not (tmp_path / "r").exists()


def test_the_default_root_from_the_environment_is_checked_the_same_way(tmp_path, capsys, monkeypatch):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    monkeypatch.setenv("OFFRL_DATA_DIR", str(file))
    assert offrl_main(["reproduce", "corl-last", "--dry-run", "--algos", "bc", "--datasets", "hopper-medium-v2"]) == 1
    assert (f"data root {file} (from $OFFRL_DATA_DIR) is not a directory; pass --data-root DIR"
            in capsys.readouterr().err)


@pytest.fixture
def read_only(monkeypatch):
    """Folders that the permission check finds not writable (the tests may run as root, whom the operating
    system lets write anywhere)."""
    folders = set()
    real = os.access

    def access(path, mode, *args, **kw):
        if mode & os.W_OK and Path(path) in folders:
            return False
        return real(path, mode, *args, **kw)

    monkeypatch.setattr(os, "access", access)
    return folders


def test_a_read_only_root_serves_until_data_are_to_be_got_into_it(tmp_path, capsys, monkeypatch, read_only):
    """A root that only holds data is read (a shared read-only copy); one that data are to be downloaded or
    collected into must be writable, refused before the first download or collection."""
    calls = []
    monkeypatch.setattr("offrl.datasets.api.download_dataset", lambda i, **kw: calls.append(i))
    monkeypatch.setattr("offrl.collection.collect", lambda name, **kw: calls.append(name))
    root = tmp_path / "shared"
    root.mkdir()
    read_only.add(root)
    refused = (f"offrl reproduce: error: data root {root} is not writable; pass --data-root DIR, a folder you can "
               "write to")
    for target, extra in (("corl-last", []), ("offrl-local-v0", ["--collect"])):
        rc = offrl_main(["reproduce", target, "--algos", "bc", "--datasets", "hopper-medium-v2" if target == "corl-last"
                         else "hopper-medium", "--data-root", str(root), "--out", str(tmp_path / "r"), *extra])
        assert rc == 1 and capsys.readouterr().err.strip().splitlines()[-1] == refused
    assert calls == []
    # nothing to get: only read, so the missing data are named as usual
    for extra in (["--dry-run"], ["--no-download"]):
        rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "--datasets", "hopper-medium-v2", "--data-root",
                         str(root), "--out", str(tmp_path / "r"), *extra])
        assert rc == (0 if extra == ["--dry-run"] else 2)
        assert f"`offrl datasets download d4rl/hopper-medium-v2 --root {root}`" in "".join(capsys.readouterr())
    assert R.data_root_problem(root, write=False) is None


def test_a_sweep_of_another_kind_is_refused_rather_than_given_a_train_root():
    spec = SweepSpec({"name": "stream", "kind": "continual", "seeds": [0]})
    with pytest.raises(ConfigError, match=r"--data-root: the sweep 'stream' is of kind 'continual', whose runs do "
                                          r"not read a train.data_root"):
        build_sweeps([spec], data_root="/data")
