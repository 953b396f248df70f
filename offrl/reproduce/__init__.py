"""``offrl reproduce``: published tables reproduced through the sweep launcher, judged row by row.

* :mod:`offrl.reproduce.targets`: the targets (a ``published_scores.csv`` source and the sweep specs
  of its rows): ``offrl-local-v0`` (our table on regenerable data) and its quick CPU check,
  ``corl-last``, ``corl-best``, ``dt-paper``, ``neorl2``;
* :mod:`offrl.reproduce.verdict`: the rule (consistent / higher / lower) and the exit code;
* :mod:`offrl.reproduce.report`: rows read back from the run folders, the markdown / PNG / JSON report;
* :mod:`offrl.reproduce.record`: our own rows into ``published_scores.csv`` and the docs table;
* :mod:`offrl.reproduce.cli`: the command.

Guide: docs/reproduce.md.
"""

from offrl.reproduce.cli import ReproduceArgs, main, reproduce
from offrl.reproduce.targets import TARGETS, Target, get_target
from offrl.reproduce.verdict import Comparison, Tolerance, compare, exit_code, mean_ci

__all__ = ["TARGETS", "Comparison", "ReproduceArgs", "Target", "Tolerance", "compare", "exit_code", "get_target",
           "main", "mean_ci", "reproduce"]
