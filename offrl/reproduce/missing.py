"""The data a target's runs lack, got where they can be and said once, readably, where they cannot.

Downloadable datasets (D4RL, NeoRL-2, D5RL: files with a URL) are downloaded one after another; once a
host cannot be reached at all (no network, a name that does not resolve), the other files from that host
are not tried: each would fail the same way after its own timeout. What is still missing is listed once
per dataset: a downloadable one with the two ways to get it (the download command, on a machine with
network; or the file from its URL, saved by hand at the path the loader reads), any other dataset with
the line :func:`offrl.sweep.plan.missing_data` writes (``offrl collect ...`` for ``local/*`` data).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["DownloadOutcome", "MissingData", "download_missing", "downloadable", "missing_data"]


def downloadable(source: str) -> bool:
    """Whether ``source`` is a registry id whose files are downloaded from a URL (D4RL, NeoRL-2, D5RL);
    not ``local/*`` data, Minari datasets (fetched by the minari package) or paths."""
    from offrl.datasets import registry as R

    if not (R.looks_like_id(source) and not Path(source).exists()) or source not in R.DATASETS:
        return False
    return any(url for _, url, _ in R.get_info(source).files)


@dataclasses.dataclass
class DownloadOutcome:
    """What :func:`download_missing` could not get."""

    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    """dataset id -> why its download failed, for failures other than an unreachable host."""
    unreachable: dict[str, str] = dataclasses.field(default_factory=dict)
    """host -> why it could not be connected to (said once, for all the host's files)."""
    not_tried: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """host -> the dataset ids not tried because that host was unreachable."""

    def notes(self) -> list[str]:
        """One line per unreachable host (empty when every host answered)."""
        lines = []
        for host, reason in self.unreachable.items():
            skipped = len(self.not_tried.get(host, []))
            lines.append(f"cannot download: no connection to {host} ({reason}; no network here?)"
                         + (f"; the {skipped} other download(s) from there were not tried" if skipped else ""))
        return lines


def _host(source: str) -> str:
    from offrl.datasets.api import missing_files

    files = missing_files(source)
    return urlsplit(files[0][1]).netloc if files else ""


def download_missing(sources: Sequence[str], *, progress: bool = True, out=None) -> DownloadOutcome:
    """Download the downloadable datasets of ``sources`` that are not on this machine, one line on ``out``
    per download started; a host that cannot be connected to is not asked again."""
    from offrl.datasets import download_dataset, is_present
    from offrl.datasets.download import NoConnectionError
    from offrl.errors import OffrlError

    out = out or sys.stdout
    outcome = DownloadOutcome()
    for source in dict.fromkeys(sources):
        if not downloadable(source) or is_present(source):
            continue
        host = _host(source)
        if host in outcome.unreachable:
            outcome.not_tried.setdefault(host, []).append(source)
            continue
        print(f"downloading {source} (`offrl datasets download {source}`)", file=out, flush=True)
        try:
            download_dataset(source, progress=progress)
        except NoConnectionError as e:
            outcome.unreachable[host] = e.reason
        except OffrlError as e:
            outcome.failed[source] = str(e)
    return outcome


@dataclasses.dataclass
class MissingData:
    """The datasets of some runs that are not on this machine, and how to get each."""

    count: int
    """how many datasets are missing."""
    lines: list[str]
    """how to get them, ready to print under a heading (indented; several lines for a downloadable one)."""


def missing_data(sources: Sequence[str], outcome: DownloadOutcome | None = None, *,
                 others: Sequence[str] | None = None) -> MissingData:
    """Which of ``sources`` are missing here and how to get each (:class:`MissingData`).

    ``outcome``: the downloads tried before, whose failures (other than an unreachable host, said once by
    :meth:`DownloadOutcome.notes`) are named under their dataset. ``others``: the lines of the sources
    that are not downloadable when already known (:func:`offrl.sweep.plan.get_missing_data`'s, which
    carry why a collection failed), one per dataset; default: :func:`offrl.sweep.plan.missing_data`'s."""
    from offrl.datasets.api import missing_files
    from offrl.sweep.plan import missing_data as missing_data_lines

    failed = outcome.failed if outcome else {}
    datasets, blocks = [], []
    for source in dict.fromkeys(sources):
        files = missing_files(source) if downloadable(source) else []
        if not files:
            continue
        datasets.append(source)
        blocks.append(f"  {source}: (a) `offrl datasets download {source}`")
        for path, url in files:
            blocks += [f"    (b) save {url}", f"        as {path}"]
        if source in failed:
            blocks.append(f"    download failed: {failed[source]}")
    if others is None:
        others = missing_data_lines([s for s in dict.fromkeys(sources) if not downloadable(s)])
    lines = [f"  {line}" for line in others]
    if blocks:
        lines.append("  get each download (a) with the command on a machine with network (another machine: "
                     "then copy the file to its path in (b)), or (b) by hand:")
    return MissingData(len(datasets) + len(others), lines + blocks)
