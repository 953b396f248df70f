"""Benchmark scripts at their tiny CPU sizes: dt_throughput.py's JSON with and without its baseline;
pallas_mlp_probe.py's fused kernels (Pallas interpret mode) against XLA's gradients."""

import importlib.util
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script(name="dt_throughput"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dt_throughput_writes_rates_and_its_settings(tmp_path, monkeypatch):
    script = _script()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    with_base, without = tmp_path / "base.json", tmp_path / "nobase.json"
    assert script.main(["--quick", "--seeds", "2", "--reps", "1", "--baseline-steps", "3",
                        "--out", str(with_base)]) == 0
    assert script.main(["--quick", "--seeds", "1,2", "--reps", "1", "--no-baseline",
                        "--hp", "activation_dtype=bfloat16", "--out", str(without)]) == 0
    a, b = json.loads(with_base.read_text()), json.loads(without.read_text())
    # the XLA options a sweep ran under are part of its record
    assert a["xla_flags"] == b["xla_flags"] == "--xla_cpu_enable_fast_math=false"
    assert a["unfused"]["steps_per_s"] > 0 and a["fused"][0]["speedup_vs_unfused"] > 0
    assert b["unfused"] is None and b["activation_dtype"] == "bfloat16"
    assert [r["seeds"] for r in b["fused"]] == [1, 2]
    for r in a["fused"] + b["fused"]:
        assert r["seed_steps_per_s"] > 0 and math.isfinite(r["final_loss"])
    assert all(r["speedup_vs_unfused"] is None for r in b["fused"])


def test_pallas_mlp_probe_kernels_match_xla(tmp_path):
    """The probe's fused MLP sub-block (forward, and the two backward kernels under jax.custom_vjp) gives
    XLA's output and every gradient to bf16 precision, with several token tiles per seed and the weight
    gradients summed over two token splits."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    probe = _script("pallas_mlp_probe")
    args = probe.make_inputs(2, 256, 128, 256, key=3)
    want = jax.vmap(probe.reference_mlp)(*args).astype(jnp.float32)
    got = probe.fused_mlp(*args, block_tokens=64, hidden_chunk=128, interpret=True).astype(jnp.float32)
    np.testing.assert_allclose(got, want, atol=0.02 * float(jnp.max(jnp.abs(want))))
    c = jax.random.normal(jax.random.PRNGKey(4), want.shape)
    mlp = probe.trainable_fused_mlp(dict(block_tokens=64, hidden_chunk=128, interpret=True),
                                    dict(block_tokens=64, hidden_chunk=64, dw_block_tokens=64, dw_hidden_chunk=128,
                                         dw_token_splits=2, interpret=True))
    every = tuple(range(7))
    grads = jax.grad(lambda *t: jnp.sum(mlp(*t).astype(jnp.float32) * c), every)(*args)
    ref = jax.grad(lambda *t: jnp.sum(jax.vmap(probe.reference_mlp)(*t).astype(jnp.float32) * c), every)(*args)
    for name, g, r in zip(("x", "gamma", "beta", "w1", "b1", "w2", "b2"), grads, ref):
        g, r = np.asarray(g, np.float32), np.asarray(r, np.float32)
        assert g.shape == r.shape, name
        scale = float(np.max(np.abs(r)))
        assert scale > 0 and float(np.max(np.abs(g - r))) <= 0.02 * scale, name
    # the script end to end: every variant ran and agreed
    out = tmp_path / "probe.json"
    assert probe.main(["--quick", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["best"]["max_rel_diff_vs_xla"] < 0.02 and rec["forward_backward"]["max_rel_diff_vs_xla"] < 0.02
