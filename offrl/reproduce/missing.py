"""The data a target's runs lack, said once, readably, with the ways to get each.

Downloadable datasets (D4RL, NeoRL-2, D5RL: files with a URL) are downloaded by
:func:`offrl.datasets.download_datasets` (which does not ask an unreachable host again). What is still
missing is listed once per dataset: a downloadable one with the two ways to get it (the download command,
on a machine with network; or the file from its URL, saved by hand at the path the loader reads), any
other dataset with the line :func:`offrl.datasets.api.missing_data_lines` writes (``offrl collect ...`` for
``local/*`` data).
Both look in, and name, the data root the runs read (``--root DIR`` / ``--data-root DIR`` where it is
not the default one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from offrl.datasets import DownloadOutcome

__all__ = ["MissingData", "downloadable", "missing_data"]


def downloadable(source: str) -> bool:
    """Whether ``source`` is a registry id whose files are downloaded from a URL (D4RL, NeoRL-2, D5RL);
    not ``local/*`` data, Minari datasets (fetched by the minari package) or paths."""
    from offrl.datasets import registry as R
    from offrl.datasets.api import is_registry_id

    if not is_registry_id(source) or source not in R.DATASETS:
        return False
    return any(url for _, url, _ in R.get_info(source).files)


@dataclasses.dataclass
class MissingData:
    """The datasets of some runs that are not on this machine, and how to get each."""

    count: int
    """how many datasets are missing."""
    lines: list[str]
    """how to get them, ready to print under a heading (indented; several lines for a downloadable one)."""


def missing_data(sources: Sequence[str], outcome: DownloadOutcome | None = None, *,
                 others: Sequence[str] | None = None, root: str | None = None) -> MissingData:
    """Which of ``sources`` are missing from the data root ``root`` (default ``$OFFRL_DATA_DIR`` or
    ``~/.offrl/data``) and how to get each into it (:class:`MissingData`).

    ``outcome``: the downloads tried before (:func:`offrl.datasets.download_datasets`), whose failures
    (other than an unreachable host, said once by :meth:`~offrl.datasets.DownloadOutcome.notes`) are named
    under their dataset. ``others``: the lines of the sources that are not downloadable when already known
    (:func:`offrl.sweep.plan.get_missing_data`'s, which carry why a collection failed), one per dataset;
    default: :func:`offrl.datasets.api.missing_data_lines`'s."""
    from offrl.datasets.api import missing_data_lines, missing_files
    from offrl.datasets.registry import data_root_option

    failed = outcome.failed if outcome else {}
    datasets, blocks = [], []
    for source in dict.fromkeys(sources):
        files = missing_files(source, root) if downloadable(source) else []
        if not files:
            continue
        datasets.append(source)
        blocks.append(f"  {source}: (a) `offrl datasets download {source}{data_root_option(root, '--root')}`")
        for path, url in files:
            blocks += [f"    (b) save {url}", f"        as {path}"]
        if source in failed:
            blocks.append(f"    download failed: {failed[source]}")
    if others is None:
        others = missing_data_lines([s for s in dict.fromkeys(sources) if not downloadable(s)], root=root)
    lines = [f"  {line}" for line in others]
    if blocks:
        lines.append("  get each download (a) with the command on a machine with network (another machine: "
                     "then copy the file to its path in (b)), or (b) by hand:")
    return MissingData(len(datasets) + len(others), lines + blocks)
