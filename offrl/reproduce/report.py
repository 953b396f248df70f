"""Rows of a reproduction (ours next to the reference, with a verdict) and the side-by-side report.

:func:`build_rows` reads each run of a target from its ``results/<run_id>/`` folder and pairs it
with the reference row of the same algorithm and dataset (:func:`offrl.evaluation.results.match_key`),
once per score the reference reports (``last``, ``best``). :func:`write_report` writes
``<target>.md`` (rule, summary, table), ``<target>.png`` (ours with its CI next to the reference
mean ± std, coloured by verdict) and ``<target>.json`` (every number).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import OffrlError
from offrl.reproduce.verdict import VERDICTS, Comparison, Tolerance, chance_rates, compare, mean_ci

__all__ = ["Row", "build_rows", "chance_summary", "format_summary", "references", "row_verdicts", "write_report"]

COLORS = {"consistent": "tab:green", "higher": "tab:blue", "lower": "tab:red"}


@dataclasses.dataclass
class Row:
    """One algorithm x dataset x score of a target."""

    algo: str
    dataset: str
    """the dataset id (a path's dataset is named by its id, e.g. the quick check's data)."""
    score: str
    """``last`` or ``best``."""
    run_id: str
    status: str
    """``compared`` | ``no reference`` | ``not run: ...`` | ``failed: ...`` | ``not finished ...`` |
    ``no normalized score``."""
    seeds: list[int] = dataclasses.field(default_factory=list)
    steps: int | None = None
    scores: list[float] = dataclasses.field(default_factory=list)
    """our per-seed scores (normalized, x100)."""
    mean: float = math.nan
    std: float = math.nan
    """population std over seeds (ddof 0, as CORL reports)."""
    ci_low: float = math.nan
    ci_high: float = math.nan
    reference: dict[str, Any] | None = None
    """the ``published_scores.csv`` row (mean, std and, for rows we measured, seeds, card, ...)."""
    comparison: Comparison | None = None
    data_checksum: str = ""
    """checksum of the dataset the run trained on (from its config.json)."""
    offrl_version: str = ""
    code: dict[str, Any] = dataclasses.field(default_factory=dict)
    """the code stamp of the run's ``config.json`` (:func:`offrl.provenance.code_stamp`: the code that
    started it); empty for runs made before stamps existed."""
    finished_at: float | None = None
    """when the run finished (Unix time): its ``final.json``'s ``finished_at``, or for runs made before
    that was written, the file's modification time, which a copy may have changed."""
    finish_time_recorded: bool = False
    """``finished_at`` is the one the run wrote, not a file's modification time."""
    machine: str = ""
    """the machine that finished the run, in words (its ``final.json``'s ``machine``; empty if not named)."""

    @property
    def verdict(self) -> str | None:
        return self.comparison.verdict if self.comparison is not None else None

    @property
    def has_result(self) -> bool:
        return bool(self.scores)

    @property
    def data_differs(self) -> bool:
        """The reference was measured on a dataset with another checksum (regenerated data that differ)."""
        ref = (self.reference or {}).get("data_checksum") or ""
        return bool(ref and self.data_checksum and ref != self.data_checksum)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("comparison",)}
        d["verdict"] = self.verdict
        if self.comparison is not None:
            c = self.comparison
            d["comparison"] = {"band": c.band, "by": list(c.by), "diff": c.diff, "reason": c.reason()}
        return d  # NaNs become null where it is written (offrl.logging.to_jsonable)


def references(rows: Iterable[Mapping[str, Any]], source: str, score: str) -> dict[tuple[str, str], dict]:
    """The published rows of ``source`` that report ``score`` (rows without a ``score`` are the
    source's one convention and count for any), keyed by :func:`~offrl.evaluation.results.match_key`."""
    from offrl.evaluation.results import match_key

    return {match_key(r["algo"], r["dataset"]): dict(r) for r in rows
            if r["source"] == source and r.get("score", "") in ("", score)}


def _dataset_id(result, config) -> str:
    from offrl.datasets.api import is_registry_id

    spec = (result.config.get("dataset_spec") or {}) if result is not None else {}
    if spec.get("id") and not is_registry_id(config.dataset):
        return str(spec["id"])  # a dataset given by path: named by its id
    return config.dataset


def _finish_time(result) -> tuple[float, bool]:
    """When the run ``result`` (:func:`~offrl.evaluation.results.load_run`) finished, and whether the run
    recorded that (final.json's ``finished_at``) rather than the time being read off the file (runs made
    before it was written, or a malformed stamp)."""
    import datetime as _dt

    if result.finished_at:
        try:
            return _dt.datetime.fromisoformat(result.finished_at.replace("Z", "+00:00")).timestamp(), True
        except ValueError:
            pass  # malformed: the file's time stands in, as for older runs
    return (result.path / "final.json").stat().st_mtime, False


def build_rows(runs: Sequence, outcomes: Mapping[str, Mapping[str, Any]], published: Sequence[Mapping[str, Any]],
               *, source: str, scores: Sequence[str], tolerance: Tolerance, ci: float = 0.95, reps: int = 10_000,
               seed: int = 0) -> list[Row]:
    """One :class:`Row` per run x score.

    Args:
      runs: the runs' configs (``TrainConfig`` with ``run_id`` and ``results_dir`` set).
      outcomes: what the sweep launcher said per run id (a ``final.json`` dict, or ``{"error": ...}``);
        a run missing here is read from its folder alone.
      published: the rows of ``published_scores.csv`` (:func:`~offrl.evaluation.results.published_rows`).
      source, scores: the reference source and the scores it reports.
      tolerance, ci, reps, seed: the verdict rule and the bootstrap of our interval.
    """
    from offrl.evaluation.results import load_run, match_key
    from offrl.sweep.plan import checkpoint_step

    refs = {s: references(published, source, s) for s in scores}
    rows: list[Row] = []
    for config in runs:
        run_dir = Path(config.results_dir) / config.run_id
        result, status = None, "compared"
        if (run_dir / "final.json").is_file():
            try:
                result = load_run(run_dir)
            except OffrlError as e:  # one unreadable run must not hide the others
                status = f"unreadable results: {e}"
            else:
                if "normalized_score" not in result.scores:
                    status = "no normalized score (the dataset has no reference scores)"
        else:
            outcome = outcomes.get(config.run_id) or {}
            error = outcome.get("error")
            if outcome.get("status") == "not started":  # --start-within: the same command starts it
                status = "not started (--start-within): run the same command again to train it"
            elif error:
                status = ("not run: " if error.startswith("data missing") or outcome.get("status") == "locked"
                          else "failed: ") + error
            else:
                step = checkpoint_step(run_dir)
                status = "not finished" + (f" (checkpoint at step {step:,})" if step else " (not started)")
        dataset = _dataset_id(result, config)
        finished = _finish_time(result) if result is not None else (None, False)
        for score in scores:
            row = Row(config.algo, dataset, score, config.run_id, status, seeds=list(config.seeds),
                      steps=config.steps)
            if result is not None:
                row.data_checksum = str((result.config.get("dataset_spec") or {}).get("checksum") or "")
                row.offrl_version = str(result.config.get("offrl_version") or "")
                row.code = dict(result.config.get("code") or {})
                row.machine = result.machine
                row.finished_at, row.finish_time_recorded = finished
            row.reference = refs[score].get(match_key(config.algo, dataset))
            if result is not None and status == "compared":
                values = np.asarray(getattr(result.scores["normalized_score"], score), dtype=np.float64)
                if np.isnan(values).all():
                    row.status = "no evaluation recorded"
                    rows.append(row)
                    continue
                row.scores = [float(v) for v in values]
                row.seeds = [s for s, v in zip(result.seeds, values) if np.isfinite(v)]  # the seeds behind the mean
                row.steps = result.budget
                row.mean, row.ci_low, row.ci_high = mean_ci(values, ci=ci, reps=reps, seed=seed,
                                                            key=f"{config.algo}/{dataset}/{score}")
                row.std = float(np.nanstd(values))
                if row.reference is None:
                    row.status = "no reference"
                else:
                    row.comparison = compare(row.mean, row.ci_low, row.ci_high, row.reference["mean"],
                                             row.reference["std"], tolerance)
            rows.append(row)
    return rows


def row_verdicts(rows: Sequence[Row], *, recording: bool = False) -> list[str | None]:
    """Each row's verdict for the exit code (:func:`offrl.reproduce.verdict.exit_code`); while
    recording, a row with a result but no reference yet is what is being recorded, not a gap."""
    out = []
    for r in rows:
        if r.verdict is None and recording and r.has_result:
            continue
        out.append(r.verdict)
    return out


def format_summary(rows: Sequence[Row]) -> str:
    """``12 rows: 10 consistent (8 by CI, 2 by std), 1 higher, 1 lower, 0 not compared``."""
    n = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    by_ci = sum(r.verdict == "consistent" and "ci" in r.comparison.by for r in rows)
    by_std = n["consistent"] - by_ci
    missing = sum(r.verdict is None for r in rows)
    return (f"{len(rows)} row{'s' * (len(rows) != 1)}: {n['consistent']} consistent ({by_ci} by CI, {by_std} by std "
            f"only), {n['higher']} higher, {n['lower']} lower, {missing} not compared")


def _reference_seeds(row: Row, default: int | None) -> int | None:
    try:
        n = int(str((row.reference or {}).get("seeds") or "").strip())
    except ValueError:
        return default
    return n if n > 0 else default


def chance_summary(rows: Sequence[Row], tolerance: Tolerance, ci: float = 0.95, *,
                   reference_seeds: int | None = None) -> dict[str, Any] | None:
    """What seed noise alone would do to these rows under the rule (:func:`~offrl.reproduce.verdict.chance_rates`)
    for the compared rows whose seed count is known (the reference row's ``seeds``, else ``reference_seeds``,
    the target's): per pair of seed counts the rates, and the number of rows expected lower by chance.
    ``None`` when no compared row's reference seed count is known."""
    pairs: dict[tuple[int, int], int] = {}
    for r in rows:
        n_ref = _reference_seeds(r, reference_seeds)
        if r.comparison is not None and n_ref is not None and r.seeds:
            key = (len(r.seeds), n_ref)
            pairs[key] = pairs.get(key, 0) + 1
    if not pairs:
        return None
    out = []
    for (n_ours, n_ref), count in sorted(pairs.items()):
        flagged, lower = chance_rates(n_ours, n_ref, tolerance, ci=ci)
        out.append({"ours_seeds": n_ours, "reference_seeds": n_ref, "rows": count, "not_consistent": flagged,
                    "lower": lower})
    return {"pairs": out, "rows": sum(pairs.values()), "expected_lower": sum(p["rows"] * p["lower"] for p in out),
            "expected_not_consistent": sum(p["rows"] * p["not_consistent"] for p in out),
            "upper_bound": bool(tolerance.min_points)}


def format_chance(chance: Mapping[str, Any]) -> str:
    """The chance summary in one sentence for the report."""
    bound = "at most " if chance["upper_bound"] else ""
    rates = "; ".join(f"{p['ours_seeds']} seeds against the reference's {p['reference_seeds']} ({p['rows']} rows): "
                      f"{bound}{p['lower']:.1%} lower, {bound}{p['not_consistent']:.1%} not consistent"
                      for p in chance["pairs"])
    return (f"By seed noise alone (our seeds and the reference's drawn from one distribution, simulated), this "
            f"rule judges a row as follows: {rates}. Over these {chance['rows']} rows, an unchanged install is "
            f"expected to have {bound}{chance['expected_lower']:.1f} lower and {bound}"
            f"{chance['expected_not_consistent']:.1f} not consistent by chance.")


def _num(x: float | None, nd: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _ref_cell(ref: Mapping[str, Any] | None) -> str:
    if ref is None:
        return "–"
    std = ref.get("std")
    return _num(ref["mean"]) + ("" if std is None or math.isnan(std) else f" ± {_num(std)}")


def write_report(rows: Sequence[Row], out: Path, *, target, tolerance: Tolerance, ci: float, reps: int,
                 header: Sequence[str] = (), plots: bool = True) -> dict[str, Path]:
    """Write ``<out>/<target>.md``, ``.json`` and (with ``plots``) ``.png``; returns their paths."""
    from offrl.atomic import atomic_file
    from offrl.logging import atomic_write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{target.name}.md", "json": out / f"{target.name}.json"}
    if plots:
        paths["png"] = out / f"{target.name}.png"
    pct = f"{ci:.0%}"
    md = [f"# offrl reproduce {target.name}", "", target.description + ".", ""]
    md += [f"- {line}" for line in header]
    md += [f"- Reference: `published_scores.csv` source `{target.source}` ({target.provenance}).",
           f"- Ours: normalized score (x100) per seed, *last* = final evaluation, *best* = best evaluation over "
           f"training (compared as the reference reports: {', '.join(target.scores)}); mean over seeds with its "
           f"{pct} stratified-bootstrap CI ({reps:,} replicates); std = population std over seeds.",
           f"- Rule: {tolerance.rule(ci)}",
           "- Exit code: 1 when any row is lower, 2 when none is lower but some row could not be compared "
           "(no result or no reference), 0 otherwise.", ""]
    md += ["## Summary", "", format_summary(rows) + ".", ""]
    chance = chance_summary(rows, tolerance, ci, reference_seeds=target.reference_seeds)
    if chance is not None:
        md += [format_chance(chance), ""]
    lower = [r for r in rows if r.verdict == "lower"]
    if lower:
        md += ["Lower than the reference beyond the tolerance:", ""]
        md += [f"- {r.algo} on `{r.dataset}` ({r.score}): {_num(r.mean)} vs {_ref_cell(r.reference)}" for r in lower]
        md.append("")
    differs = sorted({(r.algo, r.dataset) for r in rows if r.data_differs})
    if differs:
        md += ["Trained on data whose checksum differs from the data of the reference (regenerated on another "
               "platform or with other library versions): " + ", ".join(f"{a} on `{d}`" for a, d in differs) + ".", ""]
    md += ["## Rows", "",
           f"| algorithm | dataset | score | ours: mean [{pct} CI] | std | seeds | steps | reference | ours - ref "
           "| verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ours = f"{_num(r.mean)} [{_num(r.ci_low)}, {_num(r.ci_high)}]" if r.has_result else "–"
        diff = _num(r.comparison.diff) if r.comparison else "–"
        verdict = f"**{r.verdict}** ({r.comparison.reason()})" if r.comparison else r.status.replace("|", "\\|")
        md.append(f"| {r.algo} | `{r.dataset}` | {r.score} | {ours} | {_num(r.std)} | {len(r.seeds)} | "
                  f"{r.steps or '–'} | {_ref_cell(r.reference)} | {diff} | {verdict} |")
    md.append("")
    if plots and any(r.has_result or r.reference for r in rows):
        plot_rows(rows, paths["png"], title=f"offrl reproduce {target.name}", ci=ci)
        md += [f"![ours vs reference]({paths['png'].name})", ""]
    elif plots:
        del paths["png"]
    with atomic_file(paths["md"]) as tmp:
        tmp.write_text("\n".join(md))
    atomic_write_json(paths["json"], {"target": target.name, "source": target.source, "ci": ci, "reps": reps,
                                      "rule": tolerance.rule(ci), "tolerance": dataclasses.asdict(tolerance),
                                      "header": list(header), "summary": format_summary(rows), "chance": chance,
                                      "rows": [r.to_json() for r in rows]})
    return paths


def plot_rows(rows: Sequence[Row], path: Path, *, title: str = "", ci: float = 0.95) -> Path:
    """One line per row: the reference mean ± std (grey) and our mean with its CI (coloured by
    verdict; black when not compared)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from offrl.atomic import atomic_file

    labels = [f"{r.algo} · {r.dataset.rsplit('/', 1)[-1]} · {r.score}" for r in rows]
    width = 7.0 + 0.07 * max(0, max((len(s) for s in labels), default=0) - 30)
    fig = Figure(figsize=(width, 0.32 * len(rows) + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        if r.reference is not None:
            m, s = r.reference["mean"], r.reference["std"]
            if s is not None and not math.isnan(s):
                ax.hlines(y - 0.15, m - s, m + s, color="0.6", lw=3)
            ax.plot([m], [y - 0.15], marker="s", color="0.35", ms=5)
        if r.has_result:
            color = COLORS.get(r.verdict or "", "k")
            ax.hlines(y + 0.15, r.ci_low, r.ci_high, color=color, lw=3)
            ax.plot([r.mean], [y + 0.15], marker="o", color=color, ms=5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels[::-1], fontsize=8)
    ax.set_xlabel("normalized score")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    shown = {r.verdict or "not compared" for r in rows if r.has_result}
    handles = [Line2D([], [], color="0.35", marker="s", lw=3, label="reference mean ± std")]
    handles += [Line2D([], [], color=COLORS.get(v, "k"), marker="o", lw=3, label=f"ours, {ci:.0%} CI: {v}")
                for v in (*VERDICTS, "not compared") if v in shown]
    ax.legend(handles=handles, fontsize=7, loc="best", frameon=False)
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
