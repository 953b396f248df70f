"""`--collect` gives each dataset collected at once the machine's spare cores as env workers, and the data are
the same as a collection in one process."""

import io

import pytest

from offrl.datasets import load
from offrl.sweep.plan import _run_collections, collection_env_workers


@pytest.mark.parametrize("at_once, cores, expected", [
    (1, 2, 0),    # the 2-vCPU VM: a worker's pipe round trips cost more than they move
    (2, 4, 0),    # two cores each: still none
    (1, 3, 2),    # three cores: the collection's own process and two workers
    (4, 16, 3),   # four data sets on 16 cores: 4 cores each
    (1, 16, 10),  # one data set: one env per worker at most (10 envs)
    (20, 16, 0),  # more collections than cores
])
def test_env_workers_are_the_cores_a_collection_has_beyond_its_own(at_once, cores, expected):
    assert collection_env_workers(at_once, cores) == expected


def test_data_collected_at_once_with_env_workers_equal_one_process_collection(tmp_path):
    names = ["pendulum-gain/forward-medium", "pendulum-gain/weak-medium"]
    pooled, alone = tmp_path / "pooled", tmp_path / "alone"
    # two collections in their own processes, each stepping its envs in two more: nested spawned processes
    assert _run_collections(names, 2, 300, False, io.StringIO(), root=str(pooled), env_workers=2) == {}
    assert _run_collections(names, 1, 300, False, io.StringIO(), root=str(alone), env_workers=0) == {}
    for name in names:
        a, b = load(f"local/{name}-v0", root=pooled), load(f"local/{name}-v0", root=alone)
        assert len(a) == len(b) == 300
        assert a.spec.checksum == b.spec.checksum
