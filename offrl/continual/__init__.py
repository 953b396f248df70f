"""Continual offline RL: task streams, the continual trainer, continual methods and experience selection."""
