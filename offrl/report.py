"""``offrl report``: a markdown table and PNG plots from ``results/`` folders.

Usage::

    offrl report results/                       # every run under results/
    offrl report results/run_a results/run_b --out report/ --reference corl-last

Writes ``<out>/report.md`` (per dataset x algorithm last/best scores over seeds; aggregate IQM, mean,
median and optimality gap with stratified-bootstrap CIs per algorithm; probability of improvement
between algorithms), ``<out>/summary.json`` with the same numbers, and PNGs: one learning-curve plot
per dataset, and where they compare something ``aggregates.png`` and ``improvement.png`` (two or more
algorithms) and ``profiles.png`` (two or more algorithms or datasets). Continual runs (``"kind":
"continual"``) go to :func:`offrl.continual_report.continual_report` instead (``continual.md``); a
folder holding both kinds gets both reports.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tyro

from offrl.errors import ConfigError
from offrl.evaluation import stats
from offrl.evaluation.continual import is_continual_run
from offrl.evaluation.results import (
    Group,
    RunResult,
    SeedConflict,
    data_split_warning,
    find_runs,
    group_runs,
    load_references,
    load_runs,
    match_key,
)
from offrl.logging import atomic_write_json
from offrl.provenance import code_versions

__all__ = ["LEFT_OUT_STATUS", "ReportArgs", "make_report", "main"]

#: Exit status of ``offrl report`` when it wrote the report but left a row out (a seed trained twice):
#: not 0, so that scripts notice, and not 1, an error that stopped the report.
LEFT_OUT_STATUS = 3


@dataclasses.dataclass(frozen=True)
class ReportArgs:
    """Make a markdown + PNG report from training results."""

    paths: tuple[Path, ...]
    """Run folders, or folders searched recursively for run folders."""
    out: Path = Path("report")
    """Output folder for report.md, summary.json and the PNGs."""
    reference: Annotated[str | None, tyro.conf.arg(metavar="REF")] = None
    """Published-score source id from published_scores.csv (e.g. corl-last) shown side by side; a source
    that records both scores (offrl-local-v0) gets a column for its last and one for its best."""
    reference_csv: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
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
    row_plots: bool = True
    """Continual runs, with --plots: also each row's task matrix and curves (two PNGs a row); off: the
    comparison figure alone (a report kept in version control)."""
    continual_reference: tuple[str, ...] = ("scratch", "single_task")
    """Continual methods that train each task from scratch: the reference of forward transfer (FWT)."""
    forgetting_window: int = 5
    """Continual runs: evaluations averaged at each end of forgetting (Continual World uses 5)."""
    versus: tuple[str, ...] = ()
    """Continual runs: rows to compare with every other row on the same data, a stream and its quality (a
    method, e.g. oer, or a row label as the table prints it, e.g. "oer [dual=false]"): PER and BWT
    differences with CIs."""
    versus_paired: bool = True
    """Continual runs, --versus: take each difference seed by seed where both rows have the same seeds (a
    seed starts every method from the same parameters and evaluation episodes); off: resample each row's
    seeds independently."""


def _pm(values: np.ndarray) -> str:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return "–"
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ± {v.std():.2f}"


def _ci(point: float, lo: float, hi: float, seeds: int) -> str:
    """``point [lo, hi]``; with fewer than 2 seeds the value alone, marked: a bootstrap of one seed always
    returns that seed, so its interval ``[x, x]`` would look certain where nothing is known of the spread."""
    if seeds < 2:
        return f"{point:.2f} (1 seed)"
    return f"{point:.2f} [{lo:.2f}, {hi:.2f}]"


def _interval_entry(point: float, lo: float, hi: float, seeds: int) -> dict:
    """An estimate for summary.json: no bounds (null) with fewer than 2 seeds, as in the markdown."""
    if seeds < 2:
        return {"point": point, "lower": None, "upper": None, "seeds": seeds}
    return {"point": point, "lower": lo, "upper": hi, "seeds": seeds}


def _budget_name(budget: int | None) -> str:
    return "unknown budget" if budget is None else f"{budget:,} steps"


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


def _reference_entry(source: str, entries: dict[str, tuple[float, float] | None]) -> dict:
    """A table row's reference in summary.json: the last score's mean and std, the best's beside them
    when the source records it."""
    (mean, std), best = entries["last"], entries.get("best")
    return {"source": source, "mean": mean, "std": std, **({"best": {"mean": best[0], "std": best[1]}} if best else {})}


def make_report(args: ReportArgs, left_out: list[SeedConflict] | None = None) -> Path:
    """Build the report described by ``args``; returns the path of ``report.md`` (of ``continual.md``
    when every run is a continual one).

    A row two of whose runs trained the same seed is left out with a warning (in the report and on stderr)
    and every other row is reported; such rows are appended to ``left_out`` when given, so that a caller
    can fail (``offrl report`` exits non-zero)."""
    left_out = [] if left_out is None else left_out
    if not args.paths:
        raise ConfigError("paths: give at least one results folder")
    if not 0 < args.ci < 1:
        raise ConfigError(f"ci must be in (0, 1), got {args.ci}")
    if args.reps < 1 or args.profile_reps < 1:
        raise ConfigError("reps and profile_reps must be >= 1")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: the bootstrap's seed is a non-negative integer")
    if args.forgetting_window < 1:
        raise ConfigError(f"--forgetting-window {args.forgetting_window}: the evaluations averaged at each end of "
                          "forgetting must be at least 1 (Continual World: 5)")
    # a source that records both scores (offrl-local-v0: last and best) gives two columns, each beside ours
    references = load_references(args.reference, args.reference_csv) if args.reference else {}
    both_scores = len(references) > 1
    out = Path(args.out)
    check_report_folder(out)
    run_dirs = find_runs(args.paths)
    continual_dirs = [d for d in run_dirs if is_continual_run(d)]
    if args.versus and not continual_dirs:
        raise ConfigError("--versus compares continual runs' rows; no continual run found in "
                          + ", ".join(str(p) for p in args.paths))
    if continual_dirs:
        from offrl.continual_report import continual_report

        continual_md = continual_report(
            continual_dirs, out, reference_methods=args.continual_reference, last_n=args.forgetting_window,
            reps=args.reps, curve_reps=args.profile_reps, ci=args.ci, seed=args.seed, plots=args.plots,
            row_plots=args.row_plots, versus=args.versus, versus_paired=args.versus_paired, left_out=left_out,
        )
        if len(continual_dirs) == len(run_dirs):
            return continual_md
    if continual_dirs:
        # what is left beside the continual runs: folders with a config.json or final.json that may be no run at
        # all (another tool's config.json, a broken file); each is skipped with a warning, and with no single-task
        # run among them the continual report is the whole report
        runs = _readable_runs([d for d in run_dirs if d not in continual_dirs])
        if not runs:
            return continual_md
    else:
        runs = load_runs(args.paths)
    conflicts: list[SeedConflict] = []
    groups = group_runs(runs, conflicts)
    left_out += conflicts
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"runs": [], "table": [], "aggregates": {}, "probability_of_improvement": {},
                     "left_out": [c.as_dict() for c in conflicts]}

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
    if continual_dirs:
        md += [f"{len(continual_dirs)} continual run(s): see [continual.md](continual.md).", ""]

    # ---------------------------------------------------------------- per-dataset table
    known, budgets, budget_warning = _budgets(groups)
    summary["code_versions"], code_warning = code_versions({r.run_id: r.config for r in runs})
    seed_warnings = [c.message() + "." for c in conflicts]
    for warning in (*seed_warnings, data_split_warning(groups), budget_warning, code_warning):
        if warning:
            print(f"offrl report: warning: {warning}", file=sys.stderr)
            md += [f"> **Warning**: {warning}", ""]
    header = ["dataset", "algo", "score", "seeds", *(["steps"] if len(known) > 1 else []), "last", "best"]
    header += [f"{args.reference} ({score})" if both_scores else f"{args.reference}" for score in references]
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
        budget_cell = [_budget_name(g.budget).removesuffix(" steps")] if len(known) > 1 else []
        # seeds behind the means: those with an evaluation (an incomplete run's other seeds have none yet)
        scored = int(np.sum(np.isfinite(np.asarray(g.last, dtype=np.float64))))
        seeds_cell = str(scored) if scored == len(g.seeds) else f"{scored} of {len(g.seeds)}"
        row = [f"`{d}`", a, kind, seeds_cell, *budget_cell, _pm(g.last), _pm(g.best)]
        ref_entries = {}
        for score, reference in references.items():
            ref_entry = ref_entries[score] = reference.get(match_key(g.algo, d))
            row.append("–" if ref_entry is None else f"{ref_entry[0]:.2f}"
                       + ("" if np.isnan(ref_entry[1]) else f" ± {ref_entry[1]:.2f}"))  # no std published: mean alone
        row.append(status)
        md.append("| " + " | ".join(row) + " |")
        summary["table"].append(
            {
                "dataset": d, "algo": a, "algorithm": g.algo, "score": g.score_kind, "seeds": g.seeds,
                "steps": g.budget,
                "last": g.last, "best": g.best, "complete": g.complete,
                "runs": [r.run_id for r in g.runs],
                **({"reference": _reference_entry(args.reference, ref_entries)} if ref_entries.get("last") else {}),
            }
        )
    md.append("")
    for r in runs:
        summary["runs"].append({"run_id": r.run_id, "path": str(r.path), "algo": r.algo, "dataset": r.dataset,
                                "seeds": r.seeds, "complete": r.complete, "wall_time_s": r.wall_time_s})

    # ---------------------------------------------------------------- aggregates
    figures: list[tuple[str, str]] = []
    if len(known) > 1:
        summary["by_budget"] = {}
        for budget in budgets:
            block: dict = {"aggregates": {}, "probability_of_improvement": {}}
            summary["by_budget"][str(budget)] = block
            name = _budget_name(budget)
            md_part, figures_part = _aggregate_section({k: g for k, g in groups.items() if g.budget == budget},
                                                       args, out, block, f" ({name})",
                                                       "_unknown_budget" if budget is None else f"_{budget}_steps")
            md += md_part
            figures += figures_part
    else:
        summary["budget"] = known[0] if known else None
        md_part, figures = _aggregate_section(groups, args, out, summary, "", "")
        md += md_part
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
    earlier_figures = report_figures(path, _FIGURE_PREFIXES)
    path.write_text("\n".join(md))
    atomic_write_json(out / "summary.json", summary)
    remove_stale_figures(out, earlier_figures, [name for _, name in figures])
    return path


# the names of the figures report.md links (learning curves, aggregates, profiles, P(improvement))
_FIGURE_PREFIXES = ("curves_", "aggregates", "profiles", "improvement")


def check_report_folder(out: Path) -> None:
    """Make the report folder ``out``, refusing in one line, before any work, one that is or lies under
    something other than a folder or cannot be created (``mkdir`` would raise after the bootstrap)."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                which = "is a file" if p == out else f"lies under {p}, a file"
                raise ConfigError(f"--out {out} {which}, not a folder: name a folder for the report")
            break
    try:  # what only creating it finds out (no permission, /proc/x), in one line too
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out} cannot be created ({e.strerror or e}): name a folder that can be "
                          "written") from None


_LINKED_PNG = re.compile(r"\]\(([^()/\\\s]+\.png)\)")


def report_figures(markdown: Path, prefixes: Sequence[str]) -> set[str]:
    """The PNGs an earlier report in ``markdown``'s folder wrote: those its markdown links (a figure file of
    its own, named with one of ``prefixes``). Empty when there is no earlier report."""
    try:
        text = markdown.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {name for name in _LINKED_PNG.findall(text) if name.startswith(tuple(prefixes))}


def remove_stale_figures(out: Path, earlier: set[str], written: Sequence[str]) -> None:
    """Delete the figures ``earlier`` (written by the previous report into ``out``, :func:`report_figures`)
    that this report did not write again, so that a report folder reused with other runs holds no plot of
    runs it no longer reports. Files the report did not write are never touched."""
    for name in sorted(set(earlier) - set(written)):
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass


def _readable_runs(dirs: Sequence[Path]) -> list[RunResult]:
    """:func:`offrl.evaluation.results.load_run` of each of ``dirs``; one that cannot be read is skipped with a
    warning (possibly all of them)."""
    from offrl.errors import OffrlError
    from offrl.evaluation.results import load_run

    runs: list[RunResult] = []
    for d in dirs:
        try:
            runs.append(load_run(d))
        except OffrlError as e:
            warnings.warn(f"skipping {d}: {e}", stacklevel=2)
    return runs


def _budgets(groups: dict[tuple[str, str], Group]) -> tuple[list[int], list[int | None], str | None]:
    """Training budgets (gradient steps) of the groups: ``(known, blocks, warning)``.

    Scores after different budgets are not comparable, so runs of different budgets are never
    pooled: their rows are separate (:func:`~offrl.evaluation.results.run_labels`) and, where the
    known budgets differ, the aggregates and P(improvement) are computed per budget (``blocks``:
    the known budgets in increasing order, then None for runs that record none), headed
    ``## Aggregates (N steps)``, under ``by_budget`` in ``summary.json`` and in
    ``aggregates_<N>_steps.png`` ...; ``warning`` then says so at the top of ``report.md`` and on
    stderr (None when there is one budget).
    """
    known = sorted({g.budget for g in groups.values()} - {None})
    blocks: list[int | None] = [*known, *([None] if any(g.budget is None for g in groups.values()) else [])]
    if len(known) < 2:
        return known, blocks, None
    return known, blocks, ("Runs have different training budgets (" + ", ".join(_budget_name(b) for b in blocks)
                           + "): aggregates and P(improvement) are computed per budget and never pool runs of "
                           "different lengths; the table's *steps* column gives each row's budget.")


def _improvement_pairs(mats: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Each unordered pair of ``mats``' algorithms once, as ``(X, Y)`` with P(X > Y) >= 0.5, in the order of
    ``mats`` (the aggregate table's). P(Y > X) is 1 - P(X > Y), since a tie counts half either way, so
    the other direction would only repeat the pair; X is the one more likely to win so that each row reads as
    a lead. At exactly 0.5 the pair keeps ``mats``' order."""
    pairs = []
    for a, b in itertools.combinations(mats, 2):
        p = float(stats.probability_of_improvement(mats[a], mats[b]))
        # a tolerance: averaging over datasets may leave an exact 0.5 a rounding error below it
        pairs.append((b, a) if p < 0.5 - 1e-9 else (a, b))
    return pairs


def _aggregate_section(groups: dict[tuple[str, str], Group], args: ReportArgs, out: Path, summary: dict,
                       section: str, tag: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Markdown, figures and ``summary`` entries of the aggregates and P(improvement) of ``groups``
    (runs of one training budget); ``section`` is added to headings and ``tag`` to figure names."""
    pct = f"{args.ci:.0%}"
    md: list[str] = []
    mats, tasks, notes = _aggregate_matrices(groups, args.aggregate_on)
    md += [f"## Aggregates{section}", ""]
    n_runs = next(iter(mats.values())).shape[0] if mats else 0
    if mats:
        intervals = (f"{pct} stratified-bootstrap percentile CIs ({args.reps} replicates, runs resampled within "
                     "each dataset)" if n_runs > 1 else
                     "one seed per dataset, so no interval: each value stands alone, marked (1 seed), since a "
                     "bootstrap of one seed only repeats it")
        md.append(
            f"Normalized *{args.aggregate_on}* scores over {len(tasks)} dataset(s) x {n_runs} seed(s); "
            f"{intervals}. IQM pools all runs x datasets; optimality gap uses gamma = {args.gamma:g} "
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
            md.append(f"| {a} | " + " | ".join(_ci(points[a][j], cis[a][0, j], cis[a][1, j], n_runs) for j in order)
                      + " |")
            summary["aggregates"][a] = {
                names[j]: _interval_entry(points[a][j], cis[a][0, j], cis[a][1, j], n_runs) for j in order
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
        if args.plots:
            from offrl.evaluation import plots
        if args.plots and draw_aggregates:
            plots.plot_interval_estimates(points, cis, out / f"aggregates{tag}.png")
            figures.append((f"Aggregate metrics{section}", f"aggregates{tag}.png"))
        if args.plots and draw_profiles:
            hi = max(float(np.max(m)) for m in mats.values())
            taus = np.linspace(0.0, max(hi, args.gamma) * 1.05, 101)
            prof, prof_ci = stats.performance_profile(mats, taus, reps=args.profile_reps, ci=args.ci, seed=args.seed)
            plots.plot_performance_profiles(taus, prof, prof_ci, out / f"profiles{tag}.png")
            figures.append((f"Performance profiles (score distributions){section}", f"profiles{tag}.png"))

        if len(mats) > 1:
            names_xy = _improvement_pairs(mats)  # labels may hold commas: keep pairs
            pairs = {f"{x},{y}": (mats[x], mats[y]) for x, y in names_xy}
            poi, poi_ci = stats.interval_estimates(
                pairs, stats.probability_of_improvement, reps=args.reps, ci=args.ci, seed=args.seed
            )
            # every matrix has n_runs seeds per dataset (truncated alike), so both sides of a pair have as many
            md += [f"### Probability of improvement{section}", "",
                   "P(X > Y): chance that a run of X beats a run of Y on a random dataset "
                   "(Mann-Whitney U / (n_x n_y), averaged over datasets); "
                   + (f"{pct} CIs. " if n_runs > 1 else
                      "one seed a side, so no interval: the value only counts on how many datasets X's single "
                      "seed scored higher. ")
                   + "Each pair is listed once, X the one more likely to win (P(X > Y) >= 0.5; at exactly 0.5 "
                   "in the aggregate table's order): P(Y > X) is 1 - P(X > Y), ties counting half.",
                   "", "| X | Y | P(X > Y) |", "|---|---|---|"]
            for x, y in names_xy:
                key = f"{x},{y}"
                lo, hi_ = np.asarray(poi_ci[key]).reshape(2)
                md.append(f"| {x} | {y} | {_ci(float(poi[key]), lo, hi_, n_runs)} |")
                summary["probability_of_improvement"][key] = _interval_entry(poi[key], lo, hi_, n_runs)
                # the other direction as well, so that a reader finds a pair under either order; on the same
                # resamples P(Y > X) is 1 - P(X > Y), so its interval is this one mirrored
                summary["probability_of_improvement"][f"{y},{x}"] = _interval_entry(
                    1.0 - float(poi[key]), 1.0 - hi_, 1.0 - lo, n_runs)
            md.append("")
            if args.plots:
                # keyed by (X, Y), not "X,Y": a label's own comma would split the figure's names
                plots.plot_probability_of_improvement({(x, y): poi[f"{x},{y}"] for x, y in names_xy},
                                                      {(x, y): poi_ci[f"{x},{y}"] for x, y in names_xy},
                                                      out / f"improvement{tag}.png")
                figures.append((f"Probability of improvement{section}", f"improvement{tag}.png"))
    return md, figures


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``offrl report`` (called by :mod:`offrl.cli`)."""
    import tyro

    args = tyro.cli(
        ReportArgs,
        args=list(argv) if argv is not None else None,
        prog="offrl report",
        config=(tyro.conf.PositionalRequiredArgs,),
    )
    left_out: list[SeedConflict] = []
    path = make_report(args, left_out)
    print(f"report written to {path}")
    if left_out:
        # the report is there, but a row is missing from it: scripts must notice
        print(f"offrl report: {len(left_out)} row(s) left out because a seed was trained twice "
              "(see the warnings above)", file=sys.stderr)
        return LEFT_OUT_STATUS
    return 0
