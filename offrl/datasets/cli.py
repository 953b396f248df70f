"""``offrl datasets list|info|download|verify|convert``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import tyro

from offrl.cli import progress_bars_shown

# metavars instead of tyro's "{None}|STR" for optional values
Root = Annotated[str | None, tyro.conf.arg(metavar="DIR")]

READ_ROOT_FIX = "pass --root DIR, the folder that holds the data"
"""What a data root that cannot be a folder is told to do instead (these commands' option is ``--root``)."""


def list_(prefix: Annotated[str | None, tyro.conf.arg(metavar="[PREFIX]")] = None, /, *, present: bool = False,
          root: Root = None) -> int:
    """List the dataset ids that can be loaded, downloaded or collected here (* = on this machine).

    A data root that cannot be a folder (a file in its place, or a path below a file) is refused in one line,
    as other commands refuse it, rather than shown as holding nothing; a root given that does not exist holds
    nothing yet, and a note on stderr says so.

    Args:
      prefix: only ids starting with this, e.g. d4rl/ or neorl2/.
      present: only datasets whose data is on this machine.
      root: data cache root (default $OFFRL_DATA_DIR or ~/.offrl/data).
    """
    from offrl.datasets.api import info, is_present
    from offrl.datasets.registry import (
        check_data_root,
        is_default_root,
        list_datasets,
        saved_local_ids,
        unloadable_local_dirs,
        unreadable_local_dirs,
    )

    # only read here: a missing or read-only root may still be listed (nothing present), a file cannot
    path = check_data_root(root, write=False, fix=READ_ROOT_FIX)
    if not is_default_root(root) and not path.exists():  # a mistyped root would otherwise look merely empty
        print(f"note: data root {path} does not exist, so no dataset is present there", file=sys.stderr)

    saved = [i for i in saved_local_ids(root) if prefix is None or i.startswith(prefix)]
    registered = list_datasets(prefix)
    # Minari datasets on this machine that no registry entry names (`offrl collect`'s copies, one's own):
    # they load by id, so they are listed
    minari = [i for i in saved_minari_ids(root) if (prefix is None or i.startswith(prefix)) and i not in registered]
    ids = sorted(registered + saved + minari)
    if not ids:  # a prefix that matches nothing: say so, and which prefixes there are
        from offrl.errors import UnknownIdError

        prefixes = sorted({i.split("/", 1)[0] + "/" for i in list_datasets(None) + saved_local_ids(root)})
        raise UnknownIdError("dataset id prefix", prefix, prefixes)
    shown = 0
    for i in ids:
        here = is_present(i, root)
        if present and not here:
            continue
        shown += 1
        d = info(i, root)
        if i in saved:
            d.update(_saved_local_spec(d["paths"][0]))
        ref = "" if d.get("ref_min") is None else f"ref [{d['ref_min']:g}, {d['ref_max']:g}]"
        print(f"{'*' if here else ' '} {i:<45} {d['env_id'] or '':<22} {ref}")
    if present and not shown:
        print(f"none of the {len(ids)} dataset(s){f' under {prefix!r}' if prefix else ''} is on this machine "
              "(`offrl datasets list` shows what can be downloaded or collected)")
    for d in unreadable_local_dirs(root):  # on stderr: what is listed on stdout stays ids
        name = f"local/{d.name}"
        if prefix is None or name.startswith(prefix):
            print(f"note: {d} holds an offrl.json that cannot be read, so {name} is not listed as present "
                  f"(`offrl datasets verify {d}` says what is wrong)", file=sys.stderr)
    for d, why in unloadable_local_dirs(root):  # listed under its name, it would load another folder or none
        if prefix is None or f"local/{d.name}".startswith(prefix):
            print(f"note: {d} is not listed: {why}", file=sys.stderr)
    return 0


def info_(dataset_id: Annotated[str, tyro.conf.arg(metavar="ID|PATH")], /, *, root: Root = None,
          stats: bool = False) -> int:
    """Show what is known of DATASET_ID (env, reference scores, URLs, checksum, local presence), or the
    format and spec of a dataset path. Data on this machine are first checked against their checksums as
    `offrl datasets verify` checks them (a path always; an id's data when they take at most 256 MiB,
    else "integrity" says they were not checked); data that fail are an error (exit 1).

    Args:
      dataset_id: a dataset id, e.g. d4rl/hopper-medium-v2, or a path that load accepts.
      root: data cache root.
      stats: also load the data (if present) and print episode/return statistics.
    """
    from offrl.datasets.api import (
        INFO_CHECK_MAX_BYTES,
        info,
        load,
        local_hint,
        misnamed_local_folder,
        quickstart_transitions,
    )
    from offrl.datasets.registry import DATASETS, list_datasets, saved_local_ids
    from offrl.errors import OffrlError, UnknownIdError

    # --stats reads all of the data anyway: then they are checked whatever their size
    d = info(dataset_id, root, check_max_bytes=float("inf") if stats else INFO_CHECK_MAX_BYTES)
    if d["source"] == "local" and dataset_id not in DATASETS:
        if not d["present"] and (quickstart_transitions(dataset_id) is not None  # as `offrl train` says it
                                 or misnamed_local_folder(dataset_id, root) is not None):
            raise OffrlError(f"{dataset_id} is not on this machine (looked in {d['paths'][0]}); "
                             f"{local_hint(dataset_id, root)}")
        if not d["present"]:  # neither collectable nor saved here: say which local ids exist
            raise UnknownIdError("dataset", dataset_id, list_datasets("local/") + saved_local_ids(root))
        d.update(_saved_local_spec(d["paths"][0]))
    if stats and d["present"]:
        d["stats"] = load(dataset_id, root=root, allow_pickle=False).stats()
    print(json.dumps(d, indent=2, default=str))
    return 0


def saved_minari_ids(root: Root = None) -> list[str]:
    """``minari/<namespace>/<name>-vN`` of every Minari dataset in the folders :func:`load` searches
    (:func:`~offrl.datasets.registry.minari_roots`), registered or not."""
    from offrl.datasets.minari_io import is_minari_dir
    from offrl.datasets.registry import minari_roots

    found: set[str] = set()
    for base in minari_roots(root):
        if not base.is_dir():
            continue
        for meta in base.glob("**/data/metadata.json"):
            d = meta.parent.parent
            rel = d.relative_to(base).as_posix()
            if "/" in rel and is_minari_dir(d):  # Minari ids have a namespace
                found.add(f"minari/{rel}")
    return sorted(found)


def _saved_local_spec(path: str) -> dict:
    """A description of a saved ``local/...`` dataset that the registry does not list, read from the
    dataset's own manifest (its env, reference scores and checksum :func:`offrl.datasets.info` reads there
    for every native dataset)."""
    from offrl.datasets.native import read_manifest

    m = read_manifest(path)
    spec, card = m.get("spec", {}), m.get("metadata", {}).get("card", {})
    what = (f"{spec.get('env_id')} {card.get('level', '')} data collected from the shipped policies" if card
            else f"{spec.get('env_id') or 'unknown-env'} data")
    return {"description": f"{m.get('transitions', 0):,} transitions of {what}, saved under this id"}


def download_(dataset_ids: Annotated[list[str], tyro.conf.arg(metavar="ID [ID ...]")], /, *,
              root: Root = None) -> int:
    """Download registered datasets into the cache (resumable, checksum-verified). A failed download does
    not stop the others; a host that cannot be reached is not asked again for its other files. Exit 1
    when any was not downloaded.

    Args:
      dataset_ids: one or more registry ids.
      root: data cache root.
    """
    from offrl.datasets.api import download_datasets
    from offrl.datasets.registry import get_info

    for i in dataset_ids:
        get_info(i)  # an unknown id is refused (with close matches) before anything downloads
    outcome = download_datasets(dataset_ids, root=root, progress=progress_bars_shown())
    for i, paths in outcome.paths.items():
        for p in paths:
            print(f"{i}: {p}")
    not_got = outcome.not_got()
    for line in outcome.notes():
        print(line, file=sys.stderr)
    for i, why in not_got.items():
        print(f"{i}: not downloaded: {why}", file=sys.stderr)
    return 1 if not_got else 0


def verify_(sources: Annotated[list[str], tyro.conf.arg(metavar="ID|PATH [ID|PATH ...]")], /, *,
            root: Root = None, repin: bool = False, allow_pickle: bool = False) -> int:
    """Check datasets (ids or paths) against their checksums and that they load; exit 1 on problems.

    Files whose source publishes no checksum (D4RL, D5RL) are checked against the sha256 pinned at
    their first download or load (in <data root>/pinned_checksums.json). Pickle data (D5RL WidowX,
    A1) is not opened without --allow-pickle, and is then reported as not verified (a problem).
    A native dataset's offrl.json is checked against its own checksum; one written by an earlier offrl
    has none, which a "note" line says (not a problem).

    Args:
      sources: registry ids or paths.
      root: data cache root.
      repin: accept the files of these ids as they are now: replace their pinned checksums.
      allow_pickle: also open D5RL pickle data to check that it loads (unpickled through an allow-list).
    """
    from offrl.datasets.api import verify

    bad = 0
    for s in sources:
        problems = verify(s, root=root, progress=progress_bars_shown(), repin=repin, allow_pickle=allow_pickle)
        if problems:
            bad += 1
            for p in problems:
                print(f"FAIL {s}: {p}")
        else:
            print(f"ok   {s}")
        # what was not checked, yet is no problem (offrl.datasets.api.Problems): said under the verdict, which
        # it does not change
        for n in getattr(problems, "notes", ()):
            print(f"note {s}: {n}")
    return 1 if bad else 0


def convert_(source: Annotated[str, tyro.conf.arg(metavar="ID|PATH")],
             dest: Annotated[str, tyro.conf.arg(metavar="ID|PATH")], /, *,
             to: Literal["offrl", "minari", "d4rl"] = "offrl",
             mode: Literal["qlearning", "raw"] = "qlearning", data_format: Literal["hdf5", "arrow"] = "hdf5",
             overwrite: bool = False, allow_pickle: bool = False, root: Root = None) -> int:
    """Convert SOURCE (id or path, any supported format) to DEST in another format.

    Args:
      source: registry id or path.
      dest: output path, or a local/<name> (without -v<N> it gets -v0) or minari/<namespace>/<name>-v<N> id.
      to: output format.
      mode: D4RL read mode (qlearning = what d4rl.qlearning_dataset returns, raw = every row).
      data_format: Minari backend when --to minari.
      overwrite: replace an existing output.
      allow_pickle: allow D5RL pickle inputs (unpickled through an allow-list).
      root: data cache root.
    """
    from offrl.datasets.api import load, save

    ds = load(source, root=root, mode=mode, allow_pickle=allow_pickle, progress=progress_bars_shown())
    kw = {"data_format": data_format} if to == "minari" else {}
    out = save(ds, dest, format=to, overwrite=overwrite, root=root, **kw) if to == "offrl" else \
        save(ds, dest, format=to, overwrite=overwrite, **kw)
    print(f"wrote {len(ds)} transitions ({ds.num_episodes} episodes) to {out}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point used by ``offrl datasets``."""
    # OffrlError propagates to offrl.cli, which prints it as one line and exits 1.
    return int(tyro.extras.subcommand_cli_from_dict(
        {"list": list_, "info": info_, "download": download_, "verify": verify_, "convert": convert_},
        prog="offrl datasets", description="Dataset registry, downloads, verification and conversion.",
        args=argv) or 0)
