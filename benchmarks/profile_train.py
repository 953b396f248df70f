"""Where the time of a fused training chunk goes: a device-kernel breakdown from a JAX profiler trace.

For each algorithm and seed count: build the fused trainer chunk on synthetic data (the shapes of
``train_throughput.py`` / ``dt_throughput.py``), compile and warm it up, then run ``--chunks`` calls
under ``jax.profiler`` and read the trace the profiler writes (``*.trace.json.gz``). Reported:

- wall time of the traced calls and the device's busy time (union of kernel intervals over all
  streams): their ratio is the utilisation; the rest is launch gaps and host work;
- kernel launches per gradient step;
- time by kernel category (GEMM, RNG, reduction, elementwise/other fusion, copy) and the top kernels;
- bytes each kernel moves (its operands and results, read from the compiled HLO) and so the memory
  bandwidth it achieves: near the card's HBM peak (H100 SXM: 3.35 TB/s) means the step is bound by
  memory traffic, and only moving fewer bytes (fusing across kernels, narrower dtypes) speeds it up.

The chunk is compiled with ``concurrent=False`` (kernels one after another, XLA's default): with
``TrainConfig.concurrent_kernels`` the loop runs as one CUDA graph whose kernels the trace does not
list one by one. The breakdown is then of the serial step; overlapping independent kernels is what
concurrent kernels add on top (train_throughput.py's ``serial`` part measures the difference).

On a CPU the trace holds host events only; the script then says so and reports the wall time.

Usage: python benchmarks/profile_train.py [--quick] [--algos td3bc,iql,dt] [--seeds 1,32]
       [--hp compute_dtype=bfloat16] [--out profile.json]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# kernel-name patterns, first match wins (names as XLA/cuBLAS/Triton emit them on NVIDIA GPUs)
CATEGORIES = (
    ("gemm", re.compile(r"gemm|cutlass|cublas|xmma|nvjet|matmul|\bdot|_dot|triton.*dot")),
    ("rng", re.compile(r"rng|threefry|philox|random")),
    ("copy", re.compile(r"memcpy|memset|copy|transpose")),
    ("reduction", re.compile(r"reduce|reduction")),
    ("fusion", re.compile(r"fusion|loop_|input_")),
)


def category(kernel_name: str) -> str:
    """The category of one kernel name: gemm, rng, copy, reduction, fusion or other."""
    low = kernel_name.lower()
    for name, pattern in CATEGORIES:
        if pattern.search(low):
            return name
    return "other"


def _kernel_category(event: dict) -> str:
    # the kernel's own name first, then what XLA attached to it (HLO op, long name)
    return category(" ".join([event["name"], *map(str, event.get("args", {}).values())]))


def _union_us(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def device_kernels(trace: dict) -> list[dict]:
    """The complete events of a Chrome-format trace that ran on a GPU/TPU (not host events)."""
    events = trace.get("traceEvents", [])
    names = {e["pid"]: e.get("args", {}).get("name", "") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    device_pids = {pid for pid, n in names.items() if re.search(r"/device:(GPU|TPU)", n)}
    return [e for e in events if e.get("ph") == "X" and e.get("pid") in device_pids and "dur" in e]


def summarize(trace: dict, wall_s: float, grad_steps: int, top: int = 12) -> dict:
    """Device-kernel breakdown of a Chrome-format trace (``{"traceEvents": [...]}``)."""
    kernels = device_kernels(trace)
    out: dict = {"wall_s": wall_s, "grad_steps": grad_steps, "device_kernels": len(kernels)}
    if not kernels:
        out["note"] = "no device kernels in the trace (CPU backend: host events only)"
        return out
    busy_us = _union_us([(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in kernels])
    by_cat: dict[str, float] = collections.defaultdict(float)
    by_name: dict[str, list] = {}
    for e in kernels:
        dur = float(e["dur"])
        cat = _kernel_category(e)
        by_cat[cat] += dur
        rec = by_name.setdefault(e["name"], [0, 0.0, cat])
        rec[0] += 1
        rec[1] += dur
    kernel_us = sum(by_cat.values())
    out.update({
        "device_busy_s": busy_us / 1e6,
        "utilisation": busy_us / 1e6 / wall_s if wall_s > 0 else None,
        "kernels_per_grad_step": len(kernels) / max(grad_steps, 1),
        "kernel_time_per_grad_step_us": kernel_us / max(grad_steps, 1),
        "mean_kernel_us": kernel_us / len(kernels),
        "by_category": {k: {"us": v, "share": v / kernel_us} for k, v in
                        sorted(by_cat.items(), key=lambda kv: -kv[1])},
        "top_kernels": [{"name": n[:120], "calls": c, "us": us, "share": us / kernel_us, "category": cat}
                        for n, (c, us, cat) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:top]],
        # every kernel, so that its traffic can be recomputed later from the saved HLO
        "kernels": {n: [c, round(us, 3)] for n, (c, us, _) in sorted(by_name.items(), key=lambda kv: -kv[1][1])},
    })
    return out


# ---------------------------------------------------------------- bytes moved per kernel, from the HLO
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f16": 2, "bf16": 2, "s16": 2, "u16": 2, "f32": 4, "s32": 4,
                "u32": 4, "f64": 8, "s64": 8, "u64": 8}
_SHAPE = re.compile(r"\b(" + "|".join(_DTYPE_BYTES) + r")\[([0-9,]*)\]")
_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\(.*?\)|\S+) ([\w\-]+)\((.*)$")
_HEADER = re.compile(r"^(?:ENTRY )?%([\w.\-]+) .*\{\s*$")
# a fused parameter read only as the sliced operand of these is read in part: count what they return
_PARTIAL_READS = {"gather", "dynamic-slice", "slice"}


def shape_bytes(type_text: str) -> int:
    """Bytes of every array shape in an HLO type (a tuple sums its elements)."""
    total = 0
    for dtype, dims in _SHAPE.findall(type_text):
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _DTYPE_BYTES[dtype]
    return total


def _operands(rest: str) -> list[str]:
    depth, i = 1, 0
    while depth and i < len(rest):
        depth += {"(": 1, ")": -1}.get(rest[i], 0)
        i += 1
    return re.findall(r"%([\w.\-]+)", rest[: i - 1])


def kernel_traffic(hlo_text: str) -> dict[str, int]:
    """Bytes each kernel of an optimised HLO module reads and writes, by kernel name.

    A fusion moves its operands and results through device memory once each (what it keeps on chip
    in between is free), so operand bytes + result bytes is its traffic; a fused parameter that is
    only gathered or sliced (a batch from the dataset table) counts as what the gather/slice returns.
    Names are the instruction name and its ``scheduling_name``/``deduplicated_name`` with dots as
    underscores, the way kernels are named in profiler traces. Workspace results of library calls
    (u8/s8 arrays) are left out.
    """
    comps: dict[str, dict[str, tuple]] = {}
    cur = None
    for line in hlo_text.splitlines():
        head = _HEADER.match(line)
        if head and not line.startswith(" "):
            cur = comps.setdefault(head.group(1), {})
            continue
        m = _INSTR.match(line) if cur is not None else None
        if m:
            cur[m.group(1)] = (m.group(2), m.group(3), _operands(m.group(4)), line)

    def param_reads(comp: str) -> dict[int, int]:
        body = comps.get(comp, {})
        users: dict[str, list] = collections.defaultdict(list)
        for name, (_, _, ops, _) in body.items():
            for o in ops:
                users[o].append(name)
        reads = {}
        for name, (typ, op, _, line) in body.items():
            if op != "parameter":
                continue
            idx = int(re.search(r"parameter\((\d+)\)", line).group(1))
            us = users.get(name, [])
            if us and all(body[u][1] in _PARTIAL_READS and body[u][2][:1] == [name] for u in us):
                reads[idx] = sum(shape_bytes(body[u][0]) for u in us)
            else:
                reads[idx] = shape_bytes(typ)
        return reads

    # kernels are the instructions of the entry and control-flow computations; what a fusion or a
    # library call wraps runs inside its kernel
    wrapped = {c for body in comps.values() for (_, op, _, line) in body.values() if op in ("fusion", "custom-call")
               for c in re.findall(r"calls=%([\w.\-]+)", line)}
    out: dict[str, int] = {}
    for comp, body in comps.items():
        if comp in wrapped:
            continue
        for name, (typ, op, ops, line) in body.items():
            if op not in ("fusion", "custom-call", "copy", "transpose", "reduce", "gather", "scatter", "sort",
                          "dynamic-slice", "dynamic-update-slice", "slice", "concatenate"):
                continue
            called = re.search(r"calls=%([\w.\-]+)", line)
            if op == "fusion" and called:
                reads = param_reads(called.group(1))
                read = sum(reads.get(i, shape_bytes(body[o][0]) if o in body else 0) for i, o in enumerate(ops))
            elif op in _PARTIAL_READS:  # a standalone gather/slice reads what it returns, plus its indices
                read = shape_bytes(typ) + sum(shape_bytes(body[o][0]) for o in ops[1:] if o in body)
            else:
                read = sum(shape_bytes(body[o][0]) for o in ops if o in body)
            written = sum(shape_bytes(f"{d}[{dims}]") for d, dims in _SHAPE.findall(typ) if d not in ("u8", "s8"))
            keys = {name, *re.findall(r'(?:scheduling|deduplicated)_name="([^"]+)"', line)}
            for k in keys:
                out[k.replace(".", "_")] = read + written
    return out


def add_traffic(summary: dict, trace: dict, traffic: dict[str, int]) -> dict:
    """Add bytes moved and achieved bandwidth (from :func:`kernel_traffic`) to a :func:`summarize` result.

    A kernel is matched by its trace name or the HLO op the profiler attached to it; the share of
    kernel time that matched is reported, so an unmatched remainder is visible, not hidden.
    """
    matched_us = total_us = moved = 0.0
    by_name: dict[str, int] = {}  # kernel name (as in top_kernels) -> bytes per call
    for e in device_kernels(trace):
        total_us += float(e["dur"])
        args = e.get("args", {})
        for cand in (e["name"], args.get("hlo_op", ""), args.get("long_name", "")):
            key = str(cand).split(" ")[0].replace(".", "_").lstrip("%")
            if key in traffic:
                matched_us += float(e["dur"])
                moved += traffic[key]
                by_name[e["name"][:120]] = traffic[key]
                break
    if not total_us:
        return summary
    steps = max(summary["grad_steps"], 1)
    summary["traffic"] = {
        "matched_time_share": matched_us / total_us,
        "bytes_per_grad_step": moved / steps,
        "achieved_tb_per_s": moved / matched_us / 1e6 if matched_us else None,
    }
    for k in summary.get("top_kernels", []):
        b = by_name.get(k["name"])
        if b is not None:
            k["bytes_per_call"] = b
            k["tb_per_s"] = b * k["calls"] / k["us"] / 1e6 if k["us"] else None
    return summary


def _latest_trace(log_dir: str) -> dict:
    paths = sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.trace.json.gz")),
                   key=os.path.getmtime)
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no *.trace.json.gz under {log_dir}")
    with gzip.open(paths[-1]) as f:
        return json.load(f)


def _setup(name: str, quick: bool, overrides):
    """(algo, cfg, spec, device data, steps per chunk) for ``name`` on synthetic data."""
    import importlib.util

    import jax

    from offrl import algos
    from offrl.train import parse_overrides

    here = Path(__file__).resolve().parent
    algo = algos.get(name)
    if name in ("dt", "modt"):
        spec_ = importlib.util.spec_from_file_location("dt_throughput", here / "dt_throughput.py")
        mod = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(mod)
        size = mod.QUICK if quick else mod.FULL
        ds = mod.synthetic_dataset(size["episodes"], size["ep_len"], size["obs_dim"], size["act_dim"])
        cfg = algo.make_config(**{**size["hp"], **parse_overrides(algo, list(overrides))})
        chunk = size["chunk"]
    else:
        spec_ = importlib.util.spec_from_file_location("train_throughput", here / "train_throughput.py")
        mod = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(mod)
        ds = mod.synthetic_dataset(20_000 if quick else 2_000_000)
        cfg = algo.make_config(**parse_overrides(algo, list(overrides)))
        chunk = 100 if quick else 1000
    cfg = algo.resolve(cfg, ds.spec)
    return algo, cfg, ds.spec, jax.device_put(algo.prepare(ds, cfg)), chunk


def profile_one(name: str, seeds: int, chunks: int, quick: bool, overrides=(), log_dir: str | None = None,
                setup=None, hlo_dir: str | None = None) -> dict:
    """Trace ``chunks`` fused calls of ``name`` at ``seeds`` seeds and summarise the device kernels.

    ``setup`` is :func:`_setup`'s result, to share one dataset between seed counts. ``hlo_dir``: also
    write the chunk's optimised HLO there (the kernel names in the trace are its fusion names).
    """
    import jax

    from offrl.train import init_states, make_chunk_fn

    algo, cfg, spec, data, chunk = setup or _setup(name, quick, overrides)
    calls = max(chunk // cfg.steps_per_call, 1)
    states, keys = init_states(algo, cfg, spec, list(range(seeds)), data)
    # compiled ahead of time: its optimised HLO names the kernels in the trace and their operands.
    # Kernels one after another (concurrent=False): the trace does not list the kernels inside the
    # CUDA graph that concurrent kernels build (H100, jax 0.11.2: 180 kernel events for 2,000 steps)
    fn = make_chunk_fn(algo, cfg, spec, calls, concurrent=False).lower(states, keys, data).compile()
    hlo = fn.as_text() or ""
    if hlo_dir:
        Path(hlo_dir).mkdir(parents=True, exist_ok=True)
        (Path(hlo_dir) / f"{name}_{seeds}seeds.hlo.txt").write_text(hlo)
    for _ in range(2):  # two warm calls
        states, keys, m = fn(states, keys, data)
    jax.block_until_ready(m)
    log_dir = log_dir or tempfile.mkdtemp(prefix="offrl-profile-")
    jax.profiler.start_trace(log_dir)
    t0 = time.perf_counter()
    for _ in range(chunks):
        states, keys, m = fn(states, keys, data)
    jax.block_until_ready((states, m))
    wall = time.perf_counter() - t0
    jax.profiler.stop_trace()
    steps = chunks * calls * cfg.steps_per_call
    trace = _latest_trace(log_dir)
    out = add_traffic(summarize(trace, wall, steps), trace, kernel_traffic(hlo))
    out.update({"algo": name, "seeds": seeds, "dtype": getattr(cfg, "compute_dtype", "float32"),
                "steps_per_s": steps / wall, "seed_steps_per_s": seeds * steps / wall, "trace_dir": log_dir})
    return out


def _print(r: dict) -> None:
    head = (f"{r['algo']:5s} {r['dtype']:8s} seeds={r['seeds']:2d}  {r['steps_per_s']:8.0f} steps/s "
            f"{r['seed_steps_per_s']:9.0f} seed-steps/s")
    if "note" in r:
        print(f"{head}  ({r['note']})", flush=True)
        return
    cats = ", ".join(f"{k} {v['share']:.0%}" for k, v in r["by_category"].items())
    print(f"{head}  device busy {r['utilisation']:.0%} of wall; {r['kernels_per_grad_step']:.0f} kernels/step, "
          f"mean {r['mean_kernel_us']:.1f} us; {cats}", flush=True)
    t = r.get("traffic")
    if t and t["achieved_tb_per_s"]:
        print(f"      memory traffic {t['bytes_per_grad_step'] / r['seeds'] / 1e6:.1f} MB per seed-step, "
              f"{t['achieved_tb_per_s']:.2f} TB/s while kernels run ({t['matched_time_share']:.0%} of kernel "
              f"time matched to the HLO)", flush=True)
    for k in r["top_kernels"][:8]:
        bw = f"{k['tb_per_s']:5.2f} TB/s" if k.get("tb_per_s") else " " * 10
        print(f"      {k['share']:5.1%} {k['calls']:6d}x {k['us'] / k['calls']:7.1f} us {bw} {k['category']:9s} "
              f"{k['name'][:80]}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a CPU check")
    ap.add_argument("--algos", default="td3bc,iql,dt")
    ap.add_argument("--seeds", default="1,32", help="comma-separated seed counts")
    ap.add_argument("--chunks", type=int, default=3, help="fused calls traced per configuration")
    ap.add_argument("--hp", nargs="*", default=(), help="algorithm overrides name=value")
    ap.add_argument("--out", default=None)
    ap.add_argument("--hlo-dir", default=None, help="also write each chunk's optimised HLO text here")
    args = ap.parse_args(argv)
    import jax

    info = {"device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "hp": list(args.hp), "quick": args.quick}
    print(json.dumps(info), flush=True)
    results, failed = [], []
    for name in args.algos.split(","):
        setup = None
        for n in (int(s) for s in args.seeds.split(",")):
            try:
                setup = setup or _setup(name, args.quick, args.hp)
                r = profile_one(name, n, args.chunks, args.quick, args.hp, setup=setup, hlo_dir=args.hlo_dir)
            except Exception as e:  # keep the other configurations
                print(f"{name} seeds={n}: FAILED {e!r}", file=sys.stderr, flush=True)
                failed.append(f"{name}:{n}")
                continue
            results.append(r)
            _print(r)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
