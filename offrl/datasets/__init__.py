"""Datasets: one :class:`OfflineDataset` type over D4RL, Minari, NeoRL-2, D5RL and local data."""

from offrl.datasets.core import DatasetSpec, Episode, OfflineDataset, concatenate, normalize_returns

__all__ = ["DatasetSpec", "Episode", "OfflineDataset", "concatenate", "normalize_returns"]
