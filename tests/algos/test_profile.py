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
