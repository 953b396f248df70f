"""Task streams as data: the shipped YAML files, their validation and the per-task dataset ids."""

import pytest

from offrl.continual.streams import (QUALITIES, check_spaces, list_streams, load_stream, parse_stream,
                                     parse_task_dataset_id, task_dataset_id)
from offrl.errors import ConfigError, UnknownIdError


def test_shipped_streams_load_and_carry_the_oer_parameters():
    assert {"cheetah-vel", "cheetah-vel-oer", "ant-dir", "ant-dir-oer", "walker-par", "pendulum-gain"} <= set(
        list_streams())
    oer = load_stream("ant-dir-oer")
    assert [t.kwargs["direction"] for t in oer.tasks] == [1.2034, 0.4266, 4.9448, 4.1239, 4.0057]
    vel = load_stream("cheetah-vel-oer")
    assert [t.kwargs["target_velocity"] for t in vel.tasks] == pytest.approx([0.075, 0.15, 0.225, 0.30, 0.375])
    default = [t.kwargs["target_velocity"] for t in load_stream("cheetah-vel").tasks]
    assert min(default) >= 0 and max(default) <= 3 and min(b - a for a, b in zip(default, default[1:])) >= 0.5
    for name in list_streams():
        s = load_stream(name)
        assert s.tasks and s.description
        assert all(t.env_id.startswith("offrl/") for t in s.tasks)


def test_dataset_ids_round_trip():
    s = load_stream("pendulum-gain")
    ids = s.dataset_ids("medium-random")
    assert ids[1] == "local/pendulum-gain/reversed-medium-random-v0"
    for q in QUALITIES:
        assert parse_task_dataset_id(task_dataset_id("cheetah-vel", "v0.5", q)) == ("cheetah-vel", "v0.5", q)
    assert parse_task_dataset_id("local/hopper-medium-v0") is None


def test_bad_streams_fail_with_clear_messages(tmp_path):
    with pytest.raises(UnknownIdError, match="cheetah-vel"):
        load_stream("cheeta-vel")
    with pytest.raises(ConfigError, match="missing required key 'tasks'"):
        parse_stream({"name": "x"})
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        parse_stream({"name": "x", "env": "offrl/PendulumGain-v0", "tasks": [{"kwargs": {}}]})
    with pytest.raises(ConfigError, match="no env id"):
        parse_stream({"name": "x", "tasks": [{"name": "a"}]})
    with pytest.raises(ConfigError, match="duplicate"):
        parse_stream({"name": "x", "env": "e", "tasks": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ConfigError, match="no '-'"):
        parse_stream({"name": "x", "env": "e", "tasks": [{"name": "a-b"}]})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_stream({"name": "x", "env": "e", "tasks": [{"name": "a", "kwarg": {}}]})
    bad = tmp_path / "s.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read stream file"):
        load_stream(bad)
    with pytest.raises(UnknownIdError, match="task of stream"):
        load_stream("pendulum-gain").task("fwd")


def test_tasks_with_different_spaces_need_a_padding_rule(tmp_path):
    raw = {"name": "mixed", "tasks": [{"name": "p", "env": "offrl/PendulumGain-v0", "kwargs": {"gain": 1.0}},
                                      {"name": "c", "env": "offrl/CheetahVel-v0"}]}
    with pytest.raises(ConfigError, match="pad: zeros"):
        check_spaces(parse_stream(raw))
    spaces = check_spaces(parse_stream({**raw, "pad": "zeros"}))
    assert spaces == [((3,), (1,)), ((17,), (6,))]
    assert check_spaces(load_stream("pendulum-gain")) == [((3,), (1,))] * 3


def test_a_stream_file_of_ones_own_names_its_data_truly(tmp_path):
    """A task whose dataset id fixes its quality (no `{quality}`) refuses another quality rather than file a
    medium run as expert; missing data of a stream of one's own get commands that work for it."""
    from offrl.continual.data import load_datasets
    from offrl.errors import OffrlError

    f = tmp_path / "my-pend.yaml"
    f.write_text("name: my-pend\ndescription: two pendulum tasks\nenv: offrl/PendulumGain-v0\ntasks:\n"
                 "  - {name: forward, kwargs: {gain: 1.0}, dataset: 'local/pendulum-gain/forward-{quality}-v0'}\n"
                 "  - {name: reversed, kwargs: {gain: -1.0}, dataset: local/pendulum-gain/reversed-medium-v0}\n"
                 "  - {name: mine, kwargs: {gain: 0.7}}\n")
    stream = load_stream(str(f))
    assert stream.dataset_ids("medium")[1] == "local/pendulum-gain/reversed-medium-v0"
    with pytest.raises(ConfigError, match=r"task 'reversed' of stream 'my-pend' reads "
                                          r"local/pendulum-gain/reversed-medium-v0, medium data, but quality "
                                          r"'expert' was asked for"):
        stream.dataset_ids("expert")
    with pytest.raises(OffrlError) as e:  # no data in the test's empty data root
        load_datasets(stream, "medium")
    said = str(e.value)
    assert "`offrl collect pendulum-gain/forward-medium`" in said and "`offrl collect pendulum-gain/reversed-medium`" in said
    assert "local/my-pend/mine-medium-v0: no shipped policy makes it" in said
    assert "offrl continual collect --stream my-pend" not in said


def test_a_task_reading_data_of_other_env_settings_is_refused(tmp_path):
    """A stream file whose task `weak` sets gain 0.7 but reads the shipped task's gain-0.5 data would train
    on one env, be evaluated on another and be normalized by the data's references: refused, naming both
    settings; the same file with the data's settings loads."""
    from offrl.collection import collect
    from offrl.continual.data import load_datasets

    for name in ("forward", "weak"):
        collect(f"pendulum-gain/{name}-medium", steps=200, progress=False, minari=False)

    def stream_with(gain):
        f = tmp_path / f"mine-{gain}.yaml"
        f.write_text("name: mine\nenv: offrl/PendulumGain-v0\ntasks:\n"
                     "  - {name: forward, kwargs: {gain: 1}, dataset: 'local/pendulum-gain/forward-{quality}-v0'}\n"
                     f"  - {{name: weak, kwargs: {{gain: {gain}}}, dataset: 'local/pendulum-gain/weak-{{quality}}-v0'}}\n")
        return load_stream(str(f))

    with pytest.raises(ConfigError) as e:
        load_datasets(stream_with(0.7), "medium")
    said = str(e.value)
    assert "task 'weak': offrl/PendulumGain-v0 {'gain': 0.7}, but local/pendulum-gain/weak-medium-v0 was made on " \
           "offrl/PendulumGain-v0 {'gain': 0.5}" in said and "task 'forward'" not in said
    ids, datasets = load_datasets(stream_with(0.5), "medium")  # gain 1 and 1.0 are the same setting
    assert len(datasets) == 2
