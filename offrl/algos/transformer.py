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

import flax.linen as nn
import jax
import jax.numpy as jnp

LN_EPS = 1e-5
INIT = nn.initializers.normal(0.02)


def causal_mask(length: int) -> jnp.ndarray:
    """(length, length) bool mask, True where query i may attend to key j (j <= i)."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where token i only attends to tokens 0..i."""

    num_heads: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, deterministic: bool):
        *lead, t, width = x.shape
        if width % self.num_heads:
            raise ValueError(f"embedding width {width} is not divisible by num_heads={self.num_heads}")
        d = width // self.num_heads
        # one fused projection: fewer, larger matmuls matter at DT's tiny sizes (launch-bound on GPU)
        qkv = nn.Dense(3 * width, kernel_init=INIT, name="qkv")(x).reshape(*lead, t, 3, self.num_heads, d)
        q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k) / math.sqrt(d)
        scores = jnp.where(causal_mask(t), scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        weights = nn.Dropout(self.dropout)(weights, deterministic=deterministic)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v).reshape(*lead, t, width)
        out = nn.Dense(width, kernel_init=INIT, name="proj")(out)
        return nn.Dropout(self.dropout)(out, deterministic=deterministic)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal attention then a ReLU MLP, both residual."""

    num_heads: int
    mlp_ratio: int = 4
    attention_dropout: float = 0.0
    residual_dropout: float = 0.0

    @nn.compact
    def __call__(self, x, deterministic: bool):
        width = x.shape[-1]
        h = nn.LayerNorm(epsilon=LN_EPS, name="ln1")(x)
        # GPT-2 applies resid_pdrop to the attention output projection; attn_pdrop to the weights
        x = x + CausalSelfAttention(self.num_heads, self.attention_dropout, name="attn")(h, deterministic)
        h = nn.LayerNorm(epsilon=LN_EPS, name="ln2")(x)
        h = nn.relu(nn.Dense(self.mlp_ratio * width, kernel_init=INIT, name="fc")(h))
        h = nn.Dense(width, kernel_init=INIT, name="fc_out")(h)
        return x + nn.Dropout(self.residual_dropout)(h, deterministic=deterministic)


class CausalTransformer(nn.Module):
    """``num_layers`` causal blocks followed by a final LayerNorm; input and output (..., T, width)."""

    num_layers: int
    num_heads: int
    mlp_ratio: int = 4
    attention_dropout: float = 0.0
    residual_dropout: float = 0.0

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        for i in range(self.num_layers):
            x = Block(self.num_heads, self.mlp_ratio, self.attention_dropout, self.residual_dropout,
                      name=f"block_{i}")(x, deterministic)
        return nn.LayerNorm(epsilon=LN_EPS, name="ln_f")(x)
