"""A GPT-2-style causal transformer stack (pre-LayerNorm blocks), as used by Decision Transformers.

The Decision Transformer's reference code (``kzl/decision-transformer``) runs HuggingFace GPT-2 with
the positional embedding removed: blocks are ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))``, the
MLP is ``4 x width`` with ReLU (DT's config; GPT-2's default is GELU), dropout on attention
weights and on both residual branches, LayerNorm epsilon 1e-5, and a final LayerNorm. Weights are
initialised N(0, 0.02) as in GPT-2. There is no positional embedding here: callers add their own
(DT adds a learned *timestep* embedding to every token).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

LN_EPS = 1e-5
INIT = nn.initializers.normal(0.02)


def causal_mask(length: int) -> jnp.ndarray:
    """(length, length) bool mask, True where query i may attend to key j (j <= i)."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))


def select_tokens(x, pattern: tuple[int, int, int] | None, axis: int = -2):
    """The tokens of ``x`` (along ``axis``) whose position p has ``start <= p % period < stop``,
    for ``pattern = (period, start, stop)``; all tokens when ``pattern`` is None. Slices only (no gather)."""
    if pattern is None:
        return x
    period, start, stop = pattern
    axis = axis % x.ndim
    t = x.shape[axis]
    if t % period or not 0 <= start < stop <= period:
        raise ValueError(f"token pattern {pattern} does not fit a sequence of {t} tokens")
    grouped = x.reshape(*x.shape[:axis], t // period, period, *x.shape[axis + 1:])
    picked = jax.lax.slice_in_dim(grouped, start, stop, axis=axis + 1)
    return picked.reshape(*x.shape[:axis], -1, *x.shape[axis + 1:])


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where token i only attends to tokens 0..i."""

    num_heads: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool, queries: tuple[int, int, int] | None = None):
        """``queries``: compute outputs only for the tokens :func:`select_tokens` picks (keys and
        values still come from every token)."""
        *lead, t, width = x.shape
        if width % self.num_heads:
            raise ValueError(f"embedding width {width} is not divisible by num_heads={self.num_heads}")
        d = width // self.num_heads
        # one fused projection: fewer, larger matmuls matter at DT's tiny sizes (launch-bound on GPU)
        qkv = nn.Dense(3 * width, kernel_init=INIT, dtype=self.dtype, name="qkv")(x)
        qkv = qkv.reshape(*lead, t, 3, self.num_heads, d)
        q, k, v = select_tokens(qkv[..., 0, :, :], queries, axis=-3), qkv[..., 1, :, :], qkv[..., 2, :, :]
        # masking and softmax in float32 whatever the matmul dtype; the weights leave in the
        # activations' dtype (x's), the bytes the backward pass reads again
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k).astype(jnp.float32) / math.sqrt(d)
        scores = jnp.where(select_tokens(causal_mask(t), queries), scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
        weights = nn.Dropout(self.dropout)(weights, deterministic=deterministic).astype(v.dtype)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v).reshape(*lead, q.shape[-3], width)
        out = nn.Dense(width, kernel_init=INIT, dtype=self.dtype, name="proj")(out)
        return nn.Dropout(self.dropout)(out, deterministic=deterministic)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal attention then a ReLU MLP, both residual."""

    num_heads: int
    mlp_ratio: int = 4
    attention_dropout: float = 0.0
    residual_dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool, queries: tuple[int, int, int] | None = None):
        """``queries``: return only the tokens :func:`select_tokens` picks (they attend to all)."""
        width = x.shape[-1]
        # LayerNorm outputs keep the residual stream's dtype (statistics are float32 either way)
        h = nn.LayerNorm(epsilon=LN_EPS, dtype=x.dtype, name="ln1")(x)
        # GPT-2 applies resid_pdrop to the attention output projection; attn_pdrop to the weights
        a = CausalSelfAttention(self.num_heads, self.attention_dropout, self.dtype, name="attn")(
            h, deterministic, queries)
        x = select_tokens(x, queries) + a.astype(x.dtype)
        h = nn.LayerNorm(epsilon=LN_EPS, dtype=x.dtype, name="ln2")(x)
        h = nn.relu(nn.Dense(self.mlp_ratio * width, kernel_init=INIT, dtype=self.dtype, name="fc")(h))
        h = nn.Dense(width, kernel_init=INIT, dtype=self.dtype, name="fc_out")(h)
        # the residual stream keeps its input's dtype; only the matmuls use `dtype`
        return x + nn.Dropout(self.residual_dropout)(h, deterministic=deterministic).astype(x.dtype)


class CausalTransformer(nn.Module):
    """``num_layers`` causal blocks followed by a final LayerNorm; input and output (..., T, width).

    ``dtype`` is the matmul dtype inside the blocks (e.g. bfloat16). The residual stream and the
    LayerNorm outputs keep the dtype of the input ``x`` (float32 input: all float32; bfloat16 input:
    half the bytes per activation). Parameters, LayerNorm statistics, softmax and the output (after
    the final LayerNorm) are float32 whatever the dtypes.
    """

    num_layers: int
    num_heads: int
    mlp_ratio: int = 4
    attention_dropout: float = 0.0
    residual_dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool = True, outputs: tuple[int, int, int] | None = None):
        """``outputs`` = (period, start, stop): return only the tokens whose position p has
        ``start <= p % period < stop`` (:func:`select_tokens`). The last block then computes its
        attention output, MLP and the final LayerNorm for those tokens only; the same numbers as
        selecting from the full output, for less work."""
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            x = Block(self.num_heads, self.mlp_ratio, self.attention_dropout, self.residual_dropout, self.dtype,
                      name=f"block_{i}")(x, deterministic, outputs if last else None)
        return nn.LayerNorm(epsilon=LN_EPS, dtype=jnp.float32, name="ln_f")(x)
