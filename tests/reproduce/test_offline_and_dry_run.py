"""Without network, and in a dry run, `offrl reproduce` says each thing once: an unreachable host once (its
other files are not tried), each missing dataset once with the two ways to get it, the total time once."""

import dataclasses
import socket

import pytest

import offrl.datasets.registry as R
from offrl.cli import main as offrl_main
from offrl.datasets import is_present
from offrl.paths import results_root

D4RL_FILES = {"d4rl/hopper-medium-v2": "hopper_medium-v2.hdf5", "d4rl/walker2d-medium-v2": "walker2d_medium-v2.hdf5",
              "d4rl/halfcheetah-medium-v2": "halfcheetah_medium-v2.hdf5"}


@pytest.fixture
def unreachable_d4rl(monkeypatch):
    """The three D4RL ids above served from a local port nothing listens on (a refused connection, as
    without network), and the ids whose download was started."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    host = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    for ds_id, file in D4RL_FILES.items():
        info = R.DATASETS[ds_id]
        (rel, _, checksum), = info.files
        patched = dataclasses.replace(info, files=((rel, f"http://{host}/{file}", checksum),))
        monkeypatch.setitem(R.DATASETS._entries, ds_id, patched)
    started = []
    import offrl.datasets.api

    real = offrl.datasets.api.download_dataset

    def recording_download(dataset_id, **kw):
        started.append(dataset_id)
        return real(dataset_id, **kw)

    monkeypatch.setattr(offrl.datasets.api, "download_dataset", recording_download)
    return host, started


def test_no_network_is_said_once_and_each_file_gets_both_ways(tmp_path, capsys, unreachable_d4rl):
    host, started = unreachable_d4rl
    rc = offrl_main(["reproduce", "corl-last", "--algos", "bc", "--datasets", *D4RL_FILES, "--out", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert rc == 2 and "nothing was trained" in err
    assert len(started) == 1                                          # the host refused: not asked twice more
    assert out.count("downloading ") == 1
    notes = [ln for ln in err.splitlines() if f"no connection to {host}" in ln]
    assert len(notes) == 1 and "the 2 other download(s) from there were not tried" in notes[0]
    assert err.count("cannot download") == 1                          # said once, not once per file
    assert "data missing for 3 dataset(s)" in err
    for ds_id, file in D4RL_FILES.items():
        path = tmp_path / "offrl-data" / "d4rl" / file
        assert f"{ds_id}: (a) `offrl datasets download {ds_id}`" in err
        assert f"(b) save http://{host}/{file}\n        as {path}\n" in err
        # the path given is the one the loader reads: a file placed there is found
        assert not is_present(ds_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"placed by hand")
        assert is_present(ds_id)
    assert "--skip-missing" in err
    assert not results_root().exists() or not any(results_root().iterdir())


def test_dry_run_lists_missing_data_once_and_ends_with_the_total(capsys):
    from offrl.reproduce.targets import Context, get_target
    from offrl.sweep.plan import _duration, estimate, run_states

    datasets = ["hopper-medium", "walker2d-medium"]
    assert offrl_main(["reproduce", "offrl-local-v0", "--dry-run", "--algos", "bc", "td3bc", "--datasets",
                       *datasets]) == 0
    out = capsys.readouterr().out
    assert out.count("sweep 'offrl-local-v0-") == 2
    for env in ("hopper", "walker2d"):
        assert out.count(f"create it with `offrl collect {env}-medium`") == 1   # once, not once per sweep
    assert "data missing for 2 dataset(s), needed by 4 run(s)" in out
    # the total: once, last, the sum of the two plans' estimates, on their terms
    from offrl.reproduce.cli import build_sweeps
    from offrl.reproduce.targets import select_runs

    sweeps = select_runs(build_sweeps(get_target("offrl-local-v0").specs(Context())), algos=("bc", "td3bc"),
                         datasets=tuple(datasets))
    seconds = sum(sum(estimate(s, run_states(s))[0]) for s in sweeps)
    last = out.strip().splitlines()[-1]
    assert out.count("estimated time left, all") == 1
    assert last.startswith(f"estimated time left, all 2 sweeps: {_duration(seconds)} of training on one accelerator, "
                           "the runs one after another (the sum of the sweeps' estimates above")


def test_quick_dry_run_does_not_send_the_user_after_its_own_data(capsys):
    assert offrl_main(["reproduce", "offrl-local-v0", "--quick", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "collected into" in out and "needs nothing from you" in out
    assert "did you mean" not in out and "offrl.datasets.save" not in out


def test_dry_run_says_how_the_chosen_backend_would_launch_the_runs(capsys):
    base = ["reproduce", "offrl-local-v0", "--dry-run", "--algos", "bc", "--datasets", "hopper-medium"]
    assert offrl_main([*base, "--backend", "ray"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("sweep 'offrl-local-v0-bc'"))
    assert "as a Ray task" in line and "one process" not in line
    assert offrl_main([*base, "--parallel", "2"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("sweep 'offrl-local-v0-bc'"))
    assert "in a process of its own, 2 at a time" in line
    # what the real run would refuse, the dry run refuses too
    assert offrl_main([*base, "--backend", "ray", "--gpus", "0"]) != 0
    assert "--gpus is an option of the local backend" in capsys.readouterr().err
