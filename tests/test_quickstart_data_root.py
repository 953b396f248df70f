"""`offrl quickstart --data-root DIR`: its dataset is saved to and read from that root, the hints it prints name
the root, and a root that cannot hold the dataset is refused up front, in the words `offrl collect` uses."""

import os
import shlex
from pathlib import Path

import pytest
import tyro

from offrl import collection
from offrl.cli import main
from offrl.datasets import is_present, load
from offrl.errors import OffrlError
from offrl.train import TrainConfig, load_dataset

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "disabled"

ID = "local/hopper-medium-300-v0"
# the smallest quickstart that still collects, trains, evaluates and reports
TINY = ["--algo", "bc", "--transitions", "300", "--steps", "100", "--eval-every", "100", "--eval-episodes", "1"]


def test_quickstart_saves_and_reads_its_data_in_the_data_root_given(tmp_path, capsys):
    root = tmp_path / "my data"
    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), *TINY, "--data-root", str(root)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert len(load(ID, root=root)) == 300
    assert not is_present(ID) and not Path(os.environ["OFFRL_DATA_DIR"]).exists()  # nothing in the default root
    assert f"collected and saved: {root}/local/hopper-medium-300-v0\n" in printed
    # the next command reads the same root (offrl train --data-root), quoted for a shell
    command = (f"offrl train --algo iql --dataset {ID} --seeds 0 1 --steps 100 --eval-every 100 "
               f"--data-root '{root}'")
    assert f"  {command}\n" in printed
    tc = tyro.cli(TrainConfig, args=shlex.split(command)[2:])
    assert tc.data_root == str(root) and len(load_dataset(tc)) == 300  # as that command finds it

    # a rerun reads the data from that root, not collecting them again
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"already collected, reused: {root}/local/hopper-medium-300-v0\n" in printed
    assert "[2/4] already trained" in printed and not Path(os.environ["OFFRL_DATA_DIR"]).exists()


def test_the_next_command_names_the_data_root_only_when_it_is_not_the_default(tmp_path):
    from offrl.quickstart import QuickstartArgs, train_command

    plain = "offrl train --algo bc --dataset local/hopper-medium-50k-v0 --seeds 0 1 --steps 2000 --eval-every 200"
    assert train_command(QuickstartArgs(), "bc") == plain
    assert train_command(QuickstartArgs(data_root=os.environ["OFFRL_DATA_DIR"]), "bc") == plain
    assert train_command(QuickstartArgs(data_root=str(tmp_path / "d")), "bc") == \
        f"{plain} --data-root {tmp_path / 'd'}"


def _refused(argv, capsys) -> str:
    """The one error line of ``offrl quickstart`` refusing ``argv`` before it prints or writes anything."""
    assert main(["quickstart", *TINY, *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # not even the "[1/4]" line
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_data_root_that_cannot_be_a_folder_is_refused_up_front(tmp_path, capsys, monkeypatch, no_collecting):
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _refused(["--data-root", str(afile)], capsys) == \
        (f"offrl quickstart: error: data root {afile} is not a directory; "
         "pass --data-root DIR, a folder you can write to")
    assert _refused(["--data-root", str(afile / "below")], capsys) == \
        (f"offrl quickstart: error: data root {afile / 'below'} cannot be created: {afile} is not a directory; "
         "pass --data-root DIR, a folder you can write to")
    # the default root, named with where it comes from, as `offrl collect` names it
    monkeypatch.setenv("OFFRL_DATA_DIR", str(afile))
    assert _refused([], capsys) == (f"offrl quickstart: error: data root {afile} (from $OFFRL_DATA_DIR) is not a "
                                    "directory; pass --data-root DIR, a folder you can write to")
    assert afile.read_text() == "x" and not (tmp_path / "quickstart").exists()


def test_an_unwritable_data_root_is_refused_unless_it_already_holds_the_data(tmp_path, capsys, monkeypatch):
    from offrl.quickstart import check_quickstart_root, dataset_id

    locked, held = tmp_path / "locked", tmp_path / "held"
    locked.mkdir()
    collection.collect("hopper-medium", steps=300, dataset_id=dataset_id(300), root=held, minari=False,
                       progress=False)
    access = os.access
    # as for a user without write permission there (root may write anywhere, so chmod would not show it)
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) not in (str(locked), str(held))
                        and access(path, mode))
    with monkeypatch.context() as m:
        m.setattr(collection, "collect", lambda *a, **k: pytest.fail("collected into an unwritable root"))
        assert _refused(["--data-root", str(locked)], capsys) == (f"offrl quickstart: error: data root {locked} is "
                                                                 "not writable; pass --data-root DIR, a folder you "
                                                                 "can write to")
    assert not any(locked.iterdir())
    # the dataset already there: only read, so the root need not be writable
    assert check_quickstart_root(str(held), 300) == held
    with pytest.raises(OffrlError, match=rf"^data root {held} is not writable; pass --data-root DIR"):
        check_quickstart_root(str(held), 400)  # another size is still to be collected there
