"""``offrl report``: a markdown table and PNG plots from ``results/`` folders.

Usage::

    offrl report results/                       # every run under results/
    offrl report results/run_a results/run_b --out report/ --reference corl-last

Writes ``<out>/report.md`` (per dataset x algorithm last/best scores over seeds; aggregate IQM, mean,
median and optimality gap with stratified-bootstrap CIs per algorithm; probability of improvement
between algorithms), ``<out>/summary.json`` with the same numbers, and PNGs: one learning-curve plot
per dataset, and where they compare something ``aggregates.png`` and ``improvement.png`` (two or more
algorithms) and ``profiles.png`` (two or more algorithms or datasets).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from offrl.errors import ConfigError
from offrl.evaluation import stats
from offrl.evaluation.results import Group, group_runs, load_reference, load_runs, match_key
from offrl.logging import atomic_write_json

__all__ = ["ReportArgs", "make_report", "main"]


@dataclasses.dataclass(frozen=True)
class ReportArgs:
    """Make a markdown + PNG report from training results."""

    paths: tuple[Path, ...]
    """Run folders, or folders searched recursively for run folders."""
    out: Path = Path("report")
    """Output folder for report.md, summary.json and the PNGs."""
    reference: str | None = None
    """Published-score source id from published_scores.csv (e.g. corl-last) shown side by side."""
    reference_csv: Path | None = None
    """Path of published_scores.csv (default: found automatically, see docs/evaluation.md)."""
    aggregate_on: Literal["last", "best"] = "last"
    """Which per-seed score the aggregates, profiles and P(improvement) use."""
    reps: int = 50_000
    """Bootstrap replicates for aggregate and P(improvement) CIs."""
    profile_reps: int = 2_000
    """Bootstrap replicates for performance-profile and learning-curve CIs."""
    ci: float = 0.95
    """Confidence level of every interval."""
    gamma: float = 100.0
    """Optimality-gap threshold (100 for normalized scores on the x100 scale)."""
    seed: int = 0
    """Bootstrap seed."""
    plots: bool = True
    """Write the PNG plots."""


def _pm(values: np.ndarray) -> str:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return "–"
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ± {v.std():.2f}"


def _ci(point: float, lo: float, hi: float) -> str:
    return f"{point:.2f} [{lo:.2f}, {hi:.2f}]"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "dataset"


def _aggregate_matrices(
    groups: dict[tuple[str, str], Group], which: str
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Per algorithm a ``(runs, tasks)`` matrix of normalized scores over the datasets every
    algorithm has, truncated to the smallest seed count so the matrices are rectangular.

    Only normalized scores are aggregated: raw returns of different tasks are on unrelated scales.
    Returns ``(matrices, datasets, notes)``.
    """
    notes: list[str] = []
    algos = sorted({a for _, a in groups})
    per_algo: dict[str, dict[str, np.ndarray]] = {a: {} for a in algos}
    for (d, a), g in groups.items():
        if g.score_kind != "normalized_score":
            continue
        v = getattr(g, which)
        v = v[~np.isnan(v)]
        if len(v):
            per_algo[a][d] = v
    per_algo = {a: m for a, m in per_algo.items() if m}
    if not per_algo:
        return {}, [], ["No normalized scores: aggregates need datasets with reference scores."]
    common = sorted(set.intersection(*(set(m) for m in per_algo.values())))
    all_ds = sorted(set.union(*(set(m) for m in per_algo.values())))
    if not common:
        return {}, [], ["The algorithms share no dataset with normalized scores; no aggregates."]
    if len(common) < len(all_ds):
        notes.append(
            "Aggregates use only the datasets every algorithm has: left out "
            + ", ".join(f"`{d}`" for d in all_ds if d not in common)
            + "."
        )
    n = min(len(m[d]) for m in per_algo.values() for d in common)
    if any(len(m[d]) > n for m in per_algo.values() for d in common):
        notes.append(f"Seed counts differ; aggregates use the first {n} seed(s) of each dataset.")
    mats = {a: np.column_stack([m[d][:n] for d in common]) for a, m in per_algo.items()}
    return mats, common, notes


def make_report(args: ReportArgs) -> Path:
    """Build the report described by ``args``; returns the path of ``report.md``."""
    if not args.paths:
        raise ConfigError("paths: give at least one results folder")
    if not 0 < args.ci < 1:
        raise ConfigError(f"ci must be in (0, 1), got {args.ci}")
    if args.reps < 1 or args.profile_reps < 1:
        raise ConfigError("reps and profile_reps must be >= 1")
    reference = load_reference(args.reference, args.reference_csv) if args.reference else None
    runs = load_runs(args.paths)
    groups = group_runs(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pct = f"{args.ci:.0%}"
    summary: dict = {"runs": [], "table": [], "aggregates": {}, "probability_of_improvement": {}}

    md = ["# offrl report", ""]
    n_incomplete = sum(not r.complete for r in runs)
    md.append(
        f"{len(runs)} run(s), {len(groups)} dataset x algorithm pair(s)"
        + (f", {n_incomplete} incomplete (read from metrics.jsonl)" if n_incomplete else "")
        + ". Scores are normalized scores (x100) where the dataset has reference scores, else raw"
        " returns; mean ± std (population std) over seeds. *last* = score at the final evaluation,"
        " *best* = best evaluation over training (optimistic: it selects on the test signal)."
    )
    md.append("")

    # ---------------------------------------------------------------- per-dataset table
    header = ["dataset", "algo", "score", "seeds", "last", "best"]
    if reference is not None:
        header.append(f"{args.reference}")
    header.append("status")
    md += ["## Per dataset", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (d, a), g in groups.items():
        kind = {"normalized_score": "normalized", "return": "return", None: "–"}[g.score_kind]
        if g.complete:
            status = "complete"
        else:
            steps = [r.last_step for r in g.runs if not r.complete]
            status = "incomplete" + (f" (step {max(s for s in steps if s is not None)})" if any(
                s is not None for s in steps) else " (no eval yet)")
        row = [f"`{d}`", a, kind, str(len(g.seeds)), _pm(g.last), _pm(g.best)]
        ref_entry = None
        if reference is not None:
            ref_entry = reference.get(match_key(g.algo, d))
            row.append("–" if ref_entry is None else f"{ref_entry[0]:.2f} ± {ref_entry[1]:.2f}")
        row.append(status)
        md.append("| " + " | ".join(row) + " |")
        summary["table"].append(
            {
                "dataset": d, "algo": a, "algorithm": g.algo, "score": g.score_kind, "seeds": g.seeds,
                "last": g.last, "best": g.best, "complete": g.complete,
                "runs": [r.run_id for r in g.runs],
                **({"reference": {"source": args.reference, "mean": ref_entry[0], "std": ref_entry[1]}}
                   if ref_entry else {}),
            }
        )
    md.append("")
    for r in runs:
        summary["runs"].append({"run_id": r.run_id, "path": str(r.path), "algo": r.algo, "dataset": r.dataset,
                                "seeds": r.seeds, "complete": r.complete, "wall_time_s": r.wall_time_s})

    # ---------------------------------------------------------------- aggregates
    mats, tasks, notes = _aggregate_matrices(groups, args.aggregate_on)
    md += ["## Aggregates", ""]
    if mats:
        n_runs = next(iter(mats.values())).shape[0]
        md.append(
            f"Normalized *{args.aggregate_on}* scores over {len(tasks)} dataset(s) x {n_runs} seed(s); "
            f"{pct} stratified-bootstrap percentile CIs ({args.reps} replicates, runs resampled within "
            f"each dataset). IQM pools all runs x datasets; optimality gap uses gamma = {args.gamma:g} "
            "(lower is better)."
        )
        md.append("")
    md += [f"- {n}" for n in notes]
    if notes:
        md.append("")
    figures: list[tuple[str, str]] = []
    if mats:
        points, cis = stats.interval_estimates(
            mats, lambda s: stats.aggregate_metrics(s, args.gamma), reps=args.reps, ci=args.ci, seed=args.seed
        )
        names = list(stats.AGGREGATE_NAMES)
        order = [2, 0, 1, 3]  # IQM first: the recommended headline aggregate
        md += ["| algo | " + " | ".join(names[j] for j in order) + " |", "|---|" + "---|" * len(order)]
        for a in mats:
            md.append(f"| {a} | " + " | ".join(_ci(points[a][j], cis[a][0, j], cis[a][1, j]) for j in order) + " |")
            summary["aggregates"][a] = {
                names[j]: {"point": points[a][j], "lower": cis[a][0, j], "upper": cis[a][1, j]} for j in order
            }
        summary["aggregate_tasks"] = tasks
        md.append("")
        # Figures that carry no information are left out: with one algorithm the aggregate figure is a
        # single interval filling its axis, and on one dataset too the score distribution is a few
        # seeds' steps; the table above holds the same numbers.
        draw_aggregates = len(mats) > 1
        draw_profiles = len(mats) > 1 or len(tasks) > 1
        left_out = [n for n, drawn in (("aggregate", draw_aggregates), ("score-distribution", draw_profiles))
                    if not drawn]
        if args.plots and left_out:
            md += [f"One algorithm{'' if draw_profiles else ' on one dataset'}: the {' and '.join(left_out)} "
                   f"figure{'s' if len(left_out) > 1 else ''} would show nothing the table above does not, so "
                   f"{'they are' if len(left_out) > 1 else 'it is'} left out.", ""]
        if args.plots and draw_aggregates:
            from offrl.evaluation import plots

            plots.plot_interval_estimates(points, cis, out / "aggregates.png")
            figures.append(("Aggregate metrics", "aggregates.png"))
        if args.plots and draw_profiles:
            from offrl.evaluation import plots

            hi = max(float(np.max(m)) for m in mats.values())
            taus = np.linspace(0.0, max(hi, args.gamma) * 1.05, 101)
            prof, prof_ci = stats.performance_profile(mats, taus, reps=args.profile_reps, ci=args.ci, seed=args.seed)
            plots.plot_performance_profiles(taus, prof, prof_ci, out / "profiles.png")
            figures.append(("Performance profiles (score distributions)", "profiles.png"))

        if len(mats) > 1:
            names_xy = list(itertools.permutations(sorted(mats), 2))  # labels may hold commas: keep pairs
            pairs = {f"{x},{y}": (mats[x], mats[y]) for x, y in names_xy}
            poi, poi_ci = stats.interval_estimates(
                pairs, stats.probability_of_improvement, reps=args.reps, ci=args.ci, seed=args.seed
            )
            md += ["### Probability of improvement", "",
                   f"P(X > Y): chance that a run of X beats a run of Y on a random dataset "
                   f"(Mann-Whitney U / (n_x n_y), averaged over datasets); {pct} CIs.", "",
                   "| X | Y | P(X > Y) |", "|---|---|---|"]
            for x, y in names_xy:
                key = f"{x},{y}"
                md.append(f"| {x} | {y} | {_ci(float(poi[key]), *np.asarray(poi_ci[key]).reshape(2))} |")
                lo, hi_ = np.asarray(poi_ci[key]).reshape(2)
                summary["probability_of_improvement"][key] = {"point": poi[key], "lower": lo, "upper": hi_}
            md.append("")
            if args.plots:
                plots.plot_probability_of_improvement(poi, poi_ci, out / "improvement.png")
                figures.append(("Probability of improvement", "improvement.png"))

    # ---------------------------------------------------------------- learning curves
    if args.plots:
        from offrl.evaluation import plots

        for d in sorted({d for d, _ in groups}):
            curves, kinds = {}, set()
            for (dd, a), g in groups.items():
                if dd != d or g.score_kind is None or not g.curve.shape[1]:
                    continue
                curves[a] = (g.eval_steps, stats.learning_curve(g.curve, reps=args.profile_reps, ci=args.ci, seed=args.seed))
                kinds.add(g.score_kind)
            if not curves:
                continue
            name = f"curves_{_slug(d)}.png"
            ylabel = "normalized score" if kinds == {"normalized_score"} else "score"
            plots.plot_learning_curves(curves, out / name, title=d, ylabel=ylabel, ci=args.ci)
            figures.append((f"Learning curves: `{d}`", name))

    if figures:
        md += ["## Plots", ""]
        for title, name in figures:
            md += [f"### {title}", "", f"![{title}]({name})", ""]
    incomplete = [r for r in runs if not r.complete]
    if incomplete:
        md += ["## Incomplete runs", ""]
        md += [
            f"- `{r.run_id}` ({r.algo}, `{r.dataset}`): "
            + (f"last eval at step {r.last_step}" if r.last_step is not None else "no eval yet")
            + f", at `{r.path}`"
            for r in incomplete
        ]
        md.append("")

    path = out / "report.md"
    path.write_text("\n".join(md))
    atomic_write_json(out / "summary.json", summary)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``offrl report`` (called by :mod:`offrl.cli`)."""
    import tyro

    args = tyro.cli(
        ReportArgs,
        args=list(argv) if argv is not None else None,
        prog="offrl report",
        config=(tyro.conf.PositionalRequiredArgs,),
    )
    path = make_report(args)
    print(f"report written to {path}")
    return 0
