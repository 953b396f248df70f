"""Small helpers every algorithm file uses: network+optimiser state, shapes from a spec, losses."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state


def dims(spec) -> tuple[int, int]:
    """Flat observation and action sizes of a dataset spec."""
    return int(math.prod(spec.obs_shape)), int(math.prod(spec.action_shape))


def max_action(spec) -> float:
    """The action bound (symmetric box); Gymnasium MuJoCo locomotion uses 1."""
    return float(spec.extra.get("action_high", 1.0)) if spec.extra else 1.0


class TrainState(train_state.TrainState):
    """flax's ``TrainState`` plus the low-precision copies of the weights its forward passes read.

    With ``bfloat16`` matmuls a network casts each float32 weight matrix at every use, one extra pass
    over the weights per forward pass (separate GPU kernels). Here the optimiser step writes the cast
    copies in the same pass that updates the float32 ``params``, and forward passes and gradients
    read them (:func:`forward_params`). The arithmetic is unchanged: the same casts, done earlier.

    ``compute`` holds one array per cast leaf of ``params``; ``cast_dtypes`` (one entry per leaf of
    ``params``, in ``tree_leaves`` order) names the dtype each leaf is cast to, or None for leaves the
    network uses as they are (LayerNorm scales, log-std parameters, float32 embeddings).
    """

    compute: tuple = ()
    cast_dtypes: tuple = struct.field(pytree_node=False, default=())

    def apply_gradients(self, *, grads, **kwargs):
        # gradients of the cast copies come in their dtype; the optimiser works in the params' dtype
        grads = jax.tree_util.tree_map(lambda g, p: g.astype(p.dtype), grads, self.params)
        new = super().apply_gradients(grads=grads, **kwargs)
        return new.replace(compute=_cast_copies(new.params, self.cast_dtypes))


def _cast_copies(params, cast_dtypes: tuple) -> tuple:
    return tuple(x.astype(d) for x, d in zip(jax.tree_util.tree_leaves(params), cast_dtypes) if d is not None)


def with_params(state: TrainState, params) -> TrainState:
    """``state`` with other parameters (e.g. copied from another network of the same architecture),
    its stored low-precision copies refreshed; the optimiser state is kept."""
    return state.replace(params=params, compute=_cast_copies(params, state.cast_dtypes))


def forward_params(state: TrainState):
    """The parameters forward passes use: ``params`` with each cast leaf replaced by its stored copy."""
    if not state.compute:
        return state.params
    leaves, treedef = jax.tree_util.tree_flatten(state.params)
    copies = iter(state.compute)
    return jax.tree_util.tree_unflatten(treedef, [next(copies) if d is not None else x
                                                  for x, d in zip(leaves, state.cast_dtypes)])


def cast_dtypes_of(module, params, inputs: tuple, **call_kwargs) -> tuple:
    """For each leaf of ``params``: the dtype ``module`` casts it to at every use, or None.

    Read from the forward pass's jaxpr: a leaf qualifies when all its uses are one and the same
    ``convert_element_type`` to another dtype (flax's ``Dense(dtype=bfloat16)`` on float32 weights).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    jaxpr = jax.make_jaxpr(lambda *ls: module.apply({"params": jax.tree_util.tree_unflatten(treedef, ls)},
                                                     *inputs, **call_kwargs))(*abstract).jaxpr
    # variables by identity (literals in the jaxpr are not hashable)
    uses: dict[int, list] = {id(v): [] for v in jaxpr.invars}
    for eqn in jaxpr.eqns:
        for v in eqn.invars:
            if id(v) in uses:
                uses[id(v)].append(eqn)
    for v in jaxpr.outvars:
        if id(v) in uses:
            uses[id(v)].append(None)  # returned as it is
    out = []
    for v, x in zip(jaxpr.invars, leaves):
        u = uses[id(v)]
        casts = {str(e.params["new_dtype"]) for e in u if e is not None and e.primitive.name == "convert_element_type"}
        only_casts = u and all(e is not None and e.primitive.name == "convert_element_type" for e in u)
        out.append(casts.pop() if only_casts and len(casts) == 1 and casts != {str(x.dtype)} else None)
    return tuple(out)


def make_state(key, module, inputs: tuple, tx: optax.GradientTransformation, **call_kwargs) -> TrainState:
    """Initialise ``module`` on dummy ``inputs`` (and keyword arguments of its ``__call__``) and pair
    its params with optimiser ``tx``. Weights the network casts to a lower matmul dtype get stored
    copies (see :class:`TrainState`).
    """
    params = module.init(key, *inputs, **call_kwargs)["params"]
    cast_dtypes = cast_dtypes_of(module, params, inputs, **call_kwargs)
    state = TrainState.create(apply_fn=module.apply, params=params, tx=tx, cast_dtypes=cast_dtypes)
    return state.replace(compute=_cast_copies(params, cast_dtypes))


def apply(state: TrainState, params, *args):
    """Call the network of ``state`` with explicit ``params`` (for differentiation)."""
    return state.apply_fn({"params": params}, *args)


def forward(state: TrainState, *args):
    """Call the network of ``state`` with its current parameters (:func:`forward_params`)."""
    return apply(state, forward_params(state), *args)


def grad_step(state: TrainState, loss_fn, *args):
    """One optimiser step on ``loss_fn(params, *args) -> (loss, aux)``; returns (state, loss, aux).

    ``loss_fn`` receives :func:`forward_params` (the stored low-precision copies where the network
    casts its weights), so the gradient flows through the same casts as a plain forward pass.
    """
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(forward_params(state), *args)
    return state.apply_gradients(grads=grads), loss, aux


def expectile_loss(diff, expectile: float):
    """IQL's asymmetric L2: |tau - 1(diff < 0)| * diff^2."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff**2


def adam(lr, flat: bool = False, mu_dtype=None) -> optax.GradientTransformation:
    """Adam (PyTorch's defaults) with learning rate or schedule ``lr``; ``flat`` as in :func:`flat_if`;
    ``mu_dtype`` the storage dtype of the first moment (None: the parameters')."""
    mu_dtype = None if mu_dtype in (None, "float32") else jnp.dtype(mu_dtype)
    return flat_if(optax.adam(lr, mu_dtype=mu_dtype), flat)


def adam_for(cfg):
    """``lr -> Adam`` with the optimiser options of ``cfg`` (``flat_optimizer``, ``first_moment_dtype``)."""
    flat = getattr(cfg, "flat_optimizer", False)
    mu_dtype = getattr(cfg, "first_moment_dtype", None)
    return lambda lr: adam(lr, flat=flat, mu_dtype=mu_dtype)


def net_options(cfg, spec=None) -> dict:
    """Keyword arguments every network takes from a config (``dtype`` from ``compute_dtype``) and a
    dataset spec (``task_heads`` from ``spec.extra["task_heads"]``, set by the continual trainer for
    multi-head networks; 0 otherwise)."""
    heads = int((spec.extra or {}).get("task_heads", 0)) if spec is not None else 0
    return {"dtype": jnp.dtype(getattr(cfg, "compute_dtype", "float32")), "task_heads": heads}


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
