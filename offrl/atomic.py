"""Atomic file and directory writes (used by every writer in offrl): build under a hidden temporary name beside the target, then rename.

Nothing half-written is ever visible under the final name; a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from offrl.errors import OffrlError


def _tmp_sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` in one rename."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OffrlError(f"{path} already exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.exists():
            # A directory cannot be renamed over a non-empty one: move the old aside first.
            old = _tmp_sibling(path, "old")
            os.rename(path, old)
        os.rename(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces ``path`` (``os.replace``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OffrlError(f"{path} already exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def file_digest(path: str | os.PathLike, algo: str = "sha256", *, progress: bool = False) -> str:
    """``"<algo>:<hex>"`` of a file's bytes, read in 8 MiB chunks."""
    h = hashlib.new(algo)
    path = Path(path)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"{algo} {path.name}", leave=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return f"{algo}:{h.hexdigest()}"


def check_digest(path: str | os.PathLike, expected: str, *, progress: bool = False) -> tuple[bool, str]:
    """Compare a file with ``"<algo>:<hex>"``; returns ``(ok, actual)``."""
    algo, _, want = expected.partition(":")
    if not want:
        raise OffrlError(f"checksum {expected!r} lacks its algorithm prefix (e.g. 'md5:…', 'sha256:…')")
    got = file_digest(path, algo, progress=progress)
    return got == f"{algo}:{want.lower()}", got
