"""The ``continual`` run kind of sweep files: a :class:`~offrl.continual.trainer.ContinualConfig` run by
:func:`~offrl.continual.trainer.train_stream` (``offrl continual train``).

A sweep file with ``kind: continual`` names ``stream`` (or ``streams``), ``method`` (or ``methods``), and
optionally ``algo``, ``quality``; ``continual:`` holds other :class:`ContinualConfig` fields, ``hp:`` the
base learner's hyperparameters and ``method_hp:`` the method's options; ``grid:``/``random:`` search over
any of them (``method_hp.buffer_size: [1000, 10000]``). Seeds stay the vmapped axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from offrl.errors import ConfigError
from offrl.sweep.kinds import RunKind, register_kind


def _run(cc) -> dict:
    from offrl.continual.trainer import train_stream

    return train_stream(cc)


def _validate(cc, pairs: Mapping[str, Mapping[str, Any]]) -> None:
    """Stream, method, base learner and both option sets, without loading data."""
    from offrl import algos
    from offrl.continual.methods import METHODS
    from offrl.continual.streams import load_stream
    from offrl.continual.trainer import check_method_fits, learner_config, method_config

    load_stream(cc.stream)
    method = METHODS[cc.method]
    method_config(cc, method)
    cfg = learner_config(cc, algos.get(cc.algo))
    if cc.chunk % cfg.steps_per_call:
        raise ConfigError(f"continual.chunk={cc.chunk} must be a multiple of {cc.algo}'s steps_per_call="
                          f"{cfg.steps_per_call}")
    check_method_fits(cc, method)


def _identity(cc) -> dict:
    """:func:`offrl.continual.trainer.continual_identity`: the trainer's default run id digests the same."""
    from offrl.continual.trainer import continual_identity

    return continual_identity(cc)


def _label(cc) -> str:
    from offrl.continual.trainer import run_id_prefix

    return run_id_prefix(cc)


def _data_ids(cc) -> list[str]:
    from offrl.continual.streams import load_stream

    return load_stream(cc.stream).dataset_ids(cc.quality)


def _work(cc):
    """Runs of one method, base learner and batch size are pooled for measured rates; before any has
    finished, the base learner's recorded rate at the run's batch (a method's own extra work, e.g.
    replay steps, is not in it)."""
    from offrl.continual.streams import load_stream
    from offrl.sweep.plan import Work, batch_label

    steps = cc.steps_per_task * len(load_stream(cc.stream).tasks)
    return Work(batch_label(f"{cc.method} ({cc.algo})", cc.batch_size, cc.algo), steps, cc.algo, cc.batch_size)


def make_kind() -> RunKind:
    from offrl.continual.trainer import ContinualConfig

    return RunKind(
        name="continual",
        config_cls=ContinualConfig,
        run=_run,
        validate=_validate,
        data_ids=_data_ids,
        data_root=lambda cc: cc.data_root,  # `continual.data_root:` of the file, as `--data-root` of the trainer
        label=_label,
        columns=lambda cc: {"method": cc.method, "stream": cc.stream, "quality": cc.quality},
        work=_work,
        keys=("stream", "method", "algo", "quality"),
        identity=_identity,
        not_identity=("eval_learner",),  # the learner's scores beside the deployed policy's: records only
        field_sections=("continual",),
        pair_sections=("hp", "method_hp"),
        plurals={"streams": "stream", "methods": "method", "qualities": "quality"},
        required=("stream", "method"),
        program=("continual", "train"),
        description="offrl.continual.ContinualConfig run by offrl.continual.train_stream (`offrl continual train`)",
    )


KIND = register_kind(make_kind())
