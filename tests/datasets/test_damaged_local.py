"""Local datasets that fail their checks, or are missing, say how to make them again."""

import os

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
from offrl.cli import main
from offrl.errors import DataIntegrityError


@pytest.fixture
def ds(tmp_path):
    rng = np.random.default_rng(3)
    layout = episodes_layout(rng, [5, 7, 4], ["term", "timeout", "timeout"])
    return D.load(write_d4rl(tmp_path / "src.hdf5", layout), mode="raw")


def test_a_damaged_collected_dataset_names_the_command_that_collects_it_again(ds):
    d = D.save(ds, "local/hopper-random-v0", format="offrl")
    data = d / "data.h5"
    with open(data, "r+b") as f:  # cut short, as a full disk or an interrupted copy leaves it
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(DataIntegrityError, match=r"does not match the manifest.*local/hopper-random-v0 was changed "
                                                 r"or damaged after it was written: collect it again with "
                                                 r"`offrl collect hopper-random --overwrite`"):
        D.load("local/hopper-random-v0")
    problems = D.verify("local/hopper-random-v0")
    assert "offrl collect hopper-random --overwrite" in problems[-1] and "does not match" in problems[0]


def test_a_damaged_manifest_is_reported_as_such_not_as_an_unknown_format(ds):
    d = D.save(ds, "local/hopper-medium-20k-v0", format="offrl")
    (d / "offrl.json").write_text('{"format": "offrl", "spe')  # truncated
    with pytest.raises(DataIntegrityError, match="unreadable manifest") as e:
        D.load(d)
    assert "recognises" not in str(e.value)
    # by id: the quickstart's data, made again by the quickstart once the damaged folder is gone
    with pytest.raises(DataIntegrityError, match=rf"unreadable manifest.*delete {d}, then it is the quickstart's "
                                                 r"data \(20,000 transitions\): `offrl quickstart --transitions 20000`"):
        D.load("local/hopper-medium-20k-v0")


def test_a_missing_quickstart_dataset_is_named_as_the_quickstarts(capsys):
    assert main(["datasets", "info", "local/hopper-medium-50k-v0"]) == 1
    err = capsys.readouterr().err
    assert "local/hopper-medium-50k-v0 is not on this machine" in err
    assert "it is the quickstart's data (50,000 transitions): `offrl quickstart` collects it" in err
    from offrl.datasets.api import quickstart_transitions

    assert quickstart_transitions("local/hopper-medium-v0") is None
    assert quickstart_transitions("local/walker2d-medium-50k-v0") is None  # the quickstart collects hopper only
