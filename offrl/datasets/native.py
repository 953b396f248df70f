"""offrl's own on-disk format: a directory with ``data.h5`` (the six arrays + ``infos/*``) and
``offrl.json`` (format tag, ``spec.to_dict()``, metadata, sha256 of ``data.h5``).

Written atomically (built under a hidden temporary name beside the target, then renamed), so a
reader never sees half a dataset; :func:`load_native` checks the file checksum and the array
checksum recorded in the spec.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from offrl.atomic import atomic_dir, check_digest, file_digest
from offrl.datasets.core import ARRAY_KEYS, DatasetSpec, OfflineDataset, array_checksum
from offrl.errors import DataIntegrityError

FORMAT_TAG = "offrl-dataset"
FORMAT_VERSION = 1
MANIFEST = "offrl.json"
DATA_FILE = "data.h5"


def _tagged_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder``, read once and parsed, that carries offrl's format tag (its version is
    not checked: :func:`read_manifest` does that).

    Raises:
      DataIntegrityError: it cannot be read or parsed, or is no offrl dataset manifest.
    """
    p = folder / MANIFEST
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise DataIntegrityError(f"{p}: unreadable manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT_TAG:
        raise DataIntegrityError(f"{p}: not an offrl dataset manifest")
    return m


def _check_version(m: dict[str, Any], folder: Path) -> None:
    if m.get("version", 0) > FORMAT_VERSION:
        raise DataIntegrityError(f"{folder / MANIFEST}: format version {m['version']} is newer than this offrl "
                                 f"reads ({FORMAT_VERSION}); upgrade offrl")


def is_native(path: str | os.PathLike) -> bool:
    """True when ``path`` is a directory holding an offrl manifest."""
    folder = Path(path)
    if not (folder / MANIFEST).is_file():
        return False
    try:
        _tagged_manifest(folder)
    except DataIntegrityError:
        return False
    return True


def native_claim(path: str | os.PathLike) -> tuple[Path | None, DataIntegrityError | None]:
    """The offrl dataset folder that ``path`` is or belongs to, found from one read of the manifest:
    ``(folder, None)`` for a folder with an offrl manifest, that manifest, or a file the manifest lists
    (e.g. its ``data.h5``, read, described and checked as its folder); ``(None, error)`` for a folder or
    an ``offrl.json`` whose manifest cannot be read as one (``error`` says what is wrong); else
    ``(None, None)`` (a file beside a damaged manifest is left to be recognised by its content)."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    if not (folder / MANIFEST).is_file():
        return None, None
    try:
        m = _tagged_manifest(folder)
    except DataIntegrityError as e:
        return (None, e) if folder == p or p.name == MANIFEST else (None, None)
    if folder == p or p.name == MANIFEST:
        return folder, None
    try:  # a file is claimed only by a manifest this offrl reads
        _check_version(m, folder)
    except DataIntegrityError:
        return None, None
    return (folder, None) if p.name in m.get("files", {}) else (None, None)


def native_folder_of(path: str | os.PathLike) -> Path | None:
    """The offrl dataset folder that the file ``path`` belongs to (its manifest, or a file the manifest
    lists, e.g. its ``data.h5``), else None: such a file is read, described and checked as its folder."""
    p = Path(path)
    return native_claim(p)[0] if p.is_file() else None


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def save_native(ds: OfflineDataset, path: str | os.PathLike, *, overwrite: bool = False,
                metadata: dict[str, Any] | None = None, extra_files: dict[str, str] | None = None) -> Path:
    """Write ``ds`` in the native format at ``path`` (a directory), atomically.

    ``extra_files`` (file name -> text, e.g. a dataset card) are written into the same directory
    before it appears and checksummed in the manifest like ``data.h5``: the directory is there
    with all of them or not at all, and ``verify`` notices a file changed afterwards.
    """
    import h5py

    path = Path(path)
    ds.validate()
    checksum = ds.checksum()
    spec = dataclasses.replace(ds.spec, checksum=checksum)
    extra_files = dict(extra_files or {})
    for name in extra_files:
        if name in (DATA_FILE, MANIFEST) or Path(name).name != name or name.startswith("."):
            raise ValueError(f"extra file name {name!r}: a plain file name other than {DATA_FILE} and {MANIFEST}")
    with atomic_dir(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp / DATA_FILE, "w") as f:
            for k in ARRAY_KEYS:
                f.create_dataset(k, data=getattr(ds, k))
            for k, a in ds.infos.items():
                f.create_dataset(f"infos/{k}", data=np.asarray(a))
        for name, text in extra_files.items():
            (tmp / name).write_text(text)
        manifest = {
            "format": FORMAT_TAG, "version": FORMAT_VERSION, "spec": _jsonable(spec.to_dict()),
            "metadata": _jsonable({**ds.metadata, **(metadata or {})}), "transitions": len(ds),
            "files": {name: file_digest(tmp / name) for name in (DATA_FILE, *extra_files)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=True))
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``offrl.json`` of the dataset folder ``path``.

    Raises:
      DataIntegrityError: it cannot be read, is no offrl dataset manifest, or is of a newer format version.
    """
    folder = Path(path)
    m = _tagged_manifest(folder)
    _check_version(m, folder)
    return m


def verify_native(path: str | os.PathLike, *, progress: bool = False) -> list[str]:
    """Problems found in a native dataset directory (empty list when it is intact)."""
    return check_native_files(path, progress=progress)[0]


def check_native_files(path: str | os.PathLike, *, progress: bool = False) -> tuple[list[str], dict[Path, str]]:
    """:func:`verify_native`'s problems, and the checksum computed of each file it read (``"<algo>:<hex>"``,
    keyed by ``path / name``), so that a caller that also shows a file's checksum does not read it again.

    Raises:
      DataIntegrityError: the manifest cannot be read (:func:`read_manifest`).
    """
    path = Path(path)
    problems, digests = [], {}
    m = read_manifest(path)
    for name, digest in m.get("files", {}).items():
        f = path / name
        if not f.is_file():
            problems.append(f"{f}: missing")
            continue
        ok, got = check_digest(f, digest, progress=progress)
        digests[f] = got
        if not ok:
            problems.append(f"{f}: checksum {got} does not match the manifest's {digest}")
    return problems, digests


def load_native(path: str | os.PathLike, *, verify: bool = True, dataset_id: str | None = None) -> OfflineDataset:
    """Read a native dataset directory; with ``verify`` the file and array checksums are checked."""
    import h5py

    path = Path(path)
    m = read_manifest(path)
    if verify:
        problems = verify_native(path)
        if problems:
            raise DataIntegrityError("; ".join(problems))
    try:
        with h5py.File(path / DATA_FILE, "r") as f:
            arrays = {k: f[k][:] for k in ARRAY_KEYS}
            infos = {k: f["infos"][k][:] for k in f["infos"]} if "infos" in f else {}
    except (OSError, KeyError) as e:
        raise DataIntegrityError(f"{path / DATA_FILE}: truncated or corrupt ({e})") from None
    if not len(arrays["rewards"]):
        raise DataIntegrityError(f"{path}: holds no transitions")
    spec = DatasetSpec.from_dict(m["spec"])
    if verify and spec.checksum and array_checksum(arrays) != spec.checksum:
        raise DataIntegrityError(f"{path}: array checksum does not match the manifest")
    if dataset_id is not None:
        spec = dataclasses.replace(spec, id=dataset_id)
    return OfflineDataset(**arrays, spec=spec, infos=infos, metadata=m.get("metadata", {}))
