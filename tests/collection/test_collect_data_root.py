"""`offrl collect --data-root DIR`: the data go there; the commands that hints suggest write into the data root
in use; a data root that is a file is refused in one line before anything is collected, by `offrl collect`,
`offrl continual collect` and `offrl continual train`."""

import os
from pathlib import Path

import pytest

from offrl import collection
from offrl.cli import main
from offrl.datasets import is_present, load

ID = "local/pendulum-gain/forward-medium-v0"


def test_collect_writes_into_the_data_root_given(tmp_path, capsys):
    root = tmp_path / "my data"
    assert main(["collect", "pendulum-gain/forward-medium", "--steps", "500", "--data-root", str(root)]) == 0
    assert len(load(ID, root=root)) == 500
    assert not is_present(ID) and not Path(os.environ["OFFRL_DATA_DIR"]).exists()
    # made again as it was collected, into the same root
    assert collection.collect_command("pendulum-gain/forward-medium", root) == \
        f"offrl collect pendulum-gain/forward-medium --steps 500 --data-root '{root}'"
    # collecting it a second time is refused there (it exists in that root), not made in the default root
    assert main(["collect", "pendulum-gain/forward-medium", "--steps", "500", "--data-root", str(root)]) == 1
    assert f"{ID} already exists at {root}/local/pendulum-gain/forward-medium-v0" in capsys.readouterr().err


def test_collect_command_names_the_data_root_only_when_it_is_not_the_default(tmp_path):
    assert collection.collect_command("hopper-medium") == "offrl collect hopper-medium"
    assert collection.collect_command("hopper-medium", os.environ["OFFRL_DATA_DIR"]) == "offrl collect hopper-medium"
    assert collection.collect_command("hopper-medium", tmp_path / "d") == \
        f"offrl collect hopper-medium --data-root {tmp_path / 'd'}"


@pytest.mark.parametrize("argv", [
    ["collect", "pendulum-gain/forward-medium"],
    ["continual", "collect", "--stream", "pendulum-gain", "--quality", "medium", "expert"],
], ids=["collect", "continual-collect"])
def test_a_data_root_that_is_a_file_is_refused_before_collecting(tmp_path, capsys, no_collecting, argv):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*argv, "--data-root", str(afile)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"data root {afile} is not a directory; pass --data-root DIR, a folder you can write to"), err
    assert len(err.splitlines()) == 1 and afile.read_text() == "x"
    assert main([*argv, "--data-root", str(afile / "below")]) == 1
    assert (f"data root {afile / 'below'} cannot be created: {afile} is not a directory"
            in capsys.readouterr().err)


def test_the_default_data_root_that_is_a_file_is_named_with_where_it_comes_from(tmp_path, monkeypatch, capsys,
                                                                               no_collecting):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("OFFRL_DATA_DIR", str(afile))
    assert main(["collect", "pendulum-gain/forward-medium"]) == 1
    assert f"data root {afile} (from $OFFRL_DATA_DIR) is not a directory" in capsys.readouterr().err


def test_continual_train_refuses_a_data_root_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["continual", "train", "--stream", "pendulum-gain", "--data-root", str(afile), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"data root {afile} is not a directory; pass --data-root DIR, the folder that holds the "
                        "data"), err
    assert "offrl collect" not in err and "not on this machine" not in err


def test_continual_trains_missing_data_hints_collect_into_its_data_root(tmp_path):
    """Each missing task dataset's own hint and the stream's hint write into the --data-root given."""
    from offrl.continual.data import load_datasets
    from offrl.continual.streams import load_stream
    from offrl.errors import OffrlError

    root = tmp_path / "d"
    collection.collect("pendulum-gain/forward-medium", steps=300, root=root, progress=False)
    with pytest.raises(OffrlError) as e:
        load_datasets(load_stream("pendulum-gain"), "medium", root=root)
    text = str(e.value)
    for t in ("reversed", "weak"):
        assert f"create it with `offrl collect pendulum-gain/{t}-medium --data-root {root}`" in text
    assert "forward-medium" not in text
    assert text.endswith(f"`offrl continual collect --stream pendulum-gain --quality medium --data-root {root}`")
    # a stream file of one's own: `offrl collect` per dataset, with --data-root (no environment variable)
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nenv: offrl/PendulumGain-v0\ntasks:\n"
                 "  - {name: fwd, kwargs: {gain: 1.0}, dataset: 'local/pendulum-gain/forward-{quality}-v0'}\n")
    with pytest.raises(OffrlError) as e:
        load_datasets(load_stream(str(f)), "expert", root=root)
    assert "`offrl collect pendulum-gain/forward-expert --data-root " + str(root) + "`" in str(e.value)
    assert "OFFRL_DATA_DIR" not in str(e.value)
