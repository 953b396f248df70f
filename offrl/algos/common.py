"""Small helpers every algorithm file uses: network+optimiser state, shapes from a spec, losses."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState


def dims(spec) -> tuple[int, int]:
    """Flat observation and action sizes of a dataset spec."""
    return int(math.prod(spec.obs_shape)), int(math.prod(spec.action_shape))


def max_action(spec) -> float:
    """The action bound (symmetric box); Gymnasium MuJoCo locomotion uses 1."""
    return float(spec.extra.get("action_high", 1.0)) if spec.extra else 1.0


def make_state(key, module, inputs: tuple, tx: optax.GradientTransformation) -> TrainState:
    """Initialise ``module`` on dummy ``inputs`` and pair its params with optimiser ``tx``."""
    params = module.init(key, *inputs)["params"]
    return TrainState.create(apply_fn=module.apply, params=params, tx=tx)


def apply(state: TrainState, params, *args):
    """Call the network of ``state`` with explicit ``params`` (for differentiation)."""
    return state.apply_fn({"params": params}, *args)


def grad_step(state: TrainState, loss_fn, *args):
    """One optimiser step on ``loss_fn(params, *args) -> (loss, aux)``; returns (state, loss, aux)."""
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, *args)
    return state.apply_gradients(grads=grads), loss, aux


def expectile_loss(diff, expectile: float):
    """IQL's asymmetric L2: |tau - 1(diff < 0)| * diff^2."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff**2


def adam(lr, flat: bool = False) -> optax.GradientTransformation:
    """Adam (PyTorch's defaults) with learning rate or schedule ``lr``; ``flat`` as in :func:`flat_if`."""
    return flat_if(optax.adam(lr), flat)


def flat_if(tx: optax.GradientTransformation, flat: bool) -> optax.GradientTransformation:
    """``tx`` on one flat vector of all parameters when ``flat`` (``optax.flatten``).

    The update is elementwise, so the arithmetic is the same (a global-norm clip only sums in another
    order); what changes is the number of GPU kernels: one fused pass over the whole vector instead
    of a few per parameter array, which matters where a step is bound by kernel launches (one seed).
    """
    return optax.flatten(tx) if flat else tx


def make_temperature(init_alpha: float, lr: float) -> TrainState:
    """SAC's entropy temperature as a trainable ``log_alpha`` (automatic entropy tuning)."""
    return TrainState.create(apply_fn=None, params={"log_alpha": jnp.log(jnp.float32(init_alpha))}, tx=optax.adam(lr))


def temperature_step(temp: TrainState, mean_log_prob, target_entropy) -> tuple[TrainState, jax.Array]:
    """One step on ``-log_alpha * (E[log pi] + target_entropy)``; returns (state, loss)."""
    gap = jax.lax.stop_gradient(mean_log_prob + target_entropy)
    loss = -temp.params["log_alpha"] * gap
    return temp.apply_gradients(grads={"log_alpha": -gap}), loss  # d loss / d log_alpha = -gap
