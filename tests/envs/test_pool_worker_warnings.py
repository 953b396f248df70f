"""Warnings raised in an EnvPool's worker processes reach the parent, where its filters and its display apply
(the `offrl` program's one line each, once), instead of the workers' stderr in Python's raw form."""

import warnings

from offrl.envs.pool import EnvPool


def test_a_workers_warnings_are_raised_again_in_the_parent_and_not_printed_by_the_worker(capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool = EnvPool("Hopper-v4", 2, workers=1)  # gymnasium calls v4 out of date, in every process that makes it
        try:
            pool.reset([0, 1])
        finally:
            pool.close()
    forwarded = [w for w in caught if w.filename == __file__ and "Hopper-v4 is out of date" in str(w.message)]
    assert len(forwarded) == 1 and forwarded[0].category is DeprecationWarning, [(w.filename, w.message) for w in caught]
    err = capfd.readouterr().err
    assert "out of date" not in err and "Warning" not in err, err
