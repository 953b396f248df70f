"""Recording our own measured rows: into ``published_scores.csv`` and into a docs table.

``offrl reproduce TARGET --record`` (targets of our own tables only: ``offrl-local-v0`` and its
quick check) turns every finished row into a CSV row of the target's source, with the columns of
:data:`offrl.evaluation.results.PUBLISHED_COLUMNS` (mean, std, CI, seeds, steps, code version, card,
date, data checksum, command). A recorded row replaces the row of the same source, algorithm,
dataset and score; every other line of the file (comments, other sources, older rows without the
new columns) is kept byte for byte. A row recorded again with the same measurement (the same finished run
read again, e.g. by a later command that resumed the table) keeps its line, and so the command, code
version and card of the call that recorded it first. The docs table between the markers
``<!-- reproduce:SOURCE -->`` and ``<!-- /reproduce:SOURCE -->`` is rewritten from the CSV, so the
two always agree. Both files are written atomically.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from offrl.errors import ConfigError, DataIntegrityError, OffrlError
from offrl.provenance import checkout_version, stamp_version

__all__ = ["code_version", "docs_table", "glance_table", "record_rows", "shipped_csv", "write_docs_table"]


def shipped_csv() -> Path:
    """The ``published_scores.csv`` shipped in the package (what ``--record`` writes by default)."""
    from offrl.paths import assets_dir

    return assets_dir() / "reference" / "published_scores.csv"


def code_version(run_versions: Sequence[str] = (), git: str | None = None) -> str:
    """``offrl <version> (git <commit>)``: the offrl version the runs recorded and the checkout's commit
    (``git``: as :func:`~offrl.provenance.checkout_version` said when the command started, so that edits
    made while it ran are not credited to its runs; outside a git checkout ``source <digest>``, the
    digest of the package's source)."""
    from offrl import __version__

    versions = sorted({v for v in run_versions if v}) or [__version__]
    git = checkout_version() if git is None else git
    return "offrl " + "/".join(versions) + (f" ({git})" if git else "")


def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def record_rows(rows: Sequence, *, source: str, csv_path: str | os.PathLike, command: str, card: str,
                description: str = "", git: str | None = None, card_of_runs: bool = False) -> int:
    """Write the finished ``rows`` (:class:`offrl.reproduce.report.Row`) as rows of ``source`` into
    ``csv_path``; returns how many it recorded (written, or kept where the same result was there).
    ``description`` becomes a header comment for a source the file does not describe yet. A row's code
    version is the one its run recorded when it started (a run finished by an earlier command on other
    code keeps it); ``git``, the checkout's version (as :func:`code_version` takes it; default: now),
    stands for runs that recorded none. ``card_of_runs``: a row's card is the machine its run's
    ``final.json`` names where it names one (runs finished elsewhere, recorded here), ``card`` otherwise."""
    from offrl.atomic import atomic_file
    from offrl.evaluation.results import PUBLISHED_COLUMNS

    done = [r for r in rows if r.has_result]
    if not done:
        return 0
    if "\n" in command or "\n" in card:
        raise ConfigError("command and card must be one line each")
    git = checkout_version() if git is None else git
    path = Path(csv_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
    comments = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    if body:
        header = next(csv.reader([body[0]]))
        if header[:5] != list(PUBLISHED_COLUMNS[:5]):
            raise DataIntegrityError(f"{path}: header {header} does not start with {list(PUBLISHED_COLUMNS[:5])}")
        body = body[1:]
    entries, dated_by_file = {}, set()
    for r in done:
        date = _dt.datetime.fromtimestamp(r.finished_at or _dt.datetime.now().timestamp(), _dt.UTC).date().isoformat()
        key = (source, r.algo, r.dataset, r.score)
        if not r.finish_time_recorded:
            dated_by_file.add(key)
        entries[key] = {
            "source": source, "algo": r.algo, "dataset": r.dataset, "mean": _fmt(r.mean), "std": _fmt(r.std),
            "score": r.score, "ci_low": _fmt(r.ci_low), "ci_high": _fmt(r.ci_high),
            "seeds": str(sum(math.isfinite(v) for v in r.scores)),  # the seeds behind the mean
            "steps": str(r.steps or ""), "code_version": code_version([r.offrl_version], stamp_version(r.code) or git),
            "card": (card_of_runs and r.machine) or card, "date": date, "data_checksum": r.data_checksum,
            "command": command}
    kept = []
    for ln in body:
        fields = next(csv.reader([ln]))
        score = fields[5].strip() if len(fields) > 5 else ""
        key = (fields[0].strip(), *(f.strip() for f in fields[1:3]), score)
        if key in entries:
            if not _same_measurement(entries[key], fields, with_date=key not in dated_by_file):
                continue  # replaced by the new line
            del entries[key]  # the same result: the line stays, with the command that first recorded it
        kept.append(ln if ln.endswith("\n") else ln + "\n")
    if description and not any(c.startswith(f"# {source} = ") or f" {source} = " in c for c in comments):
        comments.append(f"# {source} = {description}\n")
    out = [*comments, _csv_line(PUBLISHED_COLUMNS), *kept]
    out += [_csv_line([e[k] for k in PUBLISHED_COLUMNS]) for e in entries.values()]
    with atomic_file(path) as tmp:
        tmp.write_text("".join(out), encoding="utf-8")
    return len(done)


#: What a recorded row measured: equal in these columns, it is the same result recorded again.
_MEASUREMENT = ("mean", "std", "ci_low", "ci_high", "seeds", "steps", "date", "data_checksum")


def _same_measurement(entry: Mapping[str, str], fields: Sequence[str], *, with_date: bool = True) -> bool:
    """``fields`` (a line of the file) holds the measurement of ``entry``. ``with_date=False`` for a run
    dated by its ``final.json``'s modification time (made before runs wrote their finish time): a copy of
    its folder has a new time, and the line's date, recorded when the time was still the run's, stays."""
    from offrl.evaluation.results import PUBLISHED_COLUMNS

    line = dict(zip(PUBLISHED_COLUMNS, (f.strip() for f in fields)))
    return all(line.get(k, "") == entry[k] for k in _MEASUREMENT if with_date or k != "date")


def _markers(source: str) -> tuple[str, str]:
    return f"<!-- reproduce:{source} -->", f"<!-- /reproduce:{source} -->"


#: the order of the algorithms' columns and lines, and the names they are shown by
_ALGO_NAMES = {"bc": "BC", "td3bc": "TD3+BC", "iql": "IQL", "cql": "CQL", "dt": "DT", "modt": "MO-DT"}
#: D4RL's levels from the worst data to the best, the order of a table's datasets within an environment
_LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert")


def _dataset_order(dataset: str) -> tuple:
    """Sort key of a dataset id: by environment, then by level (random first, expert last)."""
    name = re.sub(r"-v\d+$", "", dataset.split("/")[-1])
    for i, level in sorted(enumerate(_LEVELS), key=lambda x: -len(x[1])):  # medium-expert before medium
        if name.endswith("-" + level):
            return name[: -len(level) - 1], i, dataset
    return name, len(_LEVELS), dataset


def _algo_order(algo: str) -> tuple:
    return list(_ALGO_NAMES).index(algo) if algo in _ALGO_NAMES else len(_ALGO_NAMES), algo


def _budget(steps: set[str]) -> str:
    """``1M``, ``100k``, ``30k``; several budgets joined; none: empty."""
    def one(s: str) -> str:
        n = int(s)
        for unit, div in (("M", 1_000_000), ("k", 1_000)):
            if n >= div and n % div == 0:
                return f"{n // div}{unit}"
        return f"{n:,}"
    return "/".join(one(s) for s in sorted(steps, key=int) if s.isdigit())


def _cells(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Mapping[str, Any]]]:
    """``rows`` by (dataset, algorithm), then by score (``last`` / ``best``)."""
    cells: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["dataset"], r["algo"]), {})[r.get("score") or "last"] = r
    return cells


def glance_table(published: Sequence[Mapping[str, Any]], source: str) -> str:
    """``source``'s rows as one line per dataset and one column per algorithm (its budget in the header):
    the mean at the last evaluation, the mean of the best in brackets; ``·`` where nothing is recorded."""
    rows = [r for r in published if r["source"] == source]
    if not rows:
        return ""
    cells = _cells(rows)
    algos = sorted({a for _, a in cells}, key=_algo_order)
    datasets = sorted({d for d, _ in cells}, key=_dataset_order)
    head = []
    for a in algos:
        budget = _budget({str(r.get("steps") or "") for (_, algo), by in cells.items() if algo == a
                          for r in by.values()})
        head.append(_ALGO_NAMES.get(a, a) + (f" ({budget})" if budget else ""))

    def cell(by: dict[str, Mapping[str, Any]] | None) -> str:
        if not by:
            return "·"
        last, best = by.get("last"), by.get("best")
        text = f"{last['mean']:.1f}" if last else "–"
        return text + (f" ({best['mean']:.1f})" if best else "")

    out = ["| dataset | " + " | ".join(head) + " |", "|---|" + "---:|" * len(algos)]
    for d in datasets:
        out.append(f"| {d.split('/')[-1]} | " + " | ".join(cell(cells.get((d, a))) for a in algos) + " |")
    return "\n".join(out)


def docs_table(published: Sequence[Mapping[str, Any]], source: str) -> str:
    """The markdown of ``source``'s rows: first :func:`glance_table`, then one line per dataset x
    algorithm, last and best side by side (mean ± std [95% CI]), with seeds, steps, card, date and code
    version."""
    rows = [r for r in published if r["source"] == source]
    if not rows:
        return f"(no rows of `{source}` recorded yet)"
    cells = _cells(rows)
    seeds = sorted({str(r.get("seeds")) for r in rows if r.get("seeds")})
    glance = [f"Normalized score at the last evaluation (the best evaluation's in brackets), mean over "
              f"{'/'.join(seeds) or 'the'} seeds; the budget in gradient steps beside each algorithm; "
              "`·`: no row recorded yet:", "",
              glance_table(rows, source), "", "Each row in full:", ""]

    def cell(r: Mapping[str, Any] | None) -> str:
        if r is None:
            return "–"
        text = f"{r['mean']:.2f}" + ("" if math.isnan(r["std"]) else f" ± {r['std']:.2f}")
        return text + (f" [{r['ci_low']}, {r['ci_high']}]" if r.get("ci_low") and r.get("ci_high") else "")

    out = [*glance, "| dataset | algorithm | last: mean ± std [95% CI] | best: mean ± std [95% CI] | seeds | steps "
           "| card | date | code |", "|---|---|---|---|---|---|---|---|---|"]
    for (dataset, algo) in sorted(cells, key=lambda k: (_dataset_order(k[0]), _algo_order(k[1]))):
        by = cells[(dataset, algo)]
        any_row = by.get("last") or by.get("best")
        steps = str(any_row.get("steps") or "")
        info = [any_row.get(k) or "–" for k in ("seeds", "card", "date", "code_version")]
        out.append(f"| `{dataset}` | {algo} | {cell(by.get('last'))} | {cell(by.get('best'))} | {info[0]} | "
                   f"{f'{int(steps):,}' if steps.isdigit() else '–'} | {' | '.join(info[1:])} |")
    commands = sorted({r.get("command") for r in rows if r.get("command")})
    if commands:
        out += ["", "Recorded with " + "; ".join(f"`{c}`" for c in commands) + "."]
    return "\n".join(out)


def write_docs_table(docs_path: str | os.PathLike, source: str, table: str) -> None:
    """Replace the text between ``source``'s markers in ``docs_path`` by ``table`` (atomically)."""
    from offrl.atomic import atomic_file

    path = Path(docs_path)
    if not path.is_file():
        raise OffrlError(f"{path}: no such file (pass --docs with the page that holds the {source} table)")
    text = path.read_text(encoding="utf-8")
    start, end = _markers(source)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise OffrlError(f"{path}: no table markers for {source}; add the lines {start} and {end} where the "
                         "table goes")
    new = pattern.sub(lambda _: f"{start}\n{table}\n{end}", text, count=1)
    with atomic_file(path) as tmp:
        tmp.write_text(new, encoding="utf-8")
