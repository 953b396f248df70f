"""Continual offline RL: task streams, per-task data, the continual trainer, its methods and OER.

- :mod:`offrl.continual.streams`: streams as data (YAML), the shipped streams, space checks.
"""
