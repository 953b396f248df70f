"""`offrl continual collect` on a stream file of one's own: tasks that name a shipped task's data are
collected, a task no shipped policy makes is refused by name before anything is collected."""

from offrl.cli import main

STREAM = """name: my-pend
env: offrl/PendulumGain-v0
tasks:
  - {name: weak, kwargs: {gain: 0.5}, dataset: "local/pendulum-gain/weak-{quality}-v0"}
"""


def test_a_stream_file_collects_the_shipped_data_it_names_and_refuses_what_none_makes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "my-pend.yaml"
    f.write_text(STREAM + "  - {name: quarter, kwargs: {gain: 0.25}}\n")
    assert main(["continual", "collect", "--stream", str(f), "--steps", "400", "--no-minari"]) == 1
    err = capsys.readouterr().err
    assert ("task 'quarter' of stream 'my-pend': no shipped behaviour policies make its data "
            "local/my-pend/quarter-medium-v0" in err and "dataset:" in err and "Traceback" not in err)
    assert not (tmp_path / "data").exists()  # refused before the weak task's data was collected
    f.write_text(STREAM)
    assert main(["continual", "collect", "--stream", str(f), "--steps", "400", "--no-minari"]) == 0
    assert "local/pendulum-gain/weak-medium-v0: 400 transitions" in capsys.readouterr().out
