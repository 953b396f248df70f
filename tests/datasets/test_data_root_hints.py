"""The commands that the hints of missing or damaged local data suggest write into the data root the data
were looked for in: `--data-root DIR` where it is not the default root, nothing where it is."""

import os

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
from offrl.cli import main
from offrl.datasets import registry as R
from offrl.datasets.api import damaged_local_hint, local_hint
from offrl.errors import DataIntegrityError, OffrlError


def test_a_missing_local_dataset_is_collected_into_the_root_it_was_looked_for_in(tmp_path, capsys):
    root = tmp_path / "my data"
    with pytest.raises(OffrlError) as e:
        D.load("local/hopper-medium-v0", root=root)
    assert str(e.value).endswith(f"create it with `offrl collect hopper-medium --data-root '{root}'`")
    assert local_hint("local/hopper-medium-v0", root) == \
        f"create it with `offrl collect hopper-medium --data-root '{root}'`"
    # the default root, given or written out, needs no option
    assert local_hint("local/hopper-medium-v0") == "create it with `offrl collect hopper-medium`"
    assert local_hint("local/hopper-medium-v0", os.environ["OFFRL_DATA_DIR"]) == \
        "create it with `offrl collect hopper-medium`"
    with pytest.raises(OffrlError, match=r"not downloaded: run `offrl collect hopper-medium --data-root '"):
        D.download_dataset("local/hopper-medium-v0", root=root)
    assert main(["datasets", "verify", "local/hopper-medium-v0", "--root", str(root)]) == 1
    assert f"`offrl collect hopper-medium --data-root '{root}'`" in capsys.readouterr().out


def test_the_quickstarts_data_in_another_root_is_collected_there(tmp_path, capsys):
    """In another root than the default, the hint collects the quickstart's data alone there (`offrl collect`)."""
    root = tmp_path / "d"
    assert local_hint("local/hopper-medium-50k-v0", root) == (
        "it is the quickstart's data (50,000 transitions): `offrl collect hopper-medium --steps 50000 --dataset-id "
        f"local/hopper-medium-50k-v0 --data-root {root}` collects it")
    assert "`offrl quickstart` collects it" in local_hint("local/hopper-medium-50k-v0")
    assert main(["datasets", "info", "local/hopper-medium-50k-v0", "--root", str(root)]) == 1
    assert f"--dataset-id local/hopper-medium-50k-v0 --data-root {root}` collects it" in capsys.readouterr().err


def test_a_damaged_dataset_in_another_root_is_collected_again_there(tmp_path):
    rng = np.random.default_rng(3)
    ds = D.load(write_d4rl(tmp_path / "src.hdf5", episodes_layout(rng, [5, 7, 4], ["term", "timeout", "timeout"])),
                mode="raw")
    root = tmp_path / "d"
    d = D.save(ds, "local/hopper-random-v0", format="offrl", root=root)
    data = d / "data.h5"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    again = f"collect it again with `offrl collect hopper-random --data-root {root} --overwrite`"
    with pytest.raises(DataIntegrityError) as e:
        D.load("local/hopper-random-v0", root=root)
    assert str(e.value).endswith(again)
    assert damaged_local_hint("local/hopper-random-v0", root).endswith(again)
    assert D.verify("local/hopper-random-v0", root=root)[-1].endswith(again)


def test_data_root_option_and_check(tmp_path):
    assert R.data_root_option(None) == ""
    assert R.data_root_option(os.environ["OFFRL_DATA_DIR"]) == ""
    assert R.data_root_option(tmp_path / "a b") == f" --data-root '{tmp_path / 'a b'}'"
    assert R.data_root_option(tmp_path, "--root") == f" --root {tmp_path}"
    assert R.check_data_root(tmp_path / "new") == tmp_path / "new"  # a folder to be made: fine
    afile = tmp_path / "f"
    afile.write_text("")
    with pytest.raises(OffrlError, match=rf"^data root {afile} is not a directory; pass --data-root DIR"):
        R.check_data_root(afile)
    with pytest.raises(OffrlError, match=rf"^data root {afile / 'x'} cannot be created: {afile} is not a "
                                         r"directory; read here$"):
        R.check_data_root(afile / "x", write=False, fix="read here")
    # only read: a folder that is not writable may hold the data
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert R.data_root_problem(ro, write=False) is None
        if not os.access(ro, os.W_OK):  # (root may write anywhere)
            assert R.data_root_problem(ro) == "is not writable"
    finally:
        ro.chmod(0o755)
