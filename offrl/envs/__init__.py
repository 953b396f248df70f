"""Environments: Gymnasium task variants, continual task streams and the multi-agent UAV env."""
