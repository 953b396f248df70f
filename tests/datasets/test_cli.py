"""``offrl datasets`` subcommands, through the top-level dispatcher."""

import json

import numpy as np
from fixtures import episodes_layout, write_d4rl

from offrl.cli import main


def test_list_info(capsys):
    assert main(["datasets", "list", "d4rl/hopper"]) == 0
    out = capsys.readouterr().out
    assert "d4rl/hopper-medium-v2" in out and "d4rl/walker2d" not in out
    assert main(["datasets", "info", "neorl2/Fusion-train"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["checksum"] == "md5:98979f97e0b59dd46bbb9237176a68ab" and d["present"] is False
    assert main(["datasets", "info", "neorl2/Fusion-tran"]) == 1
    assert "did you mean" in capsys.readouterr().err
    # a prefix that matches nothing is said, with the prefixes there are; so is an empty --present list
    assert main(["datasets", "list", "zzz"]) == 1
    assert "unknown dataset id prefix 'zzz'; known: d4rl/, d5rl/" in capsys.readouterr().err
    assert main(["datasets", "list", "d4rl/hopper", "--present"]) == 0
    assert "none of the 6 dataset(s) under 'd4rl/hopper' is on this machine" in capsys.readouterr().out


def test_convert_and_verify(tmp_path, capsys):
    src = write_d4rl(tmp_path / "x.hdf5", episodes_layout(np.random.default_rng(0), [5, 6], ["term", "timeout"]))
    assert main(["datasets", "convert", str(src), "local/hopper-medium-v0"]) == 0
    assert main(["datasets", "verify", "local/hopper-medium-v0", str(src)]) == 0
    assert main(["datasets", "convert", str(src), str(tmp_path / "m"), "--to", "minari", "--mode", "raw"]) == 0
    assert main(["datasets", "verify", str(tmp_path / "m")]) == 0
    assert main(["datasets", "list", "local/", "--present"]) == 0
    assert "local/hopper-medium-v0" in capsys.readouterr().out
    (tmp_path / "offrl-data" / "local" / "hopper-medium-v0" / "data.h5").write_bytes(b"broken")
    assert main(["datasets", "verify", "local/hopper-medium-v0"]) == 1
    assert main(["datasets", "verify", "d4rl/hopper-expert-v2"]) == 1


def test_convert_to_an_unwritable_or_existing_destination(tmp_path, capsys):
    src = write_d4rl(tmp_path / "x.hdf5", episodes_layout(np.random.default_rng(0), [5, 6], ["term", "timeout"]))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for to in ("offrl", "minari", "d4rl"):  # the parent is a file: mkdir fails deep inside each writer
        dest = blocker / "out"
        assert main(["datasets", "convert", str(src), str(dest), "--to", to]) == 1
        err = capsys.readouterr().err
        assert f"cannot write {dest}: " in err and "Traceback" not in err
    assert main(["datasets", "convert", str(src), "local/hopper-medium-v0"]) == 0
    assert main(["datasets", "convert", str(src), "local/hopper-medium-v0"]) == 1
    err = capsys.readouterr().err
    assert "already exists; pass overwrite=True (`--overwrite` on the command line)" in err
    assert main(["datasets", "convert", str(src), "local/hopper-medium-v0", "--overwrite"]) == 0
