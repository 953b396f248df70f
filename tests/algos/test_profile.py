"""benchmarks/profile_train.py: the trace summary on a hand-made GPU-style trace, and a CPU run."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prof():
    spec = importlib.util.spec_from_file_location("profile_train", ROOT / "benchmarks" / "profile_train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _trace():
    meta = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/host:CPU"}},
            {"ph": "M", "name": "process_name", "pid": 7, "args": {"name": "/device:GPU:0"}}]
    kernels = [  # two streams; [0,10] and [5,15] overlap, then a gap, then [30,34]
        ("nvjet_tst_128x64_gemm", 0.0, 10.0, 1), ("loop_add_fusion", 5.0, 10.0, 2),
        ("rng_bit_generator_fusion", 30.0, 4.0, 1)]
    ev = [{"ph": "X", "pid": 7, "tid": tid, "name": n, "ts": ts, "dur": dur} for n, ts, dur, tid in kernels]
    ev.append({"ph": "X", "pid": 1, "tid": 1, "name": "PjitFunction(chunk)", "ts": 0.0, "dur": 40.0})  # host
    return {"traceEvents": meta + ev}


def test_summary_of_a_gpu_trace(prof):
    s = prof.summarize(_trace(), wall_s=40e-6, grad_steps=3)
    assert s["device_kernels"] == 3  # the host event is not a kernel
    assert s["device_busy_s"] == pytest.approx(19e-6)  # union: [0,15] + [30,34]
    assert s["utilisation"] == pytest.approx(19 / 40)
    assert s["kernels_per_grad_step"] == pytest.approx(1.0)
    assert s["kernel_time_per_grad_step_us"] == pytest.approx(24 / 3)
    assert {k: round(v["share"], 3) for k, v in s["by_category"].items()} == {
        "gemm": round(10 / 24, 3), "fusion": round(10 / 24, 3), "rng": round(4 / 24, 3)}
    assert s["top_kernels"][0]["calls"] == 1 and s["top_kernels"][0]["category"] in ("gemm", "fusion")


@pytest.mark.parametrize("name,category", [
    ("sm90_xmma_gemm_f32f32_tf32f32", "gemm"), ("gemm_fusion_dot_12", "gemm"), ("cutlass_80_tensorop", "gemm"),
    ("rng_bit_generator", "rng"), ("input_reduce_fusion_3", "reduction"), ("loop_multiply_fusion", "fusion"),
    ("Memcpy DtoD", "copy"), ("some_custom_kernel", "other")])
def test_kernel_categories(prof, name, category):
    assert prof.category(name) == category


def test_cpu_run_reports_wall_time_and_says_there_are_no_device_kernels(prof, tmp_path):
    r = prof.profile_one("bc", 1, 1, quick=True, log_dir=str(tmp_path / "trace"))
    assert r["steps_per_s"] > 0 and r["grad_steps"] == 100
    assert r["device_kernels"] == 0 and "no device kernels" in r["note"]


HLO = """HloModule jit_chunk

%fused_gather (param_0.1: f32[1000,4], param_1.2: s32[8,1]) -> f32[8,4] {
  %param_0.1 = f32[1000,4]{1,0} parameter(0)
  %param_1.2 = s32[8,1]{1,0} parameter(1)
  ROOT %gather.1 = f32[8,4]{1,0} gather(%param_0.1, %param_1.2), offset_dims={1}, slice_sizes={1,4}
}

%fused_add (param_0.3: f32[16], param_1.4: f32[16]) -> (f32[16], bf16[16]) {
  %param_0.3 = f32[16]{0} parameter(0)
  %param_1.4 = f32[16]{0} parameter(1)
  %add.5 = f32[16]{0} add(%param_0.3, %param_1.4)
  %convert.6 = bf16[16]{0} convert(%add.5)
  ROOT %tuple.7 = (f32[16]{0}, bf16[16]{0}) tuple(%add.5, %convert.6)
}

ENTRY %main.9 (a: f32[1000,4], i: s32[8,1], x: f32[16]) -> (f32[8,4], f32[16]) {
  %a = f32[1000,4]{1,0} parameter(0)
  %i = s32[8,1]{1,0} parameter(1)
  %x = f32[16]{0} parameter(2)
  %input_gather_fusion = f32[8,4]{1,0} fusion(%a, %i), kind=kInput, calls=%fused_gather
  %loop_add_fusion.2 = (f32[16]{0}, bf16[16]{0}) fusion(%x, %x), kind=kLoop, calls=%fused_add, metadata={scheduling_name="loop_add_fusion.2" deduplicated_name="loop_add_fusion.1"}
  %gte = f32[16]{0} get-tuple-element(%loop_add_fusion.2), index=0
  ROOT %t = (f32[8,4]{1,0}, f32[16]{0}) tuple(%input_gather_fusion, %gte)
}
"""


def test_kernel_traffic_counts_operands_and_results_and_only_the_gathered_rows(prof):
    t = prof.kernel_traffic(HLO)
    # the gather reads 8 rows of 4 floats (not the 1000-row table), its indices, and writes 8x4
    assert t["input_gather_fusion"] == 8 * 4 * 4 + 8 * 4 + 8 * 4 * 4
    # two f32[16] operands, an f32[16] and a bf16[16] result; found by every name the trace may use
    assert t["loop_add_fusion_2"] == t["loop_add_fusion_1"] == 2 * 64 + 64 + 32
    assert "gte" not in t and "t" not in t  # no kernel of their own


def test_add_traffic_reports_bandwidth_and_how_much_time_matched(prof):
    meta = [{"ph": "M", "name": "process_name", "pid": 7, "args": {"name": "/device:GPU:0"}}]
    ev = [{"ph": "X", "pid": 7, "tid": 1, "name": "loop_add_fusion_2", "ts": 0.0, "dur": 2.0},
          {"ph": "X", "pid": 7, "tid": 1, "name": "input_gather_fusion", "ts": 2.0, "dur": 1.0},
          {"ph": "X", "pid": 7, "tid": 1, "name": "cublas_gemm_kernel", "ts": 3.0, "dur": 1.0}]  # unmatched
    trace = {"traceEvents": meta + ev}
    s = prof.add_traffic(prof.summarize(trace, wall_s=4e-6, grad_steps=1), trace, prof.kernel_traffic(HLO))
    moved = 224 + 288
    assert s["traffic"]["matched_time_share"] == pytest.approx(3 / 4)
    assert s["traffic"]["bytes_per_grad_step"] == pytest.approx(moved)
    assert s["traffic"]["achieved_tb_per_s"] == pytest.approx(moved / 3e-6 / 1e12)
    top = {k["name"]: k for k in s["top_kernels"]}
    assert top["loop_add_fusion_2"]["tb_per_s"] == pytest.approx(224 / 2e-6 / 1e12)
    assert "tb_per_s" not in top["cublas_gemm_kernel"]


def test_kernel_traffic_of_a_compiled_chunk(prof):
    import jax
    import jax.numpy as jnp

    text = jax.jit(lambda x, y: jnp.tanh(x @ y).sum()).lower(jnp.ones((64, 32)), jnp.ones((32, 16))).compile().as_text()
    assert sum(prof.kernel_traffic(text).values()) > 0
