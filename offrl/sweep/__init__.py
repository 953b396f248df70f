"""Sweeps: YAML specs expanded into runs, run where there is room, recorded the same way everywhere.

* :mod:`offrl.sweep.spec`: the sweep file (``grid:`` / ``random:`` search spaces, ``seeds:`` as the
  vmapped axis) expanded into validated configs with stable run ids;
* :mod:`offrl.sweep.kinds`: what a run is (``kind: train``; other trainers register their kind);
* :mod:`offrl.sweep.plan`: run states on disk, missing data, time estimates (``offrl sweep plan``);
* :mod:`offrl.sweep.backends`: in this process, K child processes per GPU, or Ray tasks;
* :mod:`offrl.sweep.wandb_export`: ``offrl sweep export-wandb`` and the agent's arguments;
* :mod:`offrl.sweep.cli`: the ``offrl sweep`` command.

Every run writes ``results/<run_id>/`` through its trainer whatever the backend; finished runs are
never rerun, a failure never loses other runs, and a rerun of the same command resumes the rest.
Guide: docs/sweeps.md.
"""

from offrl.sweep.cli import main, run_sweep
from offrl.sweep.kinds import KINDS, RunKind, get_kind, register_kind
from offrl.sweep.spec import Sweep, load_sweep, parse_sweep, run_id_of

__all__ = ["KINDS", "RunKind", "Sweep", "get_kind", "load_sweep", "main", "parse_sweep", "register_kind",
           "run_id_of", "run_sweep"]
