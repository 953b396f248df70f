"""A saved local dataset folder whose name gives no id that loads it (no ``-vN``: ``local/mydata`` means the
folder ``mydata-v0``) is not listed under that id: ``offrl datasets list`` names it apart with the rename that
makes it loadable, and loading the id it would have had says the same."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
import offrl.datasets.registry as R
from offrl.cli import main
from offrl.errors import OffrlError


@pytest.fixture
def ds(tmp_path):
    layout = episodes_layout(np.random.default_rng(5), [5, 7], ["term", "timeout"])
    return D.load(write_d4rl(tmp_path / "src.hdf5", layout), mode="raw")


@pytest.fixture
def unversioned(ds, tmp_path):
    """A dataset saved as local/mydata-v0 in a data root of its own, then renamed to ``mydata``."""
    root = tmp_path / "data"
    saved = D.save(ds, "local/mydata-v0", format="offrl", root=root)
    return root, saved.rename(saved.with_name("mydata"))


def _list(capsys, root, *argv: str) -> tuple[list[str], str]:
    assert main(["datasets", "list", "local/", "--root", str(root), *argv]) == 0
    out, err = capsys.readouterr()
    return [line[2:].split()[0] for line in out.splitlines()], err


def test_a_folder_without_version_is_not_listed_under_an_id_that_loads_another(unversioned, capsys):
    root, folder = unversioned
    ids, err = _list(capsys, root)
    assert "local/mydata" not in ids and R.saved_local_ids(root) == []
    assert err == (f"note: {folder} is not listed: its name has no -vN version, so the id local/mydata names "
                   f"{root / 'local' / 'mydata-v0'}, not this folder; rename it to load it as local/mydata-v0: "
                   f"mv {folder} {root / 'local' / 'mydata-v0'}\n")
    # loading the id it would have had says the same, not "did you mean 'local/mydata'?"
    with pytest.raises(OffrlError) as e:
        D.load("local/mydata", root=root)
    assert str(e.value) == (f"local/mydata is not on this machine (looked in {root / 'local' / 'mydata-v0'}); "
                            f"{folder} holds a dataset, but its name has no -vN version, so the id local/mydata "
                            f"names {root / 'local' / 'mydata-v0'}, not this folder; rename it to load it as "
                            f"local/mydata-v0: mv {folder} {root / 'local' / 'mydata-v0'}")
    assert main(["datasets", "info", "local/mydata", "--root", str(root)]) == 1
    assert f"{folder} holds a dataset, but its name has no -vN version" in capsys.readouterr().err
    # the rename it names makes list and load agree
    folder.rename(root / "local" / "mydata-v0")
    ids, err = _list(capsys, root, "--present")
    assert ids == ["local/mydata-v0"] and err == ""
    assert len(D.load("local/mydata-v0", root=root)) == len(D.load("local/mydata", root=root)) == 12


def test_beside_its_versioned_namesake_it_is_not_listed_as_that_one(unversioned, ds, capsys):
    """``local/mydata`` was listed, described and loaded as ``mydata-v0``'s data: another folder."""
    root, folder = unversioned
    D.save(ds, "local/mydata-v0", format="offrl", root=root)
    ids, err = _list(capsys, root)
    assert "local/mydata-v0" in ids and "local/mydata" not in ids
    assert err.endswith(f"rename it to load it as local/mydata-v1: mv {folder} {root / 'local' / 'mydata-v1'}\n")


def test_a_folder_name_that_is_no_id_is_named_apart_instead_of_failing_the_listing(ds, tmp_path, capsys):
    root = tmp_path / "data"
    saved = D.save(ds, "local/my-data-v0", format="offrl", root=root)
    folder = saved.rename(saved.with_name("my data-v0"))
    # an interrupted write's hidden folder is no dataset of anyone's: neither listed nor noted
    D.save(ds, root / "local" / ".mydata-v0.tmp-1-abcd", format="offrl")
    ids, err = _list(capsys, root)
    assert not any("my" in i for i in ids)
    assert err == (f"note: {folder} is not listed: its name is no local dataset id (letters, digits, '-', '_', "
                   f"'.', starting with a letter or digit); rename it to load it as local/my-data-v0: "
                   f"mv '{folder}' {root / 'local' / 'my-data-v0'}\n")
