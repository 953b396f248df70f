"""HTTP downloads: resumable (HTTP Range), checksum-verified, atomic, never hanging; checksum pins.

A file is fetched into ``<name>.part`` beside its destination; an interrupted transfer resumes from
the bytes already there (``Range: bytes=N-``; a server that ignores ranges restarts it). When the
transfer is complete its checksum is checked and only then is it renamed to the final name. A file
with the wrong checksum is moved aside to ``<name>.corrupt-<time>`` and reported. Network errors
surface as :class:`~offrl.errors.DownloadError` within the connect/read timeout; one that could not
connect at all as its subclass :class:`NoConnectionError`.

Pins (trust on first use): where a source publishes no checksum (D4RL, D5RL), the sha256 of the first
complete download (or of a file found in place at its first load) is recorded in
``<data root>/pinned_checksums.json`` and every later load or verify checks the file against it.
That proves the file has not changed since it was first seen on this machine, not that the first
copy was the right one. :func:`pin_checksum` records or replaces a pin (``offrl datasets verify ID
--repin``).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from offrl.atomic import atomic_file, check_digest, file_digest
from offrl.errors import DataIntegrityError, DownloadError
from offrl.paths import data_root

CHUNK = 1 << 20
PINS_FILE = "pinned_checksums.json"
PIN_ALGO = "sha256"


class NoConnectionError(DownloadError):
    """A download that could not even connect (no network, a name that does not resolve, a refused
    connection): retrying, or downloading other files from the same host, will not help.

    ``url``: what was asked for; ``dest``: where the file was to go (where it can be placed by hand);
    ``reason``: why the connection failed, as the system said it (``[Errno -2] Name or service not known``).
    """

    def __init__(self, url: str, dest: str | os.PathLike, reason: object):
        super().__init__(f"cannot download {url}: {reason} (no network? files can also be placed at {dest} "
                         "by hand)")
        self.url = url
        self.dest = Path(dest)
        self.reason = str(reason)

    def __reduce__(self):  # the message is built from the parts: rebuild from them across processes
        return type(self), (self.url, self.dest, self.reason)


# ---------------------------------------------------------------------------- pins
def pins_path(root: str | os.PathLike | None = None) -> Path:
    """The pin file of a data root: ``<data root>/pinned_checksums.json``."""
    return data_root(root) / PINS_FILE


def read_pins(root: str | os.PathLike | None = None) -> dict[str, dict]:
    """Every pin of the data root: key (a file's path under the data root, e.g.
    ``d4rl/hopper_medium-v2.hdf5``) -> ``{"checksum", "pinned_at", "size", "source"}``."""
    path = pins_path(root)
    if not path.is_file():
        return {}
    try:
        pins = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataIntegrityError(f"{path}: unreadable pin file ({e}); fix or delete it (its pins are then "
                                 "recorded again at the next load)") from None
    if not isinstance(pins, dict):
        raise DataIntegrityError(f"{path}: expected a JSON object of pins")
    return pins


def pinned_checksum(key: str, root: str | os.PathLike | None = None) -> str | None:
    """The pinned ``"sha256:<hex>"`` of ``key``, or None when it has none yet."""
    entry = read_pins(root).get(key)
    return entry.get("checksum") if isinstance(entry, dict) else None


def pin_checksum(key: str, path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                 checksum: str | None = None, source: str | None = None, progress: bool = False) -> str:
    """Pin the file at ``path`` under ``key`` (replacing an earlier pin) and return its checksum;
    ``checksum`` is the file's sha256 when already computed. The pin file is rewritten atomically."""
    path = Path(path)
    checksum = checksum or file_digest(path, PIN_ALGO, progress=progress)
    pins = read_pins(root)
    pins[key] = {"checksum": checksum, "size": path.stat().st_size, "source": source or str(path),
                 "pinned_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    target = pins_path(root)
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    return checksum


def move_aside(path: Path, reason: str) -> Path:
    """Rename a bad file to ``<name>.corrupt-<timestamp>`` and return the new path."""
    bad = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, bad)
    import warnings

    warnings.warn(f"{path}: {reason}; moved aside to {bad}", stacklevel=3)
    return bad


def _total_from(resp, offset: int) -> int | None:
    cr = resp.headers.get("Content-Range")
    if cr and "/" in cr:
        tail = cr.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    cl = resp.headers.get("Content-Length")
    return int(cl) + (offset if resp.status == 206 else 0) if cl and cl.isdigit() else None


def download(url: str, dest: str | os.PathLike, *, checksum: str | None = None, timeout: float = 15.0,
             retries: int = 3, progress: bool = True, pin_as: str | None = None,
             root: str | os.PathLike | None = None) -> Path:
    """Fetch ``url`` to ``dest`` (see module docstring); returns ``dest``.

    An existing ``dest`` whose checksum matches is kept; one that does not is moved aside and
    fetched again. Without a ``checksum``, ``pin_as`` pins the sha256 of the completed download
    under that key in the pin file of data root ``root`` (:func:`pin_checksum`) before the file
    appears under its name, so a later load can tell whether it changed.
    """
    dest = Path(dest)
    if dest.exists():
        if checksum is None:
            return dest
        ok, got = check_digest(dest, checksum)
        if ok:
            return dest
        move_aside(dest, f"checksum {got} != expected {checksum}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_err: Exception | None = None
    for attempt in range(retries + 1):
        try:
            if _fetch(url, part, timeout=timeout, progress=progress, desc=dest.name):
                break
        except (urllib.error.HTTPError) as e:
            if e.code == 416 and part.exists():  # range past the end: the part is stale; start over
                part.unlink()
                last_err = e
                continue
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException,
                OSError) as e:
            last_err = e
            reason = getattr(e, "reason", e)
            if isinstance(e, urllib.error.URLError) and not part.exists():
                # Could not even connect (no network, DNS failure, refused): retrying will not help.
                raise NoConnectionError(url, dest, reason) from None
            if attempt < retries:
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
            continue
    else:
        raise DownloadError(f"{url}: transfer kept failing after {retries + 1} attempts ({last_err}); "
                            f"{part.stat().st_size if part.exists() else 0} bytes kept in {part}, "
                            "a later call resumes from there")
    if checksum is not None:
        ok, got = check_digest(part, checksum)
        if not ok:
            bad = move_aside(part, f"checksum {got} != expected {checksum}")
            raise DataIntegrityError(f"{url}: downloaded file has checksum {got}, expected {checksum}; "
                                     f"moved aside to {bad}")
    elif pin_as is not None:
        pin_checksum(pin_as, part, root=root, source=url, progress=progress)
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, *, timeout: float, progress: bool, desc: str) -> bool:
    """One attempt; appends to ``part``. True when the whole body arrived."""
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "offrl", **({"Range": f"bytes={offset}-"} if offset else {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if offset and resp.status != 206:
            offset = 0  # server ignored the range: restart from scratch
        total = _total_from(resp, offset)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=desc, leave=False)
        got = offset
        try:
            with open(part, "ab" if offset else "wb") as f:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and got < total:
        raise ConnectionError(f"connection closed after {got} of {total} bytes")
    return True
