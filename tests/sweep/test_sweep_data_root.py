"""A sweep whose runs read another data root than the default (`continual.data_root:`): the plan looks for their
data there, its missing-data lines name commands that write there, `--collect` collects there, and a root
that is a file is refused before anything is collected."""

import os
from pathlib import Path

import pytest

from offrl.cli import main
from offrl.collection import collect
from offrl.datasets import is_present
from offrl.sweep.spec import load_sweep

TASKS = ("forward", "reversed", "weak")
IDS = [f"local/pendulum-gain/{t}-medium-v0" for t in TASKS]


def continual_sweep(path: Path, data_root: Path) -> Path:
    path.write_text("name: rooted\nkind: continual\nstream: pendulum-gain\nmethod: finetune\nseeds: [0]\n"
                    "hp: {hidden: '16,16'}\n"
                    "continual: {steps_per_task: 100, eval_every: 100, chunk: 100, eval_episodes: 1, batch_size: 32,"
                    f" progress: false, data_root: '{data_root}'}}\n")
    return path


def default_root() -> Path:
    return Path(os.environ["OFFRL_DATA_DIR"])


def test_plan_finds_a_continual_sweeps_data_in_its_data_root(tmp_path, capsys):
    root = tmp_path / "my data"
    f = continual_sweep(tmp_path / "s.yaml", root)
    res = tmp_path / "res"
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    assert "pending, DATA MISSING" in out
    # each line names where the run reads and the command that writes there
    for t in TASKS:
        assert (f"local/pendulum-gain/{t}-medium-v0: missing {root}/local/pendulum-gain/{t}-medium-v0; create it "
                f"with `offrl collect pendulum-gain/{t}-medium --data-root '{root}'`") in out
    for t in TASKS:
        collect(f"pendulum-gain/{t}-medium", steps=300, root=root, progress=False)
    assert main(["sweep", "plan", str(f), "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    assert "DATA MISSING" not in out and "1 pending" in out
    assert not any(is_present(i) for i in IDS)  # the default root was never needed


def test_collect_gets_the_runs_data_into_their_data_root(tmp_path, capsys):
    """`offrl sweep FILE --collect` (its data step): what is missing in the runs' root is collected into it."""
    from offrl.sweep.cli import _get_data
    from offrl.sweep.plan import run_states

    root = tmp_path / "mine"
    for t in TASKS[:2]:
        collect(f"pendulum-gain/{t}-medium", steps=300, root=root, progress=False)
    sweep = load_sweep(continual_sweep(tmp_path / "s.yaml", root), results_dir=str(tmp_path / "res"))
    assert run_states(sweep)[0].missing  # the third task's data
    _get_data(sweep, collect=True, download=False, workers=1, progress=False)
    out = capsys.readouterr().out
    assert (f"collecting local/pendulum-gain/weak-medium-v0 (`offrl collect pendulum-gain/weak-medium "
            f"--data-root {root}`)") in out
    assert all(is_present(i, root=root) for i in IDS) and not any(is_present(i) for i in IDS)
    assert run_states(sweep)[0].missing == []


@pytest.mark.parametrize("inside", [False, True], ids=["file", "below-a-file"])
def test_collect_refuses_a_data_root_that_is_a_file_before_collecting(tmp_path, capsys, inside):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    root = afile / "data" if inside else afile
    f = continual_sweep(tmp_path / "s.yaml", tmp_path / "elsewhere")
    argv = ["sweep", str(f), "--results-dir", str(tmp_path / "res"), "--collect", "--no-progress",
            "--set", f"continual.data_root={root}"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    problem = "is not a directory" if not inside else f"cannot be created: {afile} is not a directory"
    assert err.endswith(f"data root {root} {problem}; give the runs a data root you can write to in the sweep "
                        "file (or --set)"), err
    assert len(err.splitlines()) == 1 and "collecting" not in captured.out
    assert not default_root().exists() and afile.read_text() == "not a folder"
    # without --collect the plan says why the data cannot be there, rather than a command collecting into a file
    assert main(["sweep", "plan", str(f), "--set", f"continual.data_root={root}"]) == 0
    out = capsys.readouterr().out
    assert "create it with" not in out
    assert f"its data root {root} " in out


def test_get_missing_data_collects_and_downloads_into_the_root_given(tmp_path):
    from offrl.datasets.api import missing_data_lines as missing_data
    from offrl.sweep.plan import get_missing_data

    root = tmp_path / "r"
    lines = get_missing_data([IDS[0], "local/toy-x-v0"], collect=True, steps=300, progress=False, root=root)
    assert is_present(IDS[0], root=root) and not is_present(IDS[0])
    assert len(lines) == 1 and lines[0].startswith(f"local/toy-x-v0: missing {root}/local/toy-x-v0")
    assert f"offrl.datasets.save(dataset, 'local/toy-x-v0', root={str(root)!r})" in lines[0]
    # downloadable data: the download command writes into the same root
    line, = missing_data(["d4rl/hopper-medium-v2"], root=root)
    assert line.endswith(f"get it with `offrl datasets download d4rl/hopper-medium-v2 --root {root}`")
    # the default root written out is the default: no option
    line, = missing_data(["d4rl/hopper-medium-v2"], root=str(default_root()))
    assert line.endswith("get it with `offrl datasets download d4rl/hopper-medium-v2`")


def two_root_sweep(path: Path, first: Path | None, second: Path) -> Path:
    """Two runs (methods finetune and l2) reading the data roots ``first`` (None: the default root, set nowhere)
    and ``second``."""
    one = "{method: finetune}" if first is None else f"{{method: finetune, continual.data_root: '{first}'}}"
    path.write_text("name: roots\nkind: continual\nstream: pendulum-gain\nseeds: [0]\nhp: {hidden: '16,16'}\n"
                    "continual: {steps_per_task: 100, eval_every: 100, chunk: 100, eval_episodes: 1, batch_size: 32,"
                    " progress: false}\n"
                    f"variants:\n  - {one}\n  - {{method: l2, continual.data_root: '{second}'}}\n")
    return path


def short_collection(name, steps=None, progress=False, root=None):
    """plan._collect_local with 300 transitions rather than the dataset's own count."""
    collect(name, steps=300, minari=False, progress=progress, root=root)
    return name


def test_collect_looks_for_each_roots_data_once(tmp_path, capsys, monkeypatch):
    """`--collect` with runs on several data roots looks for each dataset once before getting anything (to
    check every root that takes data) and reuses what it found while getting it: only what it then got is
    looked for again, to say what is still missing. It used to look for everything a second time per root."""
    from offrl.sweep import plan
    from offrl.sweep.cli import _get_data

    full, partial = tmp_path / "full", tmp_path / "partial"
    for t in TASKS:
        collect(f"pendulum-gain/{t}-medium", steps=300, root=full, progress=False)
    for t in TASKS[:2]:
        collect(f"pendulum-gain/{t}-medium", steps=300, root=partial, progress=False)
    sweep = load_sweep(two_root_sweep(tmp_path / "s.yaml", full, partial), results_dir=str(tmp_path / "res"))
    looked: dict[tuple[str, str], int] = {}
    real = plan.missing_data_lines

    def counted(sources, root=None):
        for s in sources:
            looked[s, str(root)] = looked.get((s, str(root)), 0) + 1
        return real(sources, root=root)

    monkeypatch.setattr(plan, "missing_data_lines", counted)
    monkeypatch.setattr(plan, "_collect_local", short_collection)
    _get_data(sweep, collect=True, download=False, workers=1, progress=False)
    assert capsys.readouterr().out == (f"collecting {IDS[2]} (`offrl collect pendulum-gain/weak-medium --data-root "
                                       f"{partial}`)\n")
    assert looked == {**{(i, str(full)): 1 for i in IDS}, **{(i, str(partial)): 1 for i in IDS[:2]},
                      (IDS[2], str(partial)): 2}  # before collecting it, and after
    assert all(is_present(i, root=partial) for i in IDS)


def test_collect_into_the_default_root_written_two_ways_collects_once(tmp_path, capsys, monkeypatch):
    """Runs reading the default root, one by default and one naming its folder: what the first root's step got
    is not got again for the second, although both were looked for before getting anything."""
    from offrl.sweep import plan
    from offrl.sweep.cli import _get_data

    for t in TASKS[:2]:
        collect(f"pendulum-gain/{t}-medium", steps=300, progress=False)
    sweep = load_sweep(two_root_sweep(tmp_path / "s.yaml", None, default_root()), results_dir=str(tmp_path / "res"))
    collected = []

    def short(name, steps, progress, root):
        collected.append((name, root))
        return short_collection(name, steps, progress, root)

    monkeypatch.setattr(plan, "_collect_local", short)
    _get_data(sweep, collect=True, download=False, workers=1, progress=False)
    assert collected == [("pendulum-gain/weak-medium", None)]
    assert capsys.readouterr().out == f"collecting {IDS[2]} (`offrl collect pendulum-gain/weak-medium`)\n"
    assert all(is_present(i) for i in IDS)
