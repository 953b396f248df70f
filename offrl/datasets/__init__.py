"""Datasets: one :class:`OfflineDataset` type over D4RL, Minari, NeoRL-2, D5RL and local data.

Entry points: :func:`load` (registry id or path), :func:`save` (native, Minari, D4RL),
:func:`normalized_score`, :func:`list_datasets`, :func:`info`, :func:`download_dataset` (one id),
:func:`download_datasets` (several), :func:`verify`.
"""

from offrl.datasets.api import (
    DownloadOutcome,
    convert,
    detect_format,
    download_dataset,
    download_datasets,
    info,
    is_present,
    load,
    normalized_score,
    save,
    verify,
)
from offrl.datasets.core import DatasetSpec, Episode, OfflineDataset, concatenate, normalize_returns
from offrl.datasets.registry import DatasetInfo, list_datasets, local_dataset_dir

__all__ = [
    "DatasetInfo", "DatasetSpec", "DownloadOutcome", "Episode", "OfflineDataset", "concatenate", "convert",
    "detect_format", "download_dataset", "download_datasets", "info", "is_present", "list_datasets", "load",
    "local_dataset_dir", "normalize_returns", "normalized_score", "save", "verify",
]
