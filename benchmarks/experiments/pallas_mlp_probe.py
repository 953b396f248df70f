"""How fast is a hand-written fused kernel at DT's shapes? An experiment on the route that
benchmarks/notes/2026-11-dt.md (5e) names; not a benchmark of offrl's training code.

DT with many seeds is bound by the memory traffic of XLA's kernels (benchmarks/notes/2026-11-dt.md,
5b-5f): at width 128 each matmul writes its activations to HBM and the next kernel reads them back.
The way past that is kernels that keep a block's activations on chip across its matmuls. This probe writes
such kernels for one transformer block's MLP sub-block (``x + W2 relu(W1 LayerNorm(x) + b1) + b2``)
in Pallas (Triton backend): a forward kernel whose 512-wide hidden activations never leave the chip,
and a backward pair (input/LayerNorm gradients per token tile; weight gradients per chunk of hidden
units, looping over the seed's tokens) that recompute the hidden layer instead of storing it, joined
by ``jax.custom_vjp``. Both are timed against XLA's compilation of the same function, vmapped over
seeds with DT's shapes (batch 64 x context 20 x 3 tokens = 3,840 tokens per seed, width 128, hidden
512, bf16 matmuls with float32 accumulation), over a sweep of tilings. It is a measurement, not part
of offrl's training code: no dropout, and the seed axis is the kernels' own grid axis.

What it answers: the TFLOP/s fused kernels reach on these shapes, against the ~173 TFLOP/s that
15k seed-steps/s needs on average over the whole step (11.5 GFLOP per seed-step), and how much
faster than XLA the fused forward and forward+backward are (benchmarks/notes/2026-11-dt.md, 5g; one
line in benchmarks/RESULTS.md, DT throughput).

Usage::

    python benchmarks/experiments/pallas_mlp_probe.py --out probe.json   # GPU: DT's shapes, 32 seeds
    python benchmarks/experiments/pallas_mlp_probe.py --quick            # CPU: interpret mode, tiny sizes
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from offrl.algos.transformer import LN_EPS as EPS  # the transformer's LayerNorm epsilon


def reference_mlp(x, gamma, beta, w1, b1, w2, b2):
    """One seed's MLP sub-block as offrl's transformer computes it with bf16 matmuls and activations:
    float32 LayerNorm statistics, bf16 matmul inputs, float32 accumulation, bf16 residual stream."""
    import jax
    import jax.numpy as jnp

    xf = x.astype(jnp.float32)
    mu = jnp.mean(xf, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(xf - mu), axis=-1, keepdims=True)
    xn = ((xf - mu) * jax.lax.rsqrt(var + EPS) * gamma + beta).astype(jnp.bfloat16)
    h = jnp.dot(xn, w1, preferred_element_type=jnp.float32) + b1
    h = jnp.maximum(h, 0.0).astype(jnp.bfloat16)
    y = jnp.dot(h, w2, preferred_element_type=jnp.float32) + b2
    return (xf + y).astype(x.dtype)


def _mm(a, b):
    """bf16 x bf16 matmul with float32 accumulation (what every matmul in these kernels is)."""
    import jax.numpy as jnp

    return jnp.dot(a, b, preferred_element_type=jnp.float32)


def _layer_norm_tile(x, gamma, beta):
    """float32 LayerNorm of a token tile: (normalised input xhat, 1/std, bf16 matmul input)."""
    import jax
    import jax.numpy as jnp

    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    rstd = jax.lax.rsqrt(jnp.mean(xc * xc, axis=-1, keepdims=True) + EPS)
    xhat = xc * rstd
    return xhat, rstd, (xhat * gamma + beta).astype(jnp.bfloat16)


def _fused_kernel(x_ref, gamma_ref, beta_ref, w1_ref, b1_ref, w2_ref, b2_ref, o_ref, *, hidden_chunk: int):
    """One tile of tokens of one seed: LayerNorm, then the hidden layer in chunks of ``hidden_chunk``
    columns, each chunk's ReLU output multiplied into the output accumulator at once (so the hidden
    activations stay in registers / shared memory)."""
    import jax.numpy as jnp
    from jax.experimental import pallas as pl

    x = x_ref[...].astype(jnp.float32)
    _, _, xn = _layer_norm_tile(x, gamma_ref[...], beta_ref[...])
    acc = jnp.zeros(x.shape, jnp.float32)
    for j in range(w1_ref.shape[-1] // hidden_chunk):  # unrolled at trace time
        cols = pl.ds(j * hidden_chunk, hidden_chunk)
        h = jnp.maximum(_mm(xn, w1_ref[:, cols]) + b1_ref[:, cols], 0.0).astype(jnp.bfloat16)
        acc += _mm(h, w2_ref[cols, :])
    o_ref[...] = (x + acc + b2_ref[...]).astype(o_ref.dtype)


def fused_mlp(x, gamma, beta, w1, b1, w2, b2, *, block_tokens: int = 128, hidden_chunk: int = 128,
              num_warps: int = 4, num_stages: int = 2, interpret: bool = False):
    """All seeds' MLP sub-blocks in one Pallas call. Shapes: ``x`` [S, M, D]; ``gamma``, ``beta``, ``b2``
    [S, 1, D]; ``w1`` [S, D, H]; ``b1`` [S, 1, H]; ``w2`` [S, H, D]. Grid: (seed, token tile)."""
    import jax
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as pl_triton

    s, m, d = x.shape
    hid = w1.shape[-1]
    if m % block_tokens or hid % hidden_chunk:
        raise ValueError(f"tokens {m} / hidden {hid} must be multiples of {block_tokens} / {hidden_chunk}")
    sq = pl.squeezed
    per_seed = lambda *shape: pl.BlockSpec((sq, *shape), lambda si, ti: (si, 0, 0))  # noqa: E731
    return pl.pallas_call(
        functools.partial(_fused_kernel, hidden_chunk=hidden_chunk),
        out_shape=jax.ShapeDtypeStruct(x.shape, x.dtype),
        grid=(s, m // block_tokens),
        in_specs=[pl.BlockSpec((sq, block_tokens, d), lambda si, ti: (si, ti, 0)),
                  per_seed(1, d), per_seed(1, d), per_seed(d, hid), per_seed(1, hid), per_seed(hid, d),
                  per_seed(1, d)],
        out_specs=pl.BlockSpec((sq, block_tokens, d), lambda si, ti: (si, ti, 0)),
        compiler_params=None if interpret else pl_triton.CompilerParams(num_warps=num_warps,
                                                                        num_stages=num_stages),
        interpret=interpret,
    )(x, gamma, beta, w1, b1, w2, b2)


def _dx_kernel(x_ref, dy_ref, gamma_ref, beta_ref, w1_ref, b1_ref, w2_ref,
               dx_ref, dgamma_ref, dbeta_ref, db2_ref, *, hidden_chunk: int):
    """Backward of one token tile to its input: the hidden layer is recomputed chunk by chunk (never
    stored), its gradient multiplied back through W1 at once; then LayerNorm's backward and the
    residual. Per-tile sums for the LayerNorm and output-bias gradients (summed over tiles outside)."""
    import jax.numpy as jnp
    from jax.experimental import pallas as pl

    x = x_ref[...].astype(jnp.float32)
    gamma = gamma_ref[...]
    xhat, rstd, xn = _layer_norm_tile(x, gamma, beta_ref[...])
    dz = dy_ref[...].astype(jnp.float32)
    dz16 = dz.astype(jnp.bfloat16)
    dxn = jnp.zeros(x.shape, jnp.float32)
    for j in range(w1_ref.shape[-1] // hidden_chunk):
        cols = pl.ds(j * hidden_chunk, hidden_chunk)
        w1 = w1_ref[:, cols]
        pre = _mm(xn, w1) + b1_ref[:, cols]
        dh = jnp.where(pre > 0, _mm(dz16, w2_ref[cols, :].T), 0.0)
        dxn += _mm(dh.astype(jnp.bfloat16), w1.T)
    g = dxn * gamma
    dx = rstd * (g - jnp.mean(g, axis=-1, keepdims=True) - xhat * jnp.mean(g * xhat, axis=-1, keepdims=True))
    dx_ref[...] = (dz + dx).astype(dx_ref.dtype)
    dgamma_ref[...] = jnp.sum(dxn * xhat, axis=0, keepdims=True)
    dbeta_ref[...] = jnp.sum(dxn, axis=0, keepdims=True)
    db2_ref[...] = jnp.sum(dz, axis=0, keepdims=True)


def _dw_kernel(x_ref, dy_ref, gamma_ref, beta_ref, w1_ref, b1_ref, w2_ref, dw1_ref, db1_ref, dw2_ref, *,
               block_tokens: int, token_splits: int):
    """Weight gradients of one chunk of hidden units of one seed: a loop over all of the seed's token
    tiles accumulates W1's columns', b1's and W2's rows' gradients on chip (no per-tile partials)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl

    gamma, beta = gamma_ref[...], beta_ref[...]
    w1, b1, w2 = w1_ref[...], b1_ref[...], w2_ref[...]

    def tile(t, carry):
        dw1, db1, dw2 = carry
        rows = pl.ds(t * block_tokens, block_tokens)
        _, _, xn = _layer_norm_tile(x_ref[rows, :].astype(jnp.float32), gamma, beta)
        dz16 = dy_ref[rows, :].astype(jnp.bfloat16)
        pre = _mm(xn, w1) + b1
        h = jnp.maximum(pre, 0.0).astype(jnp.bfloat16)
        dh = jnp.where(pre > 0, _mm(dz16, w2.T), 0.0)
        dw2 += _mm(h.T, dz16)
        dw1 += _mm(xn.T, dh.astype(jnp.bfloat16))
        db1 += jnp.sum(dh, axis=0, keepdims=True)
        return dw1, db1, dw2

    zeros = (jnp.zeros(w1.shape, jnp.float32), jnp.zeros(b1.shape, jnp.float32), jnp.zeros(w2.shape, jnp.float32))
    # this program's share of the seed's token tiles (``token_splits`` programs per chunk of hidden
    # units, their partial sums added outside)
    per_split = x_ref.shape[0] // block_tokens // token_splits
    first = pl.program_id(2) * per_split
    dw1, db1, dw2 = jax.lax.fori_loop(first, first + per_split, tile, zeros)
    dw1_ref[...] = dw1.astype(dw1_ref.dtype)
    db1_ref[...] = db1
    dw2_ref[...] = dw2.astype(dw2_ref.dtype)


def fused_mlp_backward(x, gamma, beta, w1, b1, w2, b2, dy, *, block_tokens: int = 64, hidden_chunk: int = 64,
                       dw_block_tokens: int = 64, dw_hidden_chunk: int = 64, dw_token_splits: int = 1,
                       num_warps: int = 4, dw_num_warps: int = 8, interpret: bool = False):
    """Gradients of :func:`fused_mlp` for the output cotangent ``dy`` (same order as its arguments):
    a (seed, token tile) kernel for the input, LayerNorm and output-bias gradients and a
    (seed, hidden chunk, token split) kernel for W1, b1 and W2; both recompute the hidden layer."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as pl_triton

    del b2  # not needed: the output bias does not enter any gradient
    s, m, d = x.shape
    hid = w1.shape[-1]
    if (m % block_tokens or m % (dw_block_tokens * dw_token_splits) or hid % hidden_chunk
            or hid % dw_hidden_chunk):
        raise ValueError(f"tokens {m} / hidden {hid} must be multiples of the block sizes")
    sq = pl.squeezed
    tiles = m // block_tokens
    per_seed = lambda *shape: pl.BlockSpec((sq, *shape), lambda si, ti: (si, 0, 0))  # noqa: E731
    token_tile = pl.BlockSpec((sq, block_tokens, d), lambda si, ti: (si, ti, 0))
    per_tile_row = pl.BlockSpec((sq, sq, 1, d), lambda si, ti: (si, ti, 0, 0))
    params = lambda w: None if interpret else pl_triton.CompilerParams(num_warps=w, num_stages=1)  # noqa: E731
    dx, dgamma, dbeta, db2 = pl.pallas_call(
        functools.partial(_dx_kernel, hidden_chunk=hidden_chunk),
        out_shape=(jax.ShapeDtypeStruct(x.shape, x.dtype),
                   *(jax.ShapeDtypeStruct((s, tiles, 1, d), jnp.float32) for _ in range(3))),
        grid=(s, tiles),
        in_specs=[token_tile, token_tile, per_seed(1, d), per_seed(1, d), per_seed(d, hid), per_seed(1, hid),
                  per_seed(hid, d)],
        out_specs=(token_tile, per_tile_row, per_tile_row, per_tile_row),
        compiler_params=params(num_warps), interpret=interpret,
    )(x, dy, gamma, beta, w1, b1, w2)
    whole_seed = lambda *shape: pl.BlockSpec((sq, *shape), lambda si, hj, k: (si, 0, 0))  # noqa: E731
    w1_cols = pl.BlockSpec((sq, d, dw_hidden_chunk), lambda si, hj, k: (si, 0, hj))
    b1_cols = pl.BlockSpec((sq, 1, dw_hidden_chunk), lambda si, hj, k: (si, 0, hj))
    w2_rows = pl.BlockSpec((sq, dw_hidden_chunk, d), lambda si, hj, k: (si, hj, 0))
    split = lambda spec_shape, index: pl.BlockSpec((sq, sq, *spec_shape), index)  # noqa: E731
    k_splits = dw_token_splits
    dw1, db1, dw2 = pl.pallas_call(
        functools.partial(_dw_kernel, block_tokens=dw_block_tokens, token_splits=k_splits),
        out_shape=(jax.ShapeDtypeStruct((s, k_splits, d, hid), jnp.float32),
                   jax.ShapeDtypeStruct((s, k_splits, 1, hid), jnp.float32),
                   jax.ShapeDtypeStruct((s, k_splits, hid, d), jnp.float32)),
        grid=(s, hid // dw_hidden_chunk, k_splits),
        in_specs=[whole_seed(m, d), whole_seed(m, d), whole_seed(1, d), whole_seed(1, d), w1_cols, b1_cols,
                  w2_rows],
        out_specs=(split((d, dw_hidden_chunk), lambda si, hj, k: (si, k, 0, hj)),
                   split((1, dw_hidden_chunk), lambda si, hj, k: (si, k, 0, hj)),
                   split((dw_hidden_chunk, d), lambda si, hj, k: (si, k, hj, 0))),
        compiler_params=params(dw_num_warps), interpret=interpret,
    )(x, dy, gamma, beta, w1, b1, w2)
    dw1, db1, dw2 = dw1.sum(1), db1.sum(1), dw2.sum(1)
    return (dx, dgamma.sum(1), dbeta.sum(1), dw1.astype(w1.dtype), db1, dw2.astype(w2.dtype), db2.sum(1))


def trainable_fused_mlp(forward_options: dict, backward_options: dict):
    """:func:`fused_mlp` with :func:`fused_mlp_backward` as its gradient (``jax.custom_vjp``): what an
    integration into the transformer would call."""
    import jax

    @jax.custom_vjp
    def mlp(*args):
        return fused_mlp(*args, **forward_options)

    def fwd(*args):
        return fused_mlp(*args, **forward_options), args

    def bwd(args, dy):
        return fused_mlp_backward(*args, dy, **backward_options)

    mlp.defvjp(fwd, bwd)
    return mlp


def make_inputs(seeds: int, tokens: int, width: int, hidden: int, key=0):
    """Random inputs with DT's layouts: bf16 residual stream and weights, float32 LayerNorm/bias."""
    import jax
    import jax.numpy as jnp

    k = jax.random.split(jax.random.PRNGKey(key), 7)
    bf, f32 = jnp.bfloat16, jnp.float32
    return (jax.random.normal(k[0], (seeds, tokens, width), f32).astype(bf),
            1.0 + 0.1 * jax.random.normal(k[1], (seeds, 1, width), f32),
            0.1 * jax.random.normal(k[2], (seeds, 1, width), f32),
            (jax.random.normal(k[3], (seeds, width, hidden), f32) / np.sqrt(width)).astype(bf),
            0.1 * jax.random.normal(k[4], (seeds, 1, hidden), f32),
            (jax.random.normal(k[5], (seeds, hidden, width), f32) / np.sqrt(hidden)).astype(bf),
            0.1 * jax.random.normal(k[6], (seeds, 1, width), f32))


def _time(fn, args, reps: int) -> tuple[float, float]:
    """(seconds per call, first-call seconds) of a jitted function."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    for _ in range(2):
        jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / reps, first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CPU: Pallas interpret mode, tiny sizes")
    p.add_argument("--seeds", type=int, default=None, help="seeds (default 32; quick: 2)")
    p.add_argument("--reps", type=int, default=None, help="timed calls per variant")
    p.add_argument("--forward-best-only", action="store_true",
                   help="time only the forward tiling that was fastest on the H100 "
                        "(benchmarks/notes/2026-11-dt.md, 5g), not all 24")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = p.parse_args(argv)

    import jax
    import jax.numpy as jnp

    quick = a.quick or jax.default_backend() != "gpu"
    seeds = a.seeds or (2 if quick else 32)
    tokens, width, hidden = (256, 128, 512) if quick else (64 * 20 * 3, 128, 512)
    reps = a.reps or (1 if quick else 50)
    args = make_inputs(seeds, tokens, width, hidden)
    flops = seeds * tokens * 2 * 2 * width * hidden  # two matmuls, 2 FLOP per multiply-add
    # bytes a fused forward must move: read x, write y (bf16), read the weights once per seed
    min_bytes = seeds * (2 * tokens * width * 2 + 2 * width * hidden * 2)

    xla = jax.jit(jax.vmap(reference_mlp))
    want = np.asarray(xla(*args).astype(jnp.float32))
    t_xla, first_xla = _time(xla, args, reps)
    every_arg = tuple(range(7))
    xla_grad = jax.jit(jax.grad(lambda *t: jnp.sum(jax.vmap(reference_mlp)(*t).astype(jnp.float32)), every_arg))
    t_xla_fb, _ = _time(xla_grad, args, reps)

    def sweep(name, fn_of, variants, check):
        """Time ``fn_of(**variant)`` for each variant (an error is a result: some tilings do not compile)."""
        rows = []
        for v in variants:
            row = dict(v)
            try:
                fn = jax.jit(fn_of(**v))
                t0 = time.perf_counter()
                row["max_rel_diff_vs_xla"] = check(fn)  # compiles it too
                row["first_call_s"] = time.perf_counter() - t0
                row["s_per_call"], _ = _time(fn, args, reps)
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            rows.append(row)
            print(name, row, flush=True)
        ok = [r for r in rows if "s_per_call" in r]
        return rows, (min(ok, key=lambda r: r["s_per_call"]) if ok else None)

    def rel(got, ref):
        return max(float(np.max(np.abs(np.asarray(g, np.float32) - np.asarray(r, np.float32))))
                   / max(float(np.max(np.abs(np.asarray(r, np.float32)))), 1e-30) for g, r in zip(got, ref))

    # forward: the fused kernel's tilings
    fwd_variants = ([dict(block_tokens=128, hidden_chunk=128)] if quick else
                    [dict(block_tokens=128, hidden_chunk=128, num_warps=8, num_stages=2)] if a.forward_best_only else
                    [dict(block_tokens=bt, hidden_chunk=hc, num_warps=w, num_stages=st)
                     for bt in (64, 128, 256) for hc in (64, 128) for w in (4, 8) for st in (1, 2)])
    fwd_rows, fwd_best = sweep("forward", lambda **v: functools.partial(fused_mlp, interpret=quick, **v),
                               fwd_variants, lambda fn: rel([fn(*args)], [want]))
    for r in fwd_rows:
        if "s_per_call" in r:
            r["tflops"], r["x_xla_forward"] = flops / r["s_per_call"] / 1e12, t_xla / r["s_per_call"]

    # backward: the gradients of sum(y * c) against XLA's, each kernel's tilings with the other's fixed
    c = jax.random.normal(jax.random.PRNGKey(1), want.shape, jnp.float32)
    dy = c.astype(jnp.bfloat16)
    ref_grads = jax.jit(jax.grad(lambda *t: jnp.sum(jax.vmap(reference_mlp)(*t).astype(jnp.float32) * c),
                                 every_arg))(*args)
    # the reference's output cotangent is c in float32; the kernels get it as the bf16 output's cotangent
    check_bwd = lambda fn: rel(fn(*args), ref_grads)  # noqa: E731
    bwd_of = lambda **v: lambda *a: fused_mlp_backward(*a, dy, interpret=quick, **v)  # noqa: E731
    if quick:
        bwd_variants = [dict(block_tokens=64, hidden_chunk=64, dw_block_tokens=64, dw_hidden_chunk=64),
                        dict(dw_block_tokens=64, dw_hidden_chunk=128, dw_token_splits=2)]
    else:
        bwd_variants = ([dict(block_tokens=bt, hidden_chunk=hc, num_warps=w)
                         for bt in (64, 128) for hc in (64, 128) for w in (4, 8)]
                        + [dict(dw_block_tokens=bt, dw_hidden_chunk=hc, dw_num_warps=w)
                           for bt in (32, 64, 128) for hc in (32, 64, 128) for w in (4, 8)]
                        # more, shorter programs for the weight gradients: partial sums over token splits
                        + [dict(dw_block_tokens=bt, dw_hidden_chunk=hc, dw_num_warps=w, dw_token_splits=k)
                           for bt in (64, 128) for hc in (64, 128) for w in (4, 8) for k in (2, 3, 6)])
    bwd_rows, _ = sweep("backward", bwd_of, bwd_variants, check_bwd)
    dx_keys = ("block_tokens", "hidden_chunk", "num_warps")
    dw_keys = ("dw_block_tokens", "dw_hidden_chunk", "dw_num_warps", "dw_token_splits")
    best_of = lambda keys: min((r for r in bwd_rows if "s_per_call" in r and keys[0] in r),  # noqa: E731
                               key=lambda r: r["s_per_call"], default=None)
    bwd_best = {k: v for keys in (dx_keys, dw_keys) for k, v in (best_of(keys) or {}).items() if k in keys}
    fb_rows, fb_best = [], None
    if fwd_best:
        fwd_opts = {k: fwd_best[k] for k in fwd_variants[0] if k in fwd_best}
        mlp = trainable_fused_mlp({**fwd_opts, "interpret": quick}, {**bwd_best, "interpret": quick})
        fb_rows, fb_best = sweep(
            "forward+backward", lambda: jax.grad(lambda *t: jnp.sum(mlp(*t).astype(jnp.float32)), every_arg), [{}],
            lambda fn: rel(fn(*args), xla_grad(*args)))
        if fb_best:
            fb_best.update(forward=fwd_opts, backward=bwd_best, tflops=3 * flops / fb_best["s_per_call"] / 1e12,
                           x_xla_forward_backward=t_xla_fb / fb_best["s_per_call"])

    dev = jax.devices()[0]
    out = {"benchmark": "pallas_mlp_probe", "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
           "jax": jax.__version__, "python": platform.python_version(), "quick": quick,
           "shapes": {"seeds": seeds, "tokens_per_seed": tokens, "width": width, "hidden": hidden},
           "flops_per_call": flops, "min_bytes_per_call": min_bytes, "reps": reps,
           "xla_forward": {"s_per_call": t_xla, "first_call_s": first_xla, "tflops": flops / t_xla / 1e12},
           "xla_forward_backward": {"s_per_call": t_xla_fb, "tflops": 3 * flops / t_xla_fb / 1e12},
           "fused": fwd_rows, "best": fwd_best, "backward": bwd_rows, "forward_backward": fb_best}
    print(f"MLP sub-block, {seeds} seeds x {tokens} tokens, {width}->{hidden}->{width}, bf16, "
          f"{out['device']} (jax {jax.__version__}); TFLOP/s count the 2 (forward) / 6 (forward+backward) "
          "matmuls a non-recomputing implementation needs")
    print(f"  XLA forward                    {1e6 * t_xla:9.1f} us  {out['xla_forward']['tflops']:6.1f} TFLOP/s")
    if fwd_best:
        print(f"  Pallas fused forward           {1e6 * fwd_best['s_per_call']:9.1f} us  {fwd_best['tflops']:6.1f} "
              f"TFLOP/s ({fwd_best['x_xla_forward']:.2f}x XLA; max rel. diff {fwd_best['max_rel_diff_vs_xla']:.2g})")
    print(f"  XLA forward+backward           {1e6 * t_xla_fb:9.1f} us  "
          f"{out['xla_forward_backward']['tflops']:6.1f} TFLOP/s")
    if fb_best:
        print(f"  Pallas fused forward+backward  {1e6 * fb_best['s_per_call']:9.1f} us  {fb_best['tflops']:6.1f} "
              f"TFLOP/s ({fb_best['x_xla_forward_backward']:.2f}x XLA; max rel. diff of the gradients "
              f"{fb_best['max_rel_diff_vs_xla']:.2g}); backward tiling {bwd_best}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=2))
        print(f"wrote {a.out}")
    return 0 if fwd_best and fb_best else 1


if __name__ == "__main__":
    raise SystemExit(main())
