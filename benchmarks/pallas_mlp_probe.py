"""How fast is a hand-written fused kernel at DT's shapes? A probe of the route RESULTS.md 5e names.

DT with many seeds is bound by the memory traffic of XLA's kernels (RESULTS.md sections 5b-5f): at
width 128 each matmul writes its activations to HBM and the next kernel reads them back. The way
past that is kernels that keep a block's activations on chip across its matmuls. This probe writes
the simplest such kernel, the forward pass of one transformer block's MLP sub-block
(``x + W2 relu(W1 LayerNorm(x) + b1) + b2``, the 512-wide hidden activations never leave the chip),
in Pallas (Triton backend), and times it against XLA's compilation of the same function, both vmapped
over seeds with DT's shapes (batch 64 x context 20 x 3 tokens = 3,840 tokens per seed, width 128,
hidden 512, bf16 matmuls with float32 accumulation). It is a measurement, not part of offrl's
training code: no backward pass, no dropout.

What it answers: the TFLOP/s a fused kernel reaches on these shapes, against the ~173 TFLOP/s that
15k seed-steps/s needs on average over the whole step (11.5 GFLOP per seed-step), and how much
faster than XLA the fused forward is.

Usage::

    python benchmarks/pallas_mlp_probe.py --out probe.json          # GPU: DT's shapes, 32 seeds
    python benchmarks/pallas_mlp_probe.py --quick                   # CPU: interpret mode, tiny sizes
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import numpy as np

EPS = 1e-5  # flax LayerNorm's epsilon, as in offrl/algos/transformer.py


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


def _fused_kernel(x_ref, gamma_ref, beta_ref, w1_ref, b1_ref, w2_ref, b2_ref, o_ref, *, hidden_chunk: int):
    """One tile of tokens of one seed: LayerNorm, then the hidden layer in chunks of ``hidden_chunk``
    columns, each chunk's ReLU output multiplied into the output accumulator at once (so the hidden
    activations stay in registers / shared memory)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl

    x = x_ref[...].astype(jnp.float32)
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = jnp.mean(xc * xc, axis=-1, keepdims=True)
    xn = (xc * jax.lax.rsqrt(var + EPS) * gamma_ref[...] + beta_ref[...]).astype(jnp.bfloat16)
    acc = jnp.zeros(x.shape, jnp.float32)
    for j in range(w1_ref.shape[-1] // hidden_chunk):  # unrolled at trace time
        cols = pl.ds(j * hidden_chunk, hidden_chunk)
        h = jnp.dot(xn, w1_ref[:, cols], preferred_element_type=jnp.float32) + b1_ref[:, cols]
        h = jnp.maximum(h, 0.0).astype(jnp.bfloat16)
        acc += jnp.dot(h, w2_ref[cols, :], preferred_element_type=jnp.float32)
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
    grad_fn = jax.jit(jax.grad(lambda *t: jnp.sum(jax.vmap(reference_mlp)(*t).astype(jnp.float32)),
                               argnums=tuple(range(7))))
    t_xla_fb, _ = _time(grad_fn, args, reps)

    variants = ([dict(block_tokens=128, hidden_chunk=128)] if quick else
                [dict(block_tokens=bt, hidden_chunk=hc, num_warps=w, num_stages=st)
                 for bt in (64, 128, 256) for hc in (64, 128) for w in (4, 8) for st in (1, 2)])
    rows = []
    for v in variants:
        row = dict(v)
        try:
            fn = jax.jit(functools.partial(fused_mlp, interpret=quick, **v))
            got = np.asarray(fn(*args).astype(jnp.float32))
            row["max_abs_diff_vs_xla"] = float(np.max(np.abs(got - want)))
            row["s_per_call"], row["first_call_s"] = _time(fn, args, reps)
            row["tflops"] = flops / row["s_per_call"] / 1e12
            row["x_xla_forward"] = t_xla / row["s_per_call"]
        except Exception as e:  # a tiling the Triton backend rejects is a result, not a crash
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        rows.append(row)
        print(row, flush=True)
    ok = [r for r in rows if "tflops" in r]
    best = max(ok, key=lambda r: r["tflops"]) if ok else None

    dev = jax.devices()[0]
    out = {"benchmark": "pallas_mlp_probe", "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
           "jax": jax.__version__, "python": platform.python_version(), "quick": quick,
           "shapes": {"seeds": seeds, "tokens_per_seed": tokens, "width": width, "hidden": hidden},
           "flops_per_call": flops, "min_bytes_per_call": min_bytes, "reps": reps,
           "xla_forward": {"s_per_call": t_xla, "first_call_s": first_xla, "tflops": flops / t_xla / 1e12},
           "xla_forward_backward": {"s_per_call": t_xla_fb, "tflops": 3 * flops / t_xla_fb / 1e12},
           "fused": rows, "best": best}
    print(f"MLP sub-block forward, {seeds} seeds x {tokens} tokens, {width}->{hidden}->{width}, bf16, "
          f"{out['device']} (jax {jax.__version__})")
    print(f"  XLA forward           {1e6 * t_xla:9.1f} us  {out['xla_forward']['tflops']:6.1f} TFLOP/s")
    print(f"  XLA forward+backward  {1e6 * t_xla_fb:9.1f} us  {out['xla_forward_backward']['tflops']:6.1f} TFLOP/s")
    if best:
        print(f"  Pallas fused forward  {1e6 * best['s_per_call']:9.1f} us  {best['tflops']:6.1f} TFLOP/s "
              f"({best['x_xla_forward']:.2f}x XLA; max |diff| {best['max_abs_diff_vs_xla']:.3g}) best of "
              f"{len(ok)} tilings: {({k: best[k] for k in v})}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=2))
        print(f"wrote {a.out}")
    return 0 if best else 1


if __name__ == "__main__":
    raise SystemExit(main())
