"""``offrl datasets list --root PATH`` refuses a PATH that cannot be a folder (a file, or below a file) in one
line, as other commands refuse such a data root, instead of listing nothing as present; a root that does not
exist is listed (nothing present) with a note saying so."""

from __future__ import annotations

from offrl.cli import main


def test_a_file_as_data_root_is_refused_in_one_line(tmp_path, capsys):
    afile = tmp_path / "data.txt"
    afile.write_text("")
    assert main(["datasets", "list", "--root", str(afile)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (f"offrl datasets: error: data root {afile} is not a directory; pass --root DIR, "
                                 "the folder that holds the data\n")
    assert main(["datasets", "list", "local/", "--present", "--root", str(afile / "below")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (f"offrl datasets: error: data root {afile / 'below'} cannot be created: {afile} "
                                 "is not a directory; pass --root DIR, the folder that holds the data\n")


def test_the_default_data_root_is_checked_too(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "data.txt"
    afile.write_text("")
    monkeypatch.setenv("OFFRL_DATA_DIR", str(afile))
    assert main(["datasets", "list", "d4rl/hopper"]) == 1
    assert capsys.readouterr().err == (f"offrl datasets: error: data root {afile} (from $OFFRL_DATA_DIR) is not a "
                                       "directory; pass --root DIR, the folder that holds the data\n")


def test_a_missing_data_root_lists_nothing_present_and_says_why(tmp_path, capsys):
    missing = tmp_path / "no such root"
    assert main(["datasets", "list", "local/", "--present", "--root", str(missing)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("none of the ") and out.count("\n") == 1
    assert err == f"note: data root {missing} does not exist, so no dataset is present there\n"
    assert main(["datasets", "list", "d4rl/hopper-medium-v2", "--root", str(missing)]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and out.split()[0] == "d4rl/hopper-medium-v2"  # listed, not present (no '*')
    assert err.count("\n") == 1 and "does not exist" in err
    # a root that exists says nothing of it, nor does the default root, missing or not
    missing.mkdir()
    assert main(["datasets", "list", "d4rl/hopper-medium-v2", "--root", str(missing)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["datasets", "list", "d4rl/hopper-medium-v2"]) == 0
    assert capsys.readouterr().err == ""
