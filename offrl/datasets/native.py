"""offrl's own on-disk format: a directory with ``data.h5`` (the six arrays + ``infos/*``) and
``offrl.json`` (format tag, ``spec.to_dict()``, metadata, sha256 of ``data.h5``, and the sha256 of the
manifest's own content in ``manifest_sha256``: :func:`manifest_checksum`).

Written atomically (built under a hidden temporary name beside the target, then renamed), so a
reader never sees half a dataset; :func:`load_native` checks the manifest against its own checksum, the
file checksums and the array checksum recorded in the spec.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
MANIFEST_CHECKSUM_KEY = "manifest_sha256"
"""The manifest field that holds the sha256 of the manifest's other fields (:func:`manifest_checksum`);
manifests written by offrl before it was added lack it."""


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


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """The sha256 (lowercase hex, no prefix) that ``manifest[MANIFEST_CHECKSUM_KEY]`` holds: that of the
    canonical JSON of every other field of the manifest, i.e. of
    ``json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)`` encoded as
    UTF-8, ``fields`` being the parsed manifest without ``manifest_sha256``.

    It is computed from the parsed content, not from the file's bytes, so that it does not depend on
    indentation or key order and can be recomputed by any JSON reader."""
    # the rule is part of the format: a writer and a reader that disagree on it would refuse every dataset
    fields = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM_KEY}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def manifest_problem(manifest: dict[str, Any], folder: str | os.PathLike) -> str | None:
    """Why the parsed manifest of the dataset folder ``folder`` does not match its own checksum (a
    problem naming its file, like a data file's checksum problem), else None; None too for a manifest
    without one (written by an earlier offrl: :func:`has_manifest_checksum` tells it apart)."""
    if MANIFEST_CHECKSUM_KEY not in manifest:
        return None
    recorded = manifest[MANIFEST_CHECKSUM_KEY]
    if isinstance(recorded, str) and recorded.lower() == manifest_checksum(manifest):
        return None
    return (f"{Path(folder) / MANIFEST}: its content does not match its own checksum ({MANIFEST_CHECKSUM_KEY}): "
            "it was edited or damaged after it was written")


def has_manifest_checksum(manifest: dict[str, Any]) -> bool:
    """Whether the parsed manifest records a checksum of its own content (offrl writes one since the field
    was added; a manifest of an earlier offrl has none and is read all the same)."""
    return MANIFEST_CHECKSUM_KEY in manifest


NO_MANIFEST_CHECKSUM = (f"{MANIFEST} has no checksum of its own (written by an earlier offrl): the files it lists "
                        "were checked, a change to the manifest itself cannot be detected; saving the dataset "
                        "again adds one")
"""What :func:`check_native` notes of a manifest without a checksum of its own (not a problem)."""


def save_native(ds: OfflineDataset, path: str | os.PathLike, *, overwrite: bool = False,
                metadata: dict[str, Any] | None = None, extra_files: dict[str, str] | None = None) -> Path:
    """Write ``ds`` in the native format at ``path`` (a directory), atomically.

    ``extra_files`` (file name -> text, e.g. a dataset card) are written into the same directory
    before it appears and checksummed in the manifest like ``data.h5``: the directory is there
    with all of them or not at all, and ``verify`` notices a file changed afterwards.

    The manifest checksums itself too: ``manifest_sha256`` is the sha256 of the canonical JSON of all its
    other fields (sorted keys, separators ``","`` and ``":"``, ASCII only; :func:`manifest_checksum`), so
    that an edited or damaged value (an env id, a reference score, a time limit) is found by ``verify``
    and refused by ``load`` like a changed data file.
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
        # hashed as a reader will parse it (a JSON round trip turns tuples into lists, and so on), so that
        # the checksum holds for exactly what read_manifest returns; the rule is manifest_checksum's
        manifest = json.loads(json.dumps(manifest, allow_nan=True))
        manifest[MANIFEST_CHECKSUM_KEY] = manifest_checksum(manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=True))
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``offrl.json`` of the dataset folder ``path``, as it is: its own checksum is not checked
    here (:func:`check_native` checks it, with the files it lists), so that a reader of a few facts of a
    dataset too large to hash each time reads the manifest alone.

    Raises:
      DataIntegrityError: it cannot be read, is no offrl dataset manifest, or is of a newer format version.
    """
    folder = Path(path)
    m = _tagged_manifest(folder)
    _check_version(m, folder)
    return m


def verify_native(path: str | os.PathLike, *, progress: bool = False) -> list[str]:
    """Problems found in a native dataset directory (empty list when it is intact): a manifest that does not
    match its own checksum, files missing or not matching theirs."""
    return check_native(path, progress=progress).problems


@dataclasses.dataclass
class NativeCheck:
    """What :func:`check_native` found of a native dataset directory."""

    problems: list[str]
    """one line per problem, each naming its file (the manifest, a data file); empty when all match."""
    digests: dict[Path, str]
    """the checksum computed of each file read (``"<algo>:<hex>"``, keyed by ``path / name``)."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """what could not be checked without being a problem (:data:`NO_MANIFEST_CHECKSUM`)."""


def check_native(path: str | os.PathLike, *, progress: bool = False) -> NativeCheck:
    """Check the native dataset directory ``path``, from one read of its manifest: the manifest against its
    own checksum (:func:`manifest_checksum`; one without, from an earlier offrl, is noted, not a problem),
    then each file it lists against its sha256.

    Raises:
      DataIntegrityError: the manifest cannot be read (:func:`read_manifest`).
    """
    path = Path(path)
    problems, digests = [], {}
    m = read_manifest(path)
    # the manifest first: when it was changed, the file checksums it records may be what changed
    if (problem := manifest_problem(m, path)) is not None:
        problems.append(problem)
    notes = [] if has_manifest_checksum(m) else [NO_MANIFEST_CHECKSUM]
    files = m.get("files", {})
    if not isinstance(files, dict):  # an edited manifest: nothing to check the files against
        problems.append(f"{path / MANIFEST}: its 'files' entry is no mapping of file names to checksums")
        files = {}
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            problems.append(f"{f}: missing")
            continue
        ok, got = check_digest(f, digest, progress=progress)
        digests[f] = got
        if not ok:
            problems.append(f"{f}: checksum {got} does not match the manifest's {digest}")
    return NativeCheck(problems, digests, notes)


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
