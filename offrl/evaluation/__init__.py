"""Evaluation: policy rollouts, normalized scores, benchmark statistics, plots and results reading.

Submodules are imported explicitly (``offrl.evaluation.stats``, ``.plots``, ``.results``) so that
importing this package stays cheap.
"""
