"""``offrl continual list --data-root PATH`` says what is wrong with PATH, as ``offrl continual train`` does,
instead of listing every stream's data as absent without a word."""

from __future__ import annotations

from offrl.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["continual", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_data_root_that_is_a_file_is_refused_with_continual_trains_message(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, out, err = _run(capsys, "list", "--data-root", str(afile))
    assert code == 1 and out == ""
    assert err.strip() == (f"offrl continual: error: data root {afile} is not a directory; pass --data-root DIR, "
                           "the folder that holds the data")
    # one check, one message: train's refusal of the same root reads the same
    code, _, train_err = _run(capsys, "train", "--stream", "pendulum-gain", "--data-root", str(afile), "--no-progress")
    assert code == 1 and train_err.strip() == err.strip()
    code, _, err = _run(capsys, "list", "--data-root", str(afile / "below"))
    assert code == 1 and f"data root {afile / 'below'} cannot be created: {afile} is not a directory" in err


def test_continual_list_names_where_a_default_root_that_is_a_file_comes_from(tmp_path, monkeypatch, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("OFFRL_DATA_DIR", str(afile))
    code, _, err = _run(capsys, "list")
    assert code == 1 and f"data root {afile} (from $OFFRL_DATA_DIR) is not a directory" in err


def test_a_data_root_that_does_not_exist_is_said_to_hold_no_data(tmp_path, capsys):
    missing = tmp_path / "no-such-root"
    code, out, err = _run(capsys, "list", "--data-root", str(missing))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == (f"data root {missing} does not exist: no stream's data are present there "
                        f"(`offrl continual collect --stream NAME --data-root {missing}` collects into it)")
    assert lines[1] == "streams (offrl continual train --stream NAME):"
    assert not missing.exists()  # listing creates nothing
    # the default root, not there before anything is collected, is no news
    code, out, _ = _run(capsys, "list")
    assert code == 0 and out.startswith("streams (offrl continual train --stream NAME):\n")
