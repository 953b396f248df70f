"""The headline tables of benchmarks/RESULTS.md from the folder one ``--phase bench`` run wrote.

``bash benchmarks/run_gpu_benchmarks.sh --phase bench`` writes ``train_f32.json``, ``train_bf16_mu.json``,
``dt_f32.json``, ``dt_bf16_act.json`` and ``uav_speed.json`` into ``<out>/bench/``. This script turns them
into the page's three headline tables (training throughput, DT throughput, UAV env throughput), each
printed between the HTML comments that delimit it on the page, with the card and the date in every
row. ``--write PAGE`` replaces those blocks of the page in place (one atomic write); the rest of the
page, the peers' figures and the notes are left as they are.

Usage::

    python benchmarks/headline_table.py benchmark-results/bench                     # print the tables
    python benchmarks/headline_table.py benchmark-results/bench --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from pathlib import Path

try:
    import offrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offrl.atomic import atomic_file
from offrl.errors import OffrlError

ALGO_NAMES = {"td3bc": "TD3+BC", "iql": "IQL", "cql": "CQL", "bc": "BC"}
BASELINE = "baseline: unfused per-step loop"
FUSED = "fused jit(vmap(scan))"
BLOCKS = ("training", "dt", "uav")
FILES = {"training": ("train_f32.json", "train_bf16_mu.json"), "dt": ("dt_f32.json", "dt_bf16_act.json"),
         "uav": ("uav_speed.json",)}


def begin_marker(block: str) -> str:
    return f"<!-- headline:{block} (benchmarks/headline_table.py writes this table) -->"


def end_marker(block: str) -> str:
    return f"<!-- /headline:{block} -->"


def card_name(device: str) -> str:
    """The card as the page names it: 'gpu:NVIDIA H200' -> 'H200', 'NVIDIA H100 80GB HBM3' -> 'H100'
    (memory size and type dropped); any CPU -> 'CPU'."""
    name = device.split(":", 1)[1] if device.startswith(("gpu:", "cpu:", "cuda:")) else device
    name = name.strip() or device
    if name.lower().startswith("cpu") or device.startswith("cpu"):
        return "CPU"
    words = [w for w in name.removeprefix("NVIDIA ").split() if not re.fullmatch(r"\d+GB|HBM\d*e?", w)]
    return " ".join(words) or name


def _num(x: float) -> str:
    return f"{x:,.0f}"


def _ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def training_table(f32: dict, bf16: dict | None, stamp: str) -> list[str]:
    """Rows per algorithm: the unfused loop, the fused chunk at each seed count, bf16 at the largest."""
    rows = ["| algo | configuration | seeds | steps/s | seed-steps/s | x unfused loop | card, date |",
            "|---|---|---:|---:|---:|---:|---|"]
    card = card_name(f32["info"]["device_kind"])
    results = f32["results"] + (bf16["results"] if bf16 else [])
    for algo in dict.fromkeys(r["algo"] for r in f32["results"]):
        mine = [r for r in results if r["algo"] == algo]
        base = next((r for r in mine if r["structure"] == BASELINE), None)
        label = ALGO_NAMES.get(algo, algo)
        if base:
            rows.append(f"| {label} | unfused per-step loop, float32 (baseline) | 1 | {_num(base['steps_per_s'])} "
                        f"| {_num(base['seed_steps_per_s'])} | 1.00 | {card}, {stamp} |")
        for r in mine:
            if r["structure"] != FUSED:
                continue
            config = "fused, float32 (defaults)" if r["dtype"] == "float32" else \
                "fused, bf16 matmuls + bf16 first moments"
            x = _ratio(r["seed_steps_per_s"] / base["steps_per_s"]) if base else ""
            rows.append(f"| {label} | {config} | {r['seeds']} | {_num(r['steps_per_s'])} "
                        f"| {_num(r['seed_steps_per_s'])} | {x} | {card}, {stamp} |")
    return rows


def dt_table(f32: dict, act: dict | None, stamp: str) -> list[str]:
    """The unfused loop, then float32 defaults and bf16 matmuls + activations at each seed count."""
    rows = ["| configuration | seeds | steps/s | seed-steps/s | x unfused loop | card, date |",
            "|---|---:|---:|---:|---:|---|"]
    card = card_name(f32["device"])
    base = f32.get("unfused")
    if base:
        rows.append(f"| unfused per-step loop, float32 (baseline) | 1 | {_num(base['steps_per_s'])} "
                    f"| {_num(base['seed_steps_per_s'])} | 1.00 | {card}, {stamp} |")
    for rec, config in ((f32, "fused, float32 (defaults)"), (act, "fused, bf16 matmuls + bf16 activations")):
        # rows with concurrent kernels off (--serial) are the dt phase's, not the headline
        for r in [r for r in (rec or {}).get("fused", []) if r.get("concurrent_kernels", True)]:
            x = _ratio(r["seed_steps_per_s"] / base["steps_per_s"]) if base else ""
            rows.append(f"| {config} | {r['seeds']} | {_num(r['steps_per_s'])} | {_num(r['seed_steps_per_s'])} "
                        f"| {x} | {card}, {stamp} |")
    return rows


def uav_table(uav: dict, stamp: str) -> list[str]:
    rows = ["| backend | parallel envs | env steps/s | x NumPy (same host) | card, date |", "|---|---:|---:|---:|---|"]
    card = card_name(uav["meta"]["device"])
    for r in uav["results"]:
        backend = "NumPy reference (host CPU)" if r["backend"] == "numpy" else f"JAX ({card})"
        rows.append(f"| {backend} | {r['n_envs']:,} | {_num(r['env_steps_per_s'])} "
                    f"| {_ratio(r['speedup_vs_numpy'])} | {card}, {stamp} |")
    return rows


def run_date(folder: Path) -> str:
    """The run's date: the last header of ``machine.txt`` beside the phase folder, else the JSON files' mtime."""
    info = folder.parent / "machine.txt"
    if info.is_file():
        heads = [ln for ln in info.read_text().splitlines() if ln.startswith("## ")]
        if heads:
            return heads[-1][3:13]
    times = [p.stat().st_mtime for p in folder.glob("*.json")]
    return _dt.datetime.fromtimestamp(max(times), _dt.timezone.utc).strftime("%Y-%m-%d") if times else "undated"


def make_blocks(folder: Path, date: str | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """({block: table lines} for every block whose JSON is there, [missing file names])."""
    if not folder.is_dir():
        raise OffrlError(f"{folder} is not a folder: give the bench phase's folder, e.g. benchmark-results/bench")
    stamp = date or run_date(folder)

    def read(name: str) -> dict | None:
        p = folder / name
        return json.loads(p.read_text()) if p.is_file() else None

    loaded = {name: read(name) for names in FILES.values() for name in names}
    missing = [name for name, rec in loaded.items() if rec is None]
    makers = {"training": training_table, "dt": dt_table, "uav": uav_table}
    blocks = {}
    for block, names in FILES.items():
        if loaded[names[0]] is None:
            continue
        try:
            blocks[block] = makers[block](*(loaded[n] for n in names), stamp)
        except (KeyError, TypeError, IndexError) as e:
            raise OffrlError(f"{' / '.join(names)} in {folder}: not what the bench phase writes "
                             f"({type(e).__name__}: {e})") from e
    if not blocks:
        raise OffrlError(f"no bench results in {folder} (expected {', '.join(loaded)})")
    return blocks, missing


def render(block: str, lines: list[str]) -> str:
    return "\n".join([begin_marker(block), *lines, end_marker(block)])


def replace_blocks(page: str, blocks: dict[str, list[str]]) -> str:
    """The page with each given block's marked table replaced; an absent or broken marker pair is an error."""
    for block, lines in blocks.items():
        start, end = page.find(begin_marker(block)), page.find(end_marker(block))
        if start < 0 or end < start:
            raise OffrlError(f"the page has no '{begin_marker(block)}' ... '{end_marker(block)}' block")
        page = page[:start] + render(block, lines) + page[end + len(end_marker(block)):]
    return page


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="the bench phase's folder (<out>/bench)")
    p.add_argument("--date", default=None, help="date in the rows (default: from <out>/machine.txt)")
    p.add_argument("--write", type=Path, default=None, metavar="PAGE",
                   help="replace the marked headline tables of this page (e.g. benchmarks/RESULTS.md)")
    args = p.parse_args(argv)
    try:
        blocks, missing = make_blocks(args.folder, args.date)
        if args.write:
            page = replace_blocks(args.write.read_text(), blocks)
            with atomic_file(args.write) as tmp:
                tmp.write_text(page)
    except (OffrlError, OSError, KeyError, json.JSONDecodeError) as e:
        print(f"headline_table.py: {e}", file=sys.stderr)
        return 2
    for block in BLOCKS:
        if block in blocks:
            print(render(block, blocks[block]) + "\n")
    if missing:
        print(f"not in {args.folder}: {', '.join(missing)} (their rows are left out)", file=sys.stderr)
    if args.write:
        print(f"updated {args.write}: {', '.join(blocks)}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error of this script
        sys.stderr.close()
        sys.exit(0)
