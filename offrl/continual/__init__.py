"""Continual offline RL: task streams, per-task data, the continual trainer, its methods and OER.

- :mod:`offrl.continual.streams`: streams as data (YAML), the shipped streams, space checks.
- :mod:`offrl.continual.data`: a stream's per-task data as the trainer uses it.
- :mod:`offrl.continual.trainer`: ``ContinualConfig`` and ``train_stream`` (``offrl continual train``).
- :mod:`offrl.continual.methods`: finetune, scratch, multitask, l2, ewc, er, oer.
- :mod:`offrl.continual.neighbors`, :mod:`offrl.continual.selection`: exact nearest neighbours and the
  experience-selection rules (OER's model-based selection, MBES, and the rules it was compared with).
"""
