"""The public dataset API: ``load``, ``save``, ``normalized_score``, ``info``, ``download_dataset``,
``download_datasets``, ``verify``."""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from offrl.datasets import registry as R
from offrl.datasets.core import DatasetSpec, OfflineDataset, normalize_returns
from offrl.errors import ConfigError, DataIntegrityError, OffrlError, UnknownIdError, close_ids

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
FORMATS = ("offrl", "d4rl", "minari", "neorl2", "d5rl-kitchen", "d5rl-widowx", "d5rl-a1")


# ---------------------------------------------------------------------------- detection
def detect_format(path: str | os.PathLike) -> str:
    """The format of a file or directory, decided from its content (not its name)."""
    from offrl.datasets.minari_io import is_minari_dir
    from offrl.datasets.native import native_claim

    p = Path(path)
    if not p.exists():
        raise OffrlError(f"{p}: no such file or directory")
    # one read of the manifest decides: the folder, its offrl.json or a file it lists (its data.h5 alone would
    # look like a D4RL file) is offrl data; a damaged manifest is said to be one, not an unknown format
    folder, damaged = native_claim(p)
    if folder is not None:
        return "offrl"
    if damaged is not None:
        raise damaged
    if p.is_dir():
        if is_minari_dir(p):
            return "minari"
        if (p / "out.npy").is_file():
            return "d5rl-widowx"
        for cand in (p / "buffer.pkl", p / "buffers" / "buffer.pkl"):
            if cand.is_file():
                return "d5rl-a1"
        if next(p.rglob("*.npz"), None) is not None:
            return "d5rl-kitchen"
        raise DataIntegrityError(f"{p}: directory holds no dataset offrl recognises "
                                 "(offrl.json, Minari data/metadata.json, D5RL episodes)")
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(p)
    if head.startswith(ZIP_MAGIC):
        keys = _npz_keys(p)
        if {"obs", "next_obs", "action", "reward"} <= keys:
            return "neorl2"
        if "action" in keys:
            return "d5rl-kitchen"
        raise DataIntegrityError(f"{p}: npz with keys {sorted(keys)} is no format offrl knows")
    if head.startswith(NPY_MAGIC):
        return "d5rl-widowx"
    if head[:1] == b"\x80":
        return "d5rl-a1"
    if p.name == "offrl.json" or p.name == "metadata.json":
        return detect_format(p.parent)
    raise DataIntegrityError(f"{p}: unrecognised file (not HDF5, npz, npy or pickle)")


def _hdf5_kind(p: Path) -> str:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            keys = set(f.keys())
    except OSError as e:
        raise DataIntegrityError(f"{p}: truncated or corrupt HDF5 file ({e})") from None
    if "observations" in keys and ("terminals" in keys or "rewards" in keys):
        return "d4rl"
    if any(k.startswith("episode_") for k in keys):
        return "minari"
    raise DataIntegrityError(f"{p}: HDF5 file with keys {sorted(keys)[:8]} is neither D4RL nor Minari")


def _npz_keys(p: Path) -> set[str]:
    try:
        with zipfile.ZipFile(p) as z:
            return {n.removesuffix(".npy") for n in z.namelist()}
    except (zipfile.BadZipFile, OSError) as e:
        raise DataIntegrityError(f"{p}: truncated or corrupt npz file ({e})") from None


# ---------------------------------------------------------------------------- id or path
def is_registry_id(source: str | os.PathLike, root=None) -> bool:
    """Whether ``source`` is taken as a registry id rather than a path: a string that looks like one
    (``minari/...``, ``local/...``) and names no existing path, or names the very folder that id's data
    are read from (run from the data root, ``local/<name>`` and ``minari/<ns>/<name>-vN`` are such
    relative paths). The same data then load, and are described, under their id whatever the working
    directory. A string naming some other existing file or folder is that path."""
    if not isinstance(source, str) or not R.looks_like_id(source):
        return False
    p = Path(source)
    if not p.exists():
        return True
    try:
        where = _id_location(source, root)
    except OffrlError:  # an id the registry refuses (a path such as local/<odd name>/x.hdf5)
        return False
    try:
        return where is not None and os.path.samefile(where, p)
    except OSError:
        return False


def _id_location(dataset_id: str, root=None) -> Path | None:
    """The folder an id's data are read from when they are on this machine (None for ids whose data are
    registered files, which a path never names the same way)."""
    i = R.get_info(dataset_id)
    if i.source == "local":
        d = R.local_dataset_dir(dataset_id, root)
    elif i.source == "minari":
        found = _minari_dirs(i, root)
        d = found[0] if found else None
    elif not i.files:
        d = R.data_root(root) / i.source / i.name
    else:
        d = None
    return d if d is not None and d.exists() else None


def _minari_dirs(info: R.DatasetInfo, root=None) -> list[Path]:
    """The folders that hold the Minari dataset ``info`` on this machine, in the order :func:`load`
    searches them (it reads the first)."""
    from offrl.datasets.minari_io import is_minari_dir

    mid = info.options["minari_id"]
    return [r / mid for r in R.minari_roots(root) if is_minari_dir(r / mid)]


# ---------------------------------------------------------------------------- load
def load(source: str | os.PathLike, *, root: str | os.PathLike | None = None, download: bool = False,
         mode: str = "qlearning", max_episode_steps: int | None = None, terminate_on_end: bool = False,
         traj_num: int | str | None = None, allow_pickle: bool = False, verify: bool = True,
         infos: bool = True, task: str | None = None, progress: bool = False) -> OfflineDataset:
    """Load a dataset by registry id or from a path (format detected from content).

    Args:
      source: ``d4rl/hopper-medium-v2``, ``minari/mujoco/hopper/medium-v0``, ``neorl2/Pipeline-train``,
        ``d5rl/a1-hiking-v0``, ``local/hopper-medium-v0``, or a file/directory path.
      root: data cache root (default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``).
      download: fetch missing files (never done otherwise).
      mode: D4RL only: ``"qlearning"`` (= ``d4rl.qlearning_dataset``) or ``"raw"`` (every row, the
        file's ``next_observations``, timeouts as truncations).
      max_episode_steps: D4RL files without ``timeouts``: the time limit used to find timeouts.
      terminate_on_end: D4RL ``qlearning_dataset``'s flag of the same name.
      traj_num: NeoRL-2 trajectory truncation (``None`` = the repo default, ``"all"``, or an int).
      allow_pickle: D5RL pickle formats only; they are refused without it.
      verify: check checksums (native format, registered files with known checksums).
      infos: D4RL: also read ``infos/*`` columns.
      task: D5RL kitchen task list (``indistribution``/``outofdistribution``); NeoRL-2 task override.
    """
    s = os.fspath(source)
    if is_registry_id(source, root):
        return _load_id(s, root=root, download=download, mode=mode, max_episode_steps=max_episode_steps,
                        terminate_on_end=terminate_on_end, traj_num=traj_num, allow_pickle=allow_pickle,
                        verify=verify, infos=infos, task=task, progress=progress)
    p = Path(s).expanduser()
    if not p.exists():
        if "/" not in s and not s.endswith((".hdf5", ".h5", ".npz", ".npy", ".pkl")):
            raise UnknownIdError("dataset", s, R.DATASETS.names())
        raise OffrlError(f"{p}: no such file or directory")
    return load_path(p, mode=mode, max_episode_steps=max_episode_steps, terminate_on_end=terminate_on_end,
                     traj_num=traj_num, allow_pickle=allow_pickle, verify=verify, infos=infos, task=task,
                     progress=progress)


def load_path(p: Path, *, dataset_id: str | None = None, info: R.DatasetInfo | None = None,
              checksum: str | None = None, mode: str = "qlearning", max_episode_steps: int | None = None,
              terminate_on_end: bool = False, traj_num=None, allow_pickle: bool = False, verify: bool = True,
              infos: bool = True, task: str | None = None, progress: bool = False) -> OfflineDataset:
    """Load a file or directory whose format is detected from content; ``info`` adds registry facts."""
    fmt = detect_format(p)
    if fmt == "offrl":
        from offrl.datasets.native import load_native

        ds = load_native(p if p.is_dir() else p.parent, verify=verify, dataset_id=dataset_id)
    elif fmt == "d4rl":
        from offrl.datasets.d4rl import load_d4rl

        ds = load_d4rl(p, dataset_id=dataset_id, mode=mode, infos=infos, terminate_on_end=terminate_on_end,
                       max_episode_steps=max_episode_steps or (info.max_episode_steps if info else None),
                       env_id=info.env_id if info else None, ref_min=info.ref_min if info else None,
                       ref_max=info.ref_max if info else None, checksum=checksum,
                       expected_dims=(info.obs_dim, info.act_dim) if info else None)
    elif fmt == "minari":
        from offrl.datasets.minari_io import load_minari

        d = p.parent if p.is_file() and p.parent.name == "data" else (p.parent if p.is_file() else p)
        ds = load_minari(d, dataset_id=dataset_id, progress=progress)
    elif fmt == "neorl2":
        from offrl.datasets.neorl2 import load_neorl2

        o = info.options if info else {}
        ds = load_neorl2(p, dataset_id=dataset_id, task=task or o.get("task"), split=o.get("split"),
                         traj_num=traj_num, checksum=checksum)
    elif fmt == "d5rl-kitchen":
        from offrl.datasets.d5rl import load_kitchen

        t = task or (info.options.get("task") if info else None) or "indistribution"
        ds = load_kitchen(p, dataset_id=dataset_id, task=t, progress=progress)
    elif fmt == "d5rl-widowx":
        from offrl.datasets.d5rl import load_widowx

        ds = load_widowx(p / "out.npy" if p.is_dir() else p, dataset_id=dataset_id, allow_pickle=allow_pickle)
    else:
        from offrl.datasets.d5rl import load_a1

        f = p
        if p.is_dir():
            f = p / "buffer.pkl" if (p / "buffer.pkl").is_file() else p / "buffers" / "buffer.pkl"
        ds = load_a1(f, dataset_id=dataset_id, allow_pickle=allow_pickle, env_id=info.env_id if info else None,
                     max_episode_steps=info.max_episode_steps if info else None)
    if info is not None:
        ds.spec = _merge_spec(ds.spec, info)
    return ds


def _merge_spec(spec: DatasetSpec, info: R.DatasetInfo) -> DatasetSpec:
    """Fill the spec's gaps from the registry (registry reference scores win where the file has none)."""
    return dataclasses.replace(
        spec, id=info.id, env_id=spec.env_id or info.env_id,
        ref_min=spec.ref_min if spec.ref_min is not None else info.ref_min,
        ref_max=spec.ref_max if spec.ref_max is not None else info.ref_max,
        max_episode_steps=spec.max_episode_steps or info.max_episode_steps,
        source=info.source)


def _load_id(dataset_id: str, *, root, download: bool, **kw: Any) -> OfflineDataset:
    info = R.get_info(dataset_id)
    if info.source == "local":
        d = R.local_dataset_dir(dataset_id, root)
        if not d.exists():
            raise OffrlError(f"{dataset_id} is not on this machine (looked in {d}); {_local_hint(info, root)}")
        try:
            ds = load_path(d, dataset_id=dataset_id, verify=kw["verify"])
        except DataIntegrityError as e:
            raise DataIntegrityError(f"{e}. {damaged_local_hint(dataset_id, root)}") from None
        ds.spec = _merge_spec(ds.spec, info)
        return ds
    if info.source == "minari":
        return _load_minari_id(info, root=root, download=download, progress=kw["progress"])
    paths = ensure_files(info, root=root, download=download, verify=kw["verify"], progress=kw["progress"])
    p = paths[0]
    checksum = expected_checksum(info, info.files[0][0], root)[0] if info.files else None
    return load_path(p, dataset_id=dataset_id, info=info, checksum=checksum, **kw)


def quickstart_transitions(dataset_id: str) -> int | None:
    """The size of the quickstart's data that ``dataset_id`` names (``local/hopper-medium-50k-v0``: 50000;
    :func:`offrl.quickstart.dataset_id`), else None."""
    from offrl.quickstart import dataset_id as quickstart_id

    m = re.fullmatch(r"local/[a-z0-9]+-[a-z-]+?-(\d+)(k?)-v0", dataset_id)
    if m is None:
        return None
    n = int(m.group(1)) * (1000 if m.group(2) else 1)
    return n if n > 0 and quickstart_id(n) == dataset_id else None


def damaged_local_hint(dataset_id: str, root=None) -> str:
    """What to do about the local dataset ``dataset_id`` whose files fail their checks (changed or damaged
    after they were written): the command that makes it again."""
    info = R.get_info(dataset_id)
    d = R.local_dataset_dir(dataset_id, root)
    if info.id in R.DATASETS:
        from offrl.collection import collect_command  # as it was collected: a --steps 5000 set stays 5000 rows

        how = f"collect it again with `{collect_command(info.name.removesuffix('-v0'), root)} --overwrite`"
    elif quickstart_transitions(info.id) is not None:
        how = f"delete {d}, then {_local_hint(info, root)}"
    else:
        how = "save it again (offrl.datasets.save) from its source"
    return f"{dataset_id} was changed or damaged after it was written: {how}"


def local_hint(dataset_id: str, root=None) -> str:
    """How to get the missing local dataset ``dataset_id`` (:func:`_local_hint`)."""
    return _local_hint(R.get_info(dataset_id), root)


def misnamed_local_folder(dataset_id: str, root=None) -> str | None:
    """For the local id ``dataset_id`` whose name is that of a saved folder no id loads (``local/mydata``
    while ``<data root>/local/mydata`` has no ``-vN``, so the id names ``mydata-v0``): that the folder is
    there, why its id does not load it and how to rename it (:func:`~offrl.datasets.registry.local_dir_rename_hint`);
    else None."""
    folder = R.data_root(root) / "local" / R.parse_id(dataset_id)[1]
    why = dict(R.unloadable_local_dirs(root)).get(folder)
    return f"{folder} holds a dataset, but {why}" if why else None


def _local_hint(info: R.DatasetInfo, root) -> str:
    """How to get the missing local dataset ``info.id``: the rename that makes a saved folder of that name
    loadable (:func:`misnamed_local_folder`), the collect command for a registered id (writing into ``root``
    where it is not the default data root), else the close matches among the local ids (a misspelt id is the
    likely cause) and where to list them."""
    if (misnamed := misnamed_local_folder(info.id, root)) is not None:
        return misnamed
    if info.id in R.DATASETS:
        return f"create it with `offrl collect {info.name.removesuffix('-v0')}{R.data_root_option(root)}`"
    if (n := quickstart_transitions(info.id)) is not None:
        from offrl.quickstart import ENV_LEVEL, QuickstartArgs

        if R.is_default_root(root):
            command = "offrl quickstart" + ("" if n == QuickstartArgs.transitions else f" --transitions {n}")
        else:  # the data alone, where they were looked for (`offrl quickstart --data-root` would train as well)
            command = f"offrl collect {ENV_LEVEL} --steps {n} --dataset-id {info.id}{R.data_root_option(root)}"
        return f"it is the quickstart's data ({n:,} transitions): `{command}` collects it"
    hint = "`offrl datasets list local/` shows the local ids that `offrl collect` makes"
    close = close_ids(info.id, R.list_datasets("local/") + R.saved_local_ids(root), n=3)
    return ("did you mean " + ", ".join(repr(c) for c in close) + "? " + hint) if close else hint


def _load_minari_id(info: R.DatasetInfo, *, root, download: bool, progress: bool) -> OfflineDataset:
    from offrl.datasets.minari_io import load_minari

    mid = info.options["minari_id"]
    for d in _minari_dirs(info, root)[:1]:
        ds = load_minari(d, dataset_id=info.id, progress=progress)
        ds.spec = _merge_spec(ds.spec, info)
        return ds
    if not download:
        # any Minari id may exist remotely, so an unregistered one is not refused; a close registered one
        # is the likelier meaning
        close = [] if info.id in R.DATASETS else close_ids(info.id, R.list_datasets("minari/"))
        raise OffrlError(f"{info.id} is not downloaded (looked in {', '.join(str(r) for r in R.minari_roots(root))}); "
                         + (f"did you mean {close[0]!r}? " if close else "")
                         + f"pass download=True or run `offrl datasets download {info.id}"
                         f"{R.data_root_option(root, '--root')}`")
    target = R.data_root(root) / "minari"
    _minari_download(mid, target)
    ds = load_minari(target / mid, dataset_id=info.id, progress=progress)
    ds.spec = _merge_spec(ds.spec, info)
    return ds


def _minari_download(mid: str, target: Path) -> None:
    from offrl.datasets.minari_io import _minari
    from offrl.errors import DownloadError

    minari = _minari()
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(target)
    try:
        minari.download_dataset(mid)
    except Exception as e:  # minari/huggingface raise many types; all mean "could not fetch"
        raise DownloadError(f"could not download Minari dataset {mid!r}: {type(e).__name__}: {e}") from None
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _local_file(info: R.DatasetInfo, rel: str, root) -> Path | None:
    for c in R.candidate_paths(info, rel, root):
        if c.exists():
            return c
    return None


def expected_checksum(info: R.DatasetInfo, rel: str, root=None) -> tuple[str | None, str]:
    """What a registered file is checked against: ``(checksum, "published")`` where the source
    publishes one, ``(checksum, "pinned")`` where offrl pinned the sha256 of its first download or
    load (:mod:`offrl.datasets.download`), else ``(None, "none")``."""
    from offrl.datasets.download import pinned_checksum

    published = next((c for r, _, c in info.files if r == rel), None)
    if published:
        return published, "published"
    pinned = pinned_checksum(rel, root)
    return (pinned, "pinned") if pinned else (None, "none")


PROGRESS_MIN_BYTES = 256 << 20
"""Checksumming gets a progress bar only for this many bytes or more: less takes well under a second, and
a bar that comes and goes in that time is only noise (or, where stderr is no terminal, a stray line)."""


def _bar_for(progress: bool, *files: Path) -> bool:
    """Whether checksumming ``files`` shows a progress bar: asked for, and enough bytes to take a while."""
    return progress and sum(f.stat().st_size for f in files if f.is_file()) >= PROGRESS_MIN_BYTES


INFO_CHECK_MAX_BYTES = 256 << 20
"""``offrl datasets info ID`` checks data on this machine against their checksums when they take at most this
many bytes (well under a second to read); larger data are left to ``offrl datasets verify``, and ``info``
says they were not checked."""


@dataclasses.dataclass
class RecordedCheck:
    """What :func:`check_recorded` compared and what it found."""

    checked: str | None
    """what was compared with which checksum, e.g. ``its files against the sha256 checksums in offrl.json``;
    None when no checksum is recorded with the data."""
    problems: list[str]
    """one line per file that does not match (each names its file); empty when all match."""
    native: bool = False
    """the data are offrl's native format, whose manifest checksums every file of the dataset."""
    digests: dict[Path, str] = dataclasses.field(default_factory=dict)
    """the checksum computed of each file read for the check (``"<algo>:<hex>"``, keyed by its path as
    checked), so that a caller that shows a file's checksum too does not read the file again."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """what could not be checked without being a problem: a native manifest written by an earlier offrl,
    which has no checksum of its own (:data:`offrl.datasets.native.NO_MANIFEST_CHECKSUM`)."""

    def integrity(self) -> str | None:
        """What :func:`info` says was checked (``checked: ...``, then the notes), None when nothing was."""
        return "; ".join([f"checked: {self.checked}", *self.notes]) if self.checked else None


def check_recorded(p: Path, *, sidecar: bool = True, progress: bool = False) -> RecordedCheck:
    """Check the dataset at path ``p`` against the checksums recorded with it, without loading it: a native
    dataset (``p`` its folder, its ``offrl.json`` or a file it lists): its manifest against the manifest's own
    checksum and its files against the sha256 of each in the manifest
    (:func:`~offrl.datasets.native.check_native`; a manifest of an earlier offrl, without a checksum of its
    own, is a note, not a problem), else, with ``sidecar``, a file against the ``<file>.sha256`` that offrl
    <= 0.1 wrote beside a download.

    This is the check :func:`verify` makes of a path and of native data, and :func:`info` makes before it
    describes them. A manifest that cannot be read is a problem, not an exception."""
    from offrl.atomic import check_digest
    from offrl.datasets.native import MANIFEST, check_native, native_folder_of

    folder = p if p.is_dir() else p.parent if p.name == MANIFEST or native_folder_of(p) is not None else None
    if folder is not None and (folder / MANIFEST).is_file():
        digests: dict[Path, str] = {}
        notes: list[str] = []
        try:
            native = check_native(folder, progress=_bar_for(progress, *folder.iterdir()))
            found, digests, notes = native.problems, native.digests, native.notes
        except DataIntegrityError as e:  # unreadable, or no offrl manifest: the dataset cannot be checked
            found = [str(e)]
        # worded as before the manifest checksummed itself; a manifest without that checksum is said in notes
        return RecordedCheck(f"its files against the sha256 checksums in {MANIFEST}", found, native=True,
                             digests=digests, notes=notes)
    side = p.with_name(p.name + ".sha256")
    if sidecar and side.is_file() and p.is_file():
        want = side.read_text().strip()
        ok, got = check_digest(p, want, progress=_bar_for(progress, p))
        return RecordedCheck(f"the file against the checksum in {side.name}",
                             [] if ok else [f"{p}: checksum {got} does not match {want} (recorded in {side})"],
                             digests={p: got})
    return RecordedCheck(None, [])


def _size_text(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


def _id_integrity(i: R.DatasetInfo, root, max_bytes: float) -> str:
    """Check the data of the id ``i`` on this machine against their checksums as :func:`verify` does, when
    they take at most ``max_bytes``, without pinning anything; returns what :func:`info` says was checked.

    Raises:
      DataIntegrityError: a file does not match its checksum (for local data, with the command that makes
        them again).
    """
    verify_cmd = f"`offrl datasets verify {i.id}`"
    if i.source == "minari":
        return f"not checked: Minari data record no checksum ({verify_cmd} checks that they load)"
    if i.source == "local" or not i.files:
        d = R.local_dataset_dir(i.id, root) if i.source == "local" else R.data_root(root) / i.source / i.name
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file()) if d.is_dir() else 0
        if size > max_bytes:
            return _not_checked(size, max_bytes, verify_cmd)
        recorded = check_recorded(d, sidecar=False)
        if recorded.problems:
            hint = f". {damaged_local_hint(i.id, root)}" if i.source == "local" else ""
            raise DataIntegrityError("; ".join(recorded.problems) + hint)
        return recorded.integrity() or \
            f"not checked: no checksum is recorded with these data ({verify_cmd} checks that they load)"
    here = [(rel, p) for rel, _, _ in i.files if (p := _local_file(i, rel, root)) is not None and p.is_file()]
    size = sum(p.stat().st_size for _, p in here)
    if size > max_bytes:
        return _not_checked(size, max_bytes, verify_cmd)
    kinds = {rel: expected_checksum(i, rel, root)[1] for rel, _ in here}
    if "none" in kinds.values():  # checking them now would pin them: that is verify's (or load's) to do
        return f"not checked: no checksum is known for its files yet ({verify_cmd} pins their sha256)"
    for rel, p in here:
        check_file(i, rel, p, root=root, quarantine=False)
    how = "their published checksums" if set(kinds.values()) == {"published"} else \
        "the checksums published or pinned at their first download or load"
    return f"checked: its files against {how}"


def _not_checked(size: int, max_bytes: float, verify_cmd: str) -> str:
    if max_bytes <= 0:
        return f"not checked ({verify_cmd} checks it)"
    return f"not checked: {_size_text(size)}, more than info reads ({verify_cmd} checks it)"


def _pin_mismatch(info: R.DatasetInfo, rel: str, p: Path, got: str, pinned: str, root) -> DataIntegrityError:
    from offrl.datasets.download import pins_path

    return DataIntegrityError(
        f"{p} has changed since it was first seen here: its sha256 is {got.partition(':')[2]}, the checksum "
        f"pinned for {rel} at its first download or load is {pinned.partition(':')[2]} ({pins_path(root)}). "
        f"If the change is expected (e.g. a new upstream file), accept it with `offrl datasets verify "
        f"{info.id} --repin{R.data_root_option(root, '--root')}`; otherwise delete the file and download it again")


def check_file(info: R.DatasetInfo, rel: str, p: Path, *, root=None, download: bool = False,
               progress: bool = False, repin: bool = False, quarantine: bool = True) -> str | None:
    """Check the registered file ``rel`` found at ``p`` against its checksum and return the
    checksum it matches (None for a directory). Without a published checksum, the first check pins
    the file's sha256 (trust on first use) and later checks compare with that pin; ``repin``
    replaces the pin by the file as it is now.

    A ``<file>.sha256`` that offrl 0.1 wrote beside a download serves as the pin of that file.

    Raises:
      DataIntegrityError: a published checksum does not match (the file is moved aside with
        ``quarantine``, else left) or the file differs from its pin (left in place, with how to
        re-pin or re-download).
    """
    from offrl.atomic import check_digest
    from offrl.datasets.download import move_aside, pin_checksum

    if not p.is_file():
        return None
    progress = _bar_for(progress, p)
    expected, how = expected_checksum(info, rel, root)
    if how == "published":
        ok, got = check_digest(p, expected, progress=progress)
        if not ok:
            msg = f"{p}: checksum {got} does not match the published {expected}"
            if not quarantine:
                raise DataIntegrityError(f"{msg}; delete it and run `offrl datasets download {info.id}"
                                         f"{R.data_root_option(root, '--root')}`")
            bad = move_aside(p, f"checksum {got} != published {expected}")
            raise DataIntegrityError(f"{msg}; moved aside to {bad}." + (
                f" Download it again with download=True or `offrl datasets download {info.id}"
                f"{R.data_root_option(root, '--root')}`"
                if not download else ""))
        return expected
    side = p.with_name(p.name + ".sha256")
    if how == "none" and not repin and side.is_file():
        recorded = side.read_text().strip()
        ok, got = check_digest(p, recorded, progress=progress)
        if not ok:
            raise DataIntegrityError(f"{p} has changed since it was downloaded: checksum {got}, recorded "
                                     f"{recorded} in {side}. Accept it as it is with `offrl datasets verify "
                                     f"{info.id} --repin`, or delete it and download it again")
        return pin_checksum(rel, p, root=root, checksum=got if got.startswith("sha256:") else None,
                            progress=progress, source=str(side))
    if how == "none" or repin:
        return pin_checksum(rel, p, root=root, progress=progress,
                            source=next((u for r, u, _ in info.files if r == rel), None) or str(p))
    ok, got = check_digest(p, expected, progress=progress)
    if not ok:
        raise _pin_mismatch(info, rel, p, got, expected, root)
    return expected


def ensure_files(info: R.DatasetInfo, *, root=None, download: bool = False, verify: bool = True,
                 progress: bool = True) -> list[Path]:
    """Paths of a registered dataset's files, downloading missing ones when ``download``.

    Files already sitting in the source's own cache (``$D4RL_DATASET_DIR``, ``~/.neorl2/datasets``)
    are used in place. Archives (D5RL zips) are unpacked next to themselves. With ``verify`` every
    file is checked by :func:`check_file` (published checksum, or the sha256 pinned at its first
    download or load).
    """
    from offrl.datasets.download import download as fetch

    if not info.files:
        d = R.data_root(root) / info.source / info.name
        if d.exists():
            return [d]
        if info.source == "uav":  # made on this machine, never downloaded
            o = info.options
            raise OffrlError(f"{info.id} is not on this machine (looked in {d}); make it with "
                             f"`{R.uav_make_command(o['level'], o['preset'])}`")
        raise OffrlError(f"{info.id} has no download URL; put its files in {d} or load their path directly")
    out = []
    for rel, url, _ in info.files:
        p = _local_file(info, rel, root)
        if p is not None and verify:
            try:
                check_file(info, rel, p, root=root, download=download, progress=progress)
            except DataIntegrityError:
                if not download or p.exists():  # a file that differs from its pin is not replaced silently
                    raise
                p = None  # a published checksum failed: the file was moved aside, fetch it again
        if p is None:
            if not download:
                raise OffrlError(f"{info.id} is not downloaded (expected {R.data_root(root) / rel}); pass "
                                 f"download=True or run `offrl datasets download {info.id}"
                                 f"{R.data_root_option(root, '--root')}`")
            expected, how = expected_checksum(info, rel, root)
            try:
                p = fetch(url, R.data_root(root) / rel, checksum=expected, progress=progress,
                          pin_as=rel if how == "none" else None, root=root)
            except DataIntegrityError as e:
                if how != "pinned":
                    raise
                from offrl.datasets.download import pins_path

                raise DataIntegrityError(
                    f"{e}. That checksum was pinned for {rel} at its first download here; if the upstream "
                    f"file has changed, delete the {rel!r} entry of {pins_path(root)} and download again "
                    "(the new file is then pinned)") from None
        if info.options.get("archive"):
            p = _unpack(p)
        out.append(p)
    return out


def _unpack(archive: Path) -> Path:
    """Unzip ``x.zip`` into directory ``x/`` (atomically, refusing paths that escape it)."""
    from offrl.atomic import atomic_dir

    if archive.is_dir():
        return archive
    dest = archive.with_suffix("")
    if dest.is_dir():
        return dest
    try:
        with zipfile.ZipFile(archive) as z, atomic_dir(dest) as tmp:
            for m in z.infolist():
                target = (tmp / m.filename).resolve()
                if not str(target).startswith(str(tmp.resolve()) + os.sep) and target != tmp.resolve():
                    raise DataIntegrityError(f"{archive}: member {m.filename!r} escapes the archive")
            z.extractall(tmp)
    except zipfile.BadZipFile as e:
        raise DataIntegrityError(f"{archive}: corrupt zip ({e})") from None
    return dest


# ---------------------------------------------------------------------------- save
def save(ds: OfflineDataset, path_or_id: str | os.PathLike, format: str = "offrl", *,
         overwrite: bool = False, data_format: str = "hdf5", root: str | os.PathLike | None = None,
         **kw: Any) -> Path:
    """Write ``ds``; returns the path written. Every format is written atomically.

    * ``format="offrl"``: native directory (``offrl.json`` + ``data.h5``) with checksums. A
      ``local/<name>`` id writes to :func:`~offrl.datasets.registry.local_dataset_dir`.
    * ``format="minari"``: a Minari dataset (``data_format`` ``"hdf5"`` or ``"arrow"``). A path
      writes ``<path>/data/...``; a Minari id (``namespace/name-vN`` or ``minari/namespace/name-vN``)
      writes under Minari's root (``$MINARI_DATASETS_PATH``), where ``minari.load_dataset`` finds it.
    * ``format="d4rl"``: one D4RL-layout HDF5 file (terminals = terminations, timeouts = truncations).
    """
    s = os.fspath(path_or_id)
    if format not in ("offrl", "minari", "d4rl"):
        raise ConfigError(f"unknown save format {format!r}; choose 'offrl', 'minari' or 'd4rl'")
    try:
        if format == "offrl":
            from offrl.datasets.native import save_native

            p = R.local_dataset_dir(s, root) if s.startswith("local/") else Path(s).expanduser()
            _refuse_existing(p, overwrite)
            return save_native(ds, p, overwrite=overwrite, **kw)
        if format == "minari":
            from offrl.datasets.minari_io import ensure_namespace_metadata, save_minari

            mid = _as_minari_id(path_or_id)
            if mid is not None:
                root_dir = R.minari_write_root()
                _refuse_existing(root_dir / mid, overwrite)
                ensure_namespace_metadata(root_dir, mid)
                return save_minari(ds, root_dir / mid, dataset_id=mid, data_format=data_format, overwrite=overwrite,
                                   **kw)
            p = Path(s).expanduser().absolute()
            _refuse_existing(p, overwrite)
            mid = kw.pop("dataset_id", None) or _minari_id_for_path(p)
            if "/" in mid and p.as_posix().endswith("/" + mid):
                ensure_namespace_metadata(p.parents[len(mid.split("/")) - 1], mid)
            return save_minari(ds, p, dataset_id=mid, data_format=data_format, overwrite=overwrite, **kw)
        from offrl.datasets.d4rl import save_d4rl

        p = Path(s).expanduser()
        _refuse_existing(p, overwrite)
        return save_d4rl(ds, p, **kw)
    except OSError as e:
        # an unwritable destination (missing or read-only parent, disk full ...) fails deep inside the
        # writers, often on a temporary name beside it: say which destination could not be written
        raise OffrlError(f"cannot write {s}: {e}") from None


def _refuse_existing(p: Path, overwrite: bool) -> None:
    """Refuse to replace ``p`` without ``overwrite``, naming both ways to ask for it (API and CLI)."""
    if p.exists() and not overwrite:
        raise OffrlError(f"{p} already exists; pass overwrite=True (`--overwrite` on the command line) "
                         "to replace it")


def _as_minari_id(path_or_id: str | os.PathLike) -> str | None:
    """The Minari id meant by a save target, or None when it is a path.

    ``minari/<ns>/<name>-vN`` is always an id; a plain string ``<ns>/<name>-vN`` (relative, no
    ``.``/``~`` prefix, versioned) is an id too. ``pathlib.Path`` objects are always paths.
    """
    if not isinstance(path_or_id, str):
        return None
    s = path_or_id
    if s.startswith("minari/"):
        s = s[len("minari/"):]
    elif s.startswith((".", "~", "/")) or os.path.isabs(s) or os.path.exists(s):
        return None
    m = R.MINARI_ID.match(s)
    return s if m is not None and m.group("version") is not None else None


def _minari_id_for_path(p: Path) -> str:
    """A path under Minari's root is named by its relative path (so ``minari.load_dataset`` agrees)."""
    root = R.minari_write_root().expanduser().absolute()
    try:
        rel = p.relative_to(root).as_posix()
        if R.MINARI_ID.match(rel) or "/" not in rel:
            return rel
    except ValueError:
        pass
    name = re.sub(r"[^-_\w]", "_", p.name)
    return f"offrl/{name if re.search(r'-v[0-9]+$', name) else name + '-v0'}"


# ---------------------------------------------------------------------------- scores and info
def normalized_score(dataset_id: str | DatasetSpec | OfflineDataset, returns) -> np.ndarray:
    """100 * (R - ref_min) / (ref_max - ref_min) for a registered id, a spec or a loaded dataset."""
    if isinstance(dataset_id, OfflineDataset):
        dataset_id = dataset_id.spec
    if isinstance(dataset_id, DatasetSpec):
        spec = dataset_id
        if spec.ref_min is not None and spec.ref_max is not None:
            return normalize_returns(returns, spec.ref_min, spec.ref_max)
        if spec.id in R.DATASETS or spec.id.startswith("minari/"):
            return normalized_score(spec.id, returns)
        raise DataIntegrityError(f"dataset {spec.id!r} has no reference scores to normalise with")
    info = R.get_info(dataset_id)
    lo, hi = info.ref_min, info.ref_max
    if (lo is None or hi is None) and info.source == "minari":
        facts = _minari_facts(info)
        lo, hi = facts.get("ref_min"), facts.get("ref_max")
    if lo is None or hi is None:
        hint = (" (offrl/assets/policies/<env>/reference.json, written by the collection work, is not "
                "shipped yet)" if info.source == "local" else "")
        raise DataIntegrityError(f"dataset {dataset_id!r} has no reference scores{hint}")
    return normalize_returns(returns, lo, hi)


def _minari_facts(info: R.DatasetInfo, root=None) -> dict[str, Any]:
    """:func:`~offrl.datasets.minari_io.metadata_facts` of the copy of the Minari dataset ``info`` that
    :func:`load` reads (its ``metadata.json`` only); empty when none is here."""
    from offrl.datasets.minari_io import metadata_facts, read_metadata

    for d in _minari_dirs(info, root)[:1]:
        meta = read_metadata(d)
        return metadata_facts(meta) if meta is not None else {}
    return {}


def _native_facts(d: Path) -> dict[str, Any]:
    """What the manifest of the native dataset ``d`` says of it (the spec :func:`load` starts from), read
    without its arrays: env, reference scores, time limit, the columns of its rows and its array
    checksum; empty when ``d`` holds no readable manifest."""
    from offrl.datasets.native import read_manifest

    try:  # one read: a folder without a readable manifest of this offrl's version says nothing
        spec = read_manifest(d).get("spec") or {}
    except DataIntegrityError:
        return {}

    def width(shape):
        return int(np.prod(shape, dtype=np.int64)) if isinstance(shape, list) else None

    return {"env_id": spec.get("env_id"), "ref_min": spec.get("ref_min"), "ref_max": spec.get("ref_max"),
            "max_episode_steps": spec.get("max_episode_steps"), "obs_dim": width(spec.get("obs_shape")),
            "act_dim": width(spec.get("action_shape")), "checksum": spec.get("checksum")}


def is_present(dataset_id: str, root=None) -> bool:
    """Whether the data of ``dataset_id`` is already on this machine."""
    info = R.get_info(dataset_id)
    if info.source == "local":
        return R.local_dataset_dir(dataset_id, root).exists()
    if info.source == "minari":
        return bool(_minari_dirs(info, root))
    if not info.files:
        return (R.data_root(root) / info.source / info.name).exists()
    return all(_local_file(info, rel, root) is not None for rel, _, _ in info.files)


def missing_files(dataset_id: str, root=None) -> list[tuple[Path, str]]:
    """The files of a downloadable dataset that are not on this machine: ``(path, url)`` each, ``path``
    being where :func:`load` reads it first (``<data root>/<source>/<file>``), so that a file got some
    other way (another machine's download, a browser) can be put exactly there. Empty for a dataset
    without download URLs (``local/*``, Minari, data made on this machine) or one whose files are all here."""
    info = R.get_info(dataset_id)
    return [(R.data_root(root) / rel, url) for rel, url, _ in info.files
            if url and _local_file(info, rel, root) is None]


def missing_data_lines(sources: list[str], root: str | None = None) -> list[str]:
    """For each absent dataset: one line naming the missing files and the command that gets them (into the
    data root ``root``, default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``; a root that cannot be a folder is
    named instead, as no command can write there)."""
    lines = []
    unusable = R.data_root_problem(root, write=False)
    for source in sources:
        if not is_registry_id(source, root):
            if not Path(source).expanduser().exists():
                lines.append(f"{source}: no such file or directory")
            continue
        try:
            found = info(source, root)
        except OffrlError as e:
            lines.append(f"{source}: {e}")
            continue
        if found["present"]:
            continue
        paths = ", ".join(found["paths"] or found.get("looked_in", [])) or "(no local path)"
        if unusable:
            lines.append(f"{source}: missing {paths}; its data root {R.data_root(root)} {unusable}")
        elif found["source"] != "local":
            lines.append(f"{source}: missing {paths}; get it with "
                         f"`offrl datasets download {source}{R.data_root_option(root, '--root')}`")
        elif source in R.DATASETS:
            lines.append(f"{source}: missing {paths}; create it with "
                         f"`offrl collect {R.parse_id(source)[1].removesuffix('-v0')}{R.data_root_option(root)}`")
        else:
            close = close_ids(source, R.DATASETS.names())
            lines.append(f"{source}: missing {paths}; "
                         + (f"did you mean {close[0]!r}? If it is " if close else "")
                         + f"a dataset of your own: write it there with offrl.datasets.save(dataset, {source!r}"
                         + ("" if R.is_default_root(root) else f", root={str(R.data_root(root))!r}") + ")")
    return lines


def info(source: str | os.PathLike, root=None, *, check_max_bytes: float = 0) -> dict[str, Any]:
    """What is known about a registry id or a dataset path, without loading the data of an id.

    For an id: env id, reference scores, URLs, checksums, local presence and paths. ``checksum`` is
    the published checksum, else the sha256 pinned at the first download or load of the file, else
    (local datasets) the array checksum of the native manifest; ``checksum_source`` says which, or
    that none is known yet. For a path (anything :func:`load` and :func:`verify` accept): its
    detected format, a file's sha256 and, when it loads without pickle, its spec and size.

    ``integrity`` (for data on this machine) says what was checked. A path is always checked first
    against the checksums recorded with it, as :func:`verify` checks it (:func:`check_recorded`; its
    facts come from reading all of it anyway). The data of an id are checked the same way (files with
    a published or pinned checksum, native data against their manifest) only when they take at most
    ``check_max_bytes`` (default 0: never, so that listing many ids stays quick; ``offrl datasets info``
    gives :data:`INFO_CHECK_MAX_BYTES`); otherwise ``integrity`` says they were not checked and which
    command checks them. Nothing is pinned here.

    Data on this machine that describe themselves (a native manifest: ``local/``, ``uav/``; a Minari
    ``metadata.json``) give env id, reference scores, time limit and ``obs_dim``/``act_dim`` as
    :func:`load` would, read without the arrays; the registry fills what they leave out. ``paths``
    of a Minari id are the folders that hold it (the first is what :func:`load` reads); when it is
    absent they are empty and ``looked_in`` lists the folders searched. Other ids list the path their
    data are read from, or, absent, where they would be put.

    Raises:
      DataIntegrityError: the data checked do not match their checksums (or a native manifest cannot
        be read), so that no fact of damaged data is given as sound.
    """
    s = os.fspath(source)
    if not is_registry_id(source, root):
        p = Path(s).expanduser()
        if not p.exists():
            if "/" not in s and not s.endswith((".hdf5", ".h5", ".npz", ".npy", ".pkl")):
                raise UnknownIdError("dataset", s, R.DATASETS.names())
            raise OffrlError(f"{p}: no such file or directory")
        return _path_info(p)
    i = R.get_info(s)
    checksums: list[str | None] = list(i.checksums)
    checksum_source = "published" if any(checksums) else None
    found: dict[str, Any] = {}  # what the data here say of themselves (load's spec before the registry's gaps)
    more: dict[str, Any] = {}
    if i.source == "local" or (i.source != "minari" and not i.files):  # data made on this machine (collect,
        # offrl uav datasets): one folder, where they are or would be
        d = R.local_dataset_dir(s, root) if i.source == "local" else R.data_root(root) / i.source / i.name
        paths = [str(d)]
        found = _native_facts(d)
        if found:
            checksums = [found.get("checksum")]
            checksum_source = "array checksum in the native manifest"
    elif i.source == "minari":
        here = _minari_dirs(i, root)
        paths = [str(d) for d in here]
        if here:
            found = _minari_facts(i, root)
        else:
            more["looked_in"] = [str(r / i.options["minari_id"]) for r in R.minari_roots(root)]
    else:
        paths = [str(_local_file(i, rel, root) or R.data_root(root) / rel) for rel, _, _ in i.files]
        if i.files and not any(checksums):
            from offrl.datasets.download import pins_path

            checksums = [expected_checksum(i, rel, root)[0] for rel, _, _ in i.files]
            checksum_source = (f"pinned at first download or load ({pins_path(root)})" if any(checksums) else
                               "none published; the sha256 of the first download is pinned and checked on every "
                               "later load")
    facts = {k: found[k] if found.get(k) is not None else getattr(i, k)
             for k in ("env_id", "ref_min", "ref_max", "max_episode_steps", "obs_dim", "act_dim")}
    present = is_present(s, root)
    if present:
        more["integrity"] = _id_integrity(i, root, check_max_bytes)
    return {"id": i.id, "source": i.source, **facts,
            "urls": i.urls, "checksums": checksums, "checksum": next((c for c in checksums if c), None),
            "checksum_source": checksum_source, "present": present,
            "paths": paths, **more, "format": i.format, "description": i.description}


def _path_info(p: Path) -> dict[str, Any]:
    """:func:`info` of a file or directory: format, and the spec when it loads without pickle."""
    from offrl.errors import UnsafeFileError

    from offrl.atomic import file_digest

    fmt = detect_format(p)
    recorded = check_recorded(p)
    if recorded.problems:
        raise DataIntegrityError(f"{p} is damaged or was changed after its checksums were recorded: "
                                 f"{'; '.join(recorded.problems)}")
    out: dict[str, Any] = {"id": None, "source": "path", "format": fmt, "present": True, "paths": [str(p)],
                           "integrity": recorded.integrity() or
                           "loads; no checksum is recorded with it to check it against"}
    if p.is_file():
        # the check above may have hashed it already (a .sha256 sidecar, or a file the manifest lists)
        known = recorded.digests.get(p)
        out["sha256"] = known if known is not None and known.startswith("sha256:") else file_digest(p)
    try:
        ds = load_path(p, verify=False)
    except UnsafeFileError as e:
        out["note"] = str(e)
        if not recorded.checked:
            out["integrity"] = (f"not checked: pickle data are opened only on request (`offrl datasets verify {p} "
                                "--allow-pickle` checks that they load)")
        return out
    spec = ds.spec
    out.update({"id": spec.id, "env_id": spec.env_id, "ref_min": spec.ref_min, "ref_max": spec.ref_max,
                "max_episode_steps": spec.max_episode_steps, "obs_shape": list(spec.obs_shape),
                "action_shape": list(spec.action_shape), "transitions": len(ds), "episodes": ds.num_episodes,
                "checksum": spec.checksum})
    return out


def download_dataset(dataset_id: str, *, root=None, progress: bool = True) -> list[Path]:
    """Fetch a registered dataset's files into the cache (verified); returns their paths."""
    i = R.get_info(dataset_id)
    if i.source == "local":
        raise OffrlError(f"{dataset_id} is collected locally, not downloaded: run "
                         f"`offrl collect {i.name.removesuffix('-v0')}{R.data_root_option(root)}`")
    if i.source == "minari":
        here = _minari_dirs(i, root)
        if here:
            return here[:1]
        target = R.data_root(root) / "minari"
        _minari_download(i.options["minari_id"], target)
        return [target / i.options["minari_id"]]
    return ensure_files(i, root=root, download=True, progress=progress)


@dataclasses.dataclass
class DownloadOutcome:
    """What :func:`download_datasets` got and could not get."""

    paths: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    """dataset id -> its files, for each dataset downloaded (or found complete)."""
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    """dataset id -> why its download failed, for failures other than an unreachable host."""
    unreachable: dict[str, str] = dataclasses.field(default_factory=dict)
    """host -> why it could not be connected to (said once, for all the host's files)."""
    not_tried: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """host -> the dataset ids not downloaded because that host was unreachable (the first one included)."""

    def not_got(self) -> dict[str, str]:
        """dataset id -> why it was not downloaded, for every dataset that was not."""
        why = dict(self.failed)
        for host, ids in self.not_tried.items():
            why.update({i: f"no connection to {host}" for i in ids})
        return why

    def notes(self) -> list[str]:
        """One line per unreachable host (empty when every host answered)."""
        lines = []
        for host, reason in self.unreachable.items():
            skipped = len(self.not_tried.get(host, [])) - 1
            lines.append(f"cannot download: no connection to {host} ({reason}; no network here?)"
                         + (f"; the {skipped} other download(s) from there were not tried" if skipped else ""))
        return lines


def download_datasets(dataset_ids: Sequence[str], *, root=None, progress: bool = True, out=None) -> DownloadOutcome:
    """Download each of ``dataset_ids`` (:func:`download_dataset`), going on after a failure; a host that
    cannot be connected to at all (no network, a name that does not resolve) is not asked again for its
    other files, each of which would fail the same way after its own timeout. ``out``: where to write one
    line per download started (none when not given)."""
    from offrl.datasets.download import NoConnectionError

    outcome = DownloadOutcome()
    for dataset_id in dict.fromkeys(dataset_ids):
        try:
            files = missing_files(dataset_id, root)
        except OffrlError as e:  # an unknown id
            outcome.failed[dataset_id] = str(e)
            continue
        host = urlsplit(files[0][1]).netloc if files else ""
        if host and host in outcome.unreachable:
            outcome.not_tried[host].append(dataset_id)
            continue
        if out is not None and (files or not is_present(dataset_id, root)):
            print(f"downloading {dataset_id} (`offrl datasets download {dataset_id}"
                  f"{R.data_root_option(root, '--root')}`)", file=out, flush=True)
        try:
            outcome.paths[dataset_id] = download_dataset(dataset_id, root=root, progress=progress)
        except NoConnectionError as e:
            outcome.unreachable[host] = e.reason
            outcome.not_tried[host] = [dataset_id]
        except OffrlError as e:
            outcome.failed[dataset_id] = str(e)
    return outcome


class Problems(list):
    """:func:`verify`'s result: the problems found, one string each (an empty list when all is well), and
    in ``notes`` what was noticed without being a problem (a native manifest written by an earlier offrl,
    which has no checksum of its own to check it against)."""

    def __init__(self, problems=(), notes=()):
        super().__init__(problems)
        self.notes: list[str] = list(notes)


def verify(source: str | os.PathLike, *, root=None, progress: bool = False, repin: bool = False,
           allow_pickle: bool = False) -> Problems:
    """Check a dataset's files against their checksums and that it loads; returns the problems
    (empty = ok), a list whose ``notes`` say what was not checked without being a problem (:class:`Problems`).

    ``source`` is a registry id or a path (as for :func:`load`). Registered files are checked by
    :func:`check_file`: against the published checksum, or the sha256 pinned at their first download
    or load (pinned now if this is their first use); nothing is moved or deleted. ``repin=True``
    accepts the files of an id as they are now (after an expected upstream change) by re-pinning
    them. Problems about ``source`` itself do not repeat its path; problems about a file it stands
    for name that file.

    A pickle format (D5RL WidowX/A1) is only opened with ``allow_pickle=True`` (through the same
    allow-list as :func:`load`). Without it a registered id's files are verified by their pinned
    checksums alone; a pickle file given by path cannot be checked and is reported as not verified,
    which is a problem.

    A native dataset's manifest is checked against its own checksum too; one that does not match is a
    problem naming ``offrl.json`` (for a local id, with the command that makes the data again), one written
    by an earlier offrl without that checksum is a note.
    """
    from offrl.errors import UnsafeFileError

    s = os.fspath(source)
    is_id = is_registry_id(source, root)
    if repin and not is_id:
        raise ConfigError(f"--repin applies to registry ids (their pinned checksums), not to the path {s!r}")
    problems: list[str] = []
    notes: list[str] = []
    targets: list[Path] = []
    if is_id:
        i = R.get_info(s)
        if i.source == "local":
            d = R.local_dataset_dir(s, root)
            if d.exists():
                targets = [d]
            else:
                problems.append(f"not on this machine (looked in {d}); {_local_hint(i, root)}")
        elif i.source == "minari":
            targets = [r / i.options["minari_id"] for r in R.minari_roots(root) if (r / i.options["minari_id"]).exists()]
            if not targets:
                problems.append(f"not on this machine (looked in {', '.join(str(r) for r in R.minari_roots(root))})")
        else:
            for rel, _, _ in i.files:
                p = _local_file(i, rel, root)
                if p is None:
                    problems.append(f"not downloaded (expected at {R.data_root(root) / rel}; "
                                    f"`offrl datasets download {s}{R.data_root_option(root, '--root')}`)")
                    continue
                try:
                    check_file(i, rel, p, root=root, progress=progress, repin=repin, quarantine=False)
                except DataIntegrityError as e:
                    problems.append(str(e))
                    continue
                targets.append(p)
            if not i.files:
                d = R.data_root(root) / i.source / i.name
                targets, problems = ([d], problems) if d.exists() else ([], [f"not on this machine (looked in {d})"])
    else:
        p = Path(s).expanduser()
        if not p.exists():
            return Problems(["no such file or directory"])
        targets = [p]

    def about(p: Path, message: str) -> str:
        # the CLI prints "FAIL <source>: <problem>": name the path only where it is not the source
        prefix = f"{p}: "
        if not is_id and p == Path(s).expanduser():
            return message[len(prefix):] if message.startswith(prefix) else message
        return message if str(p) in message else prefix + message

    for p in targets:
        # an id's registered files were checked above (check_file reads their .sha256 too)
        recorded = check_recorded(p, sidecar=not is_id, progress=progress)
        found = [about(p, m) for m in recorded.problems]
        notes += recorded.notes
        if recorded.native:  # the manifest's checksums cover every byte: nothing more to learn by loading
            if found and is_id and i.source == "local":
                found.append(damaged_local_hint(s, root))
            problems += found
            continue
        if found:
            problems += found
            continue
        try:
            load(s if is_id else p, root=root, verify=False, allow_pickle=allow_pickle)
        except UnsafeFileError as e:
            if allow_pickle:  # refused by the allow-list
                problems.append(about(p, str(e)))
            elif is_id and i.files:
                pass  # a registered file whose bytes matched its pinned checksum above: verified, not unpickled
            else:  # never unpickled without the opt-in, so it is unchecked: never report it as ok
                problems.append(about(p, f"{p}: not verified: its data is stored with pickle, which is only "
                                         "opened with allow_pickle=True (`--allow-pickle` on the command line)"))
        except OffrlError as e:
            problems.append(about(p, str(e)))
    return Problems(problems, notes)


def convert(source: str | os.PathLike, dest: str | os.PathLike, format: str = "offrl", *,
            root=None, overwrite: bool = False, **load_kw: Any) -> Path:
    """Load ``source`` (id or path) and save it in ``format`` at ``dest``."""
    ds = load(source, root=root, **load_kw)
    return save(ds, dest, format=format, overwrite=overwrite)
