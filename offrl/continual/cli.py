"""``offrl continual``: list streams and methods, collect a stream's data, train through a stream.

    offrl continual list
    offrl continual collect --stream pendulum-gain --quality medium
    offrl continual train --stream cheetah-vel --method er --buffer 1000 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import numpy as np
import tyro

SUBCOMMANDS = {"list": "the shipped streams (tasks, data present?) and the continual methods",
               "collect": "collect every task's dataset of a stream from the shipped behaviour policies",
               "build-assets": "pick each task's expert/medium policies from an `offrl online --stream` run",
               "train": "train a continual method through a stream for N seeds (vmapped)"}


@dataclasses.dataclass(frozen=True)
class ListArgs:
    """List the shipped streams (their tasks, whose data are present) and the continual methods."""

    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root whose datasets count as present (default $OFFRL_DATA_DIR or ~/.offrl/data); as `offrl
    continual collect --data-root`."""


@dataclasses.dataclass(frozen=True)
class CollectStreamArgs:
    """Collect the per-task datasets local/<stream>/<task>-<quality>-v0 of a stream."""

    stream: str
    """a shipped stream (offrl continual list) or a stream YAML file whose tasks name a shipped task's data."""
    quality: tuple[str, ...] = ("medium",)
    """qualities to collect: medium, medium-random, expert, random."""
    steps: Annotated[int | None, tyro.conf.arg(metavar="INT")] = None
    """transitions per task and part (default 100,000)."""
    workers: int = 0
    """env worker processes per collection (does not change the data)."""
    minari: bool = False
    """also write Minari copies (fails before collecting for streams whose envs Minari cannot record)."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root to write to (default $OFFRL_DATA_DIR or ~/.offrl/data); as `offrl continual train --data-root`."""


@dataclasses.dataclass(frozen=True)
class BuildAssetsArgs:
    """Pick every task's expert and medium snapshots from an ``offrl online --stream`` run and measure its
    random and expert reference returns (``offrl.collection.build_assets``)."""

    run_dir: str
    """the online run's --out folder (holding <stream>/<task>.npz)."""
    stream: tuple[str, ...]
    """streams (or stream/task) whose tasks the run trained."""
    out: str | None = None
    """parent of the <stream>/<task>/ asset folders (default: the package's offrl/assets/policies)."""
    processes: int = 1
    """tasks built in parallel (one process each)."""


def build_assets_cli(a: BuildAssetsArgs) -> dict:
    import json
    from pathlib import Path

    from offrl.collection import build_stream_assets
    from offrl.continual.streams import load_stream

    names = []
    for item in a.stream:
        stream_name, _, task_name = item.partition("/")
        stream = load_stream(stream_name)
        names += [f"{stream.name}/{t.name}" for t in ([stream.task(task_name)] if task_name else stream.tasks)]
    res = build_stream_assets(a.run_dir, names, out_root=a.out, processes=a.processes)
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        summary = Path(a.out) / "summary.json"  # several runs may build into one folder
        merged = {**(json.loads(summary.read_text()) if summary.is_file() else {}), **res}
        summary.write_text(json.dumps(merged, indent=1))
    for n in names:
        r = res[n]["returns_100"]
        print(f"{n:24s} random {r['random']['mean']:9.1f}  medium {r['medium']['mean']:9.1f}  "
              f"expert {r['expert']['mean']:9.1f}")
    return res


def list_all(data_root: str | None = None) -> str:
    """The text of ``offrl continual list``: each shipped stream with its tasks, whether their behaviour
    policies are shipped and which qualities' data are present under ``data_root``; the methods.

    A data root that cannot be a folder (a file in its place) is refused with the message of ``offrl continual
    train`` (:func:`offrl.datasets.registry.check_data_root`): its data would otherwise all be shown absent
    without a reason. A root given that does not exist is said to hold no data yet (a mistyped one shows no
    data present)."""
    from offrl.collection import policy_file
    from offrl.continual.methods import METHODS
    from offrl.continual.streams import QUALITIES, list_streams, load_stream
    from offrl.datasets import is_present
    from offrl.datasets.registry import check_data_root, data_root_option, is_default_root

    # as `offrl continual train` refuses it (offrl.continual.data.load_datasets): both only read the root
    root = check_data_root(data_root, write=False)
    lines = []
    if not is_default_root(data_root) and not root.exists():
        lines.append(f"data root {root} does not exist: no stream's data are present there (`offrl continual "
                     f"collect --stream NAME{data_root_option(data_root)}` collects into it)")
    lines.append("streams (offrl continual train --stream NAME):")
    for name in list_streams():
        s = load_stream(name)
        shipped = all(policy_file(f"{name}/{t.name}").is_file() for t in s.tasks)
        present = [q for q in QUALITIES if all(is_present(i, root=data_root) for i in s.dataset_ids(q))]
        status = ("policies shipped" if shipped else "policies not shipped") + (
            f"; data present: {', '.join(present)}" if present else "")
        lines.append(f"  {name:<16} {len(s.tasks)} tasks ({', '.join(s.task_names)}) [{status}]")
        lines.append(f"  {'':<16} {s.description}")
    lines += ["", "methods (offrl continual train --method NAME --method-hp name=value ...):"]
    for name, m in METHODS.items():
        fields = [f.name for f in dataclasses.fields(m.config_cls)]
        lines.append(f"  {name:<12} {m.description}" + (f" (options: {', '.join(fields)})" if fields else ""))
    return "\n".join(lines)


def collect_stream(a: CollectStreamArgs) -> None:
    from offrl.collection import collect
    from offrl.continual.streams import check_quality, load_stream
    from offrl.datasets import is_present

    stream = load_stream(a.stream)
    for q in a.quality:
        check_quality(q)
    if a.minari:  # every copy asked for can be written: found out before any task is collected
        from offrl.collection import check_minari_copy

        for q in a.quality:
            for t in stream.tasks:
                check_minari_copy(f"{stream.name}/{t.name}-{q}")
    todo = []  # (dataset id, collection name): every task's found before any is collected
    for q in a.quality:
        for t in stream.tasks:
            ds_id = t.dataset_id(stream.name, q)
            if is_present(ds_id, root=a.data_root):
                print(f"{ds_id}: present, kept")
                continue
            todo.append((ds_id, _collection_name(ds_id, stream, t)))
    for ds_id, name in todo:
        ds = collect(name, steps=a.steps, workers=a.workers, minari=a.minari, root=a.data_root)
        st = ds.stats()
        print(f"{ds_id}: {len(ds):,} transitions, return {st['return']['mean']:.1f}"
              + (f", normalized {st['normalized_return']['mean']:.1f}" if "normalized_return" in st else ""))


def _collection_name(ds_id: str, stream, task) -> str:
    """What ``offrl collect`` calls the task dataset ``ds_id`` (``pendulum-gain/weak-medium``), which it makes
    from a shipped stream's behaviour policies; a task of a stream file of one's own has none unless its
    ``dataset:`` names a shipped task's data, so it is refused with what to do instead."""
    from offrl.collection import parse_name, source
    from offrl.errors import OffrlError

    name = ds_id.removeprefix("local/").removesuffix("-v0")
    try:
        env, _ = parse_name(name)
        source(env)
    except OffrlError:
        raise OffrlError(f"task {task.name!r} of stream {stream.name!r}: no shipped behaviour policies make its data "
                         f"{ds_id}, so `offrl continual collect` cannot; save data of your own under that id "
                         "(offrl.datasets.save, reference scores ref_min/ref_max in its spec), or name a shipped "
                         "task's data in the task's `dataset:` key (docs/extending.md)") from None
    return name


def make_train_args(config_cls):
    """``offrl continual train``'s options: every ContinualConfig field and ``--buffer N``."""

    @dataclasses.dataclass(frozen=True)
    class TrainArgs(config_cls):
        __doc__ = config_cls.__doc__
        # help= as well: tyro reads a field's docstring from source, which it does not find for a class made
        # in a function (the option showed no help)
        buffer: Annotated[int | None, tyro.conf.arg(
            metavar="N", help="replay buffer size per task, for methods that keep one (er, oer): "
                              "--method-hp buffer_size=N.")] = None

    TrainArgs.__name__ = TrainArgs.__qualname__ = config_cls.__name__  # tyro names it in its error messages
    return TrainArgs


def train_config(args):
    """The ContinualConfig of parsed ``offrl continual train`` options (``--buffer`` into method_hp)."""
    from offrl.continual.trainer import ContinualConfig
    from offrl.errors import ConfigError

    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(ContinualConfig)}
    if args.buffer is not None:
        given = [o for o in args.method_hp if o.split("=", 1)[0].strip() == "buffer_size"]
        if given:
            raise ConfigError(f"--buffer {args.buffer} and --method-hp {given[0]}: give the buffer size once")
        fields["method_hp"] = (f"buffer_size={args.buffer}", *args.method_hp)
    return ContinualConfig(**fields)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: offrl continual <subcommand> [options]\n\nsubcommands:\n"
              + "\n".join(f"  {k:<8} {v}" for k, v in SUBCOMMANDS.items()))
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "list":
        print(list_all(tyro.cli(ListArgs, args=rest, prog="offrl continual list").data_root))
        return 0
    if sub == "collect":
        collect_stream(tyro.cli(CollectStreamArgs, args=rest, prog="offrl continual collect"))
        return 0
    if sub == "build-assets":
        build_assets_cli(tyro.cli(BuildAssetsArgs, args=rest, prog="offrl continual build-assets"))
        return 0
    if sub == "train":
        from offrl.continual.trainer import ContinualConfig, train_stream

        cc = train_config(tyro.cli(make_train_args(ContinualConfig), args=rest, prog="offrl continual train"))
        final = train_stream(cc)
        summary = final.get("summary") or {}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in summary.items() if v is not None)
        n = len(final["seeds"])
        print(f"{final['method']} on {final['stream']} ({n} seed{'' if n == 1 else 's'}): {shown}")
        from offrl.paths import run_folder

        print(f"results in {final.get('run_dir') or run_folder(final['run_id'], cc.results_dir)}")
        matrix = np.asarray(final["matrix"], dtype=float).mean(0)
        print("score after each task (rows) on each task (columns), mean over seeds:")
        print("  " + " ".join(f"{t[:8]:>8}" for t in final["tasks"]))
        for k, row in enumerate(matrix):
            print("  " + " ".join(f"{v:8.1f}" for v in row) + f"   after {final['tasks'][k]}")
        return 0
    from offrl.errors import suggest

    hint = suggest(sub, SUBCOMMANDS)
    print(f"offrl continual: unknown subcommand {sub!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
          file=sys.stderr)
    return 2

