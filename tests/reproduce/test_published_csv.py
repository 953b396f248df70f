"""published_scores.csv: the new columns are compatible (older rows and readers keep working), and
recording our rows rewrites only what it owns."""

import math
import shutil
from pathlib import Path

import pytest

from offrl.errors import DataIntegrityError, OffrlError
from offrl.evaluation.results import PUBLISHED_COLUMNS, load_reference, published_rows
from offrl.reproduce.record import docs_table, glance_table, record_rows, shipped_csv, write_docs_table
from offrl.reproduce.report import Row

OLD_LAYOUT = """# source ids: corl-last = a published table
source,algo,dataset,mean,std
corl-last,td3bc,hopper-medium-v2,60.37,3.49
dt-paper,dt,hopper-medium-v2,67.6,
"""


def _row(algo, dataset, score, mean, std, lo, hi, n=5, checksum="sha256:d"):
    return Row(algo, dataset, score, f"{algo}-run", "compared", seeds=list(range(n)), steps=3000,
               scores=[mean] * n, mean=mean, std=std, ci_low=lo, ci_high=hi, data_checksum=checksum,
               offrl_version="0.1.0", finished_at=1_790_000_000.0)


def test_the_shipped_file_reads_with_old_and_new_readers():
    rows = published_rows()
    assert {"corl-last", "corl-best", "dt-paper", "jaxcorl", "neorl2"} <= {r["source"] for r in rows}
    ref = load_reference("corl-last")
    assert len(ref) == 45 and ref[("td3bc", "hopper-medium-v2")] == (60.37, 3.49)
    assert load_reference("dt-paper")[("dt", "hopper-medium-replay-v2")] == (82.7, 7.0)
    with open(shipped_csv()) as f:
        header = next(line for line in f if not line.startswith("#")).strip().split(",")
    assert header == list(PUBLISHED_COLUMNS)


def test_old_layout_rows_and_new_rows_side_by_side(tmp_path):
    path = tmp_path / "published_scores.csv"
    path.write_text(OLD_LAYOUT)
    rows = published_rows(path)                       # a file in the old five-column layout
    assert rows[0]["score"] == "" and rows[0]["card"] == "" and rows[0]["mean"] == 60.37
    assert math.isnan(rows[1]["std"])
    record_rows([_row("bc", "local/hopper-medium-v0", "last", 36.5, 0.9, 35.8, 37.2),
                 _row("bc", "local/hopper-medium-v0", "best", 37.0, 1.1, 36.0, 38.0)],
                source="offrl-local-v0-quick", csv_path=path, command="offrl reproduce offrl-local-v0 --quick",
                card="CPU: test, 2 cores", description="the quick references")
    text = path.read_text()
    assert text.startswith("# source ids: corl-last = a published table\n# offrl-local-v0-quick = the quick")
    assert "corl-last,td3bc,hopper-medium-v2,60.37,3.49\n" in text    # older rows kept byte for byte
    assert "dt-paper,dt,hopper-medium-v2,67.6,\n" in text
    # every reader still works, and one source may carry last and best
    assert load_reference("corl-last", path) == {("td3bc", "hopper-medium-v2"): (60.37, 3.49)}
    assert load_reference("offrl-local-v0-quick", path) == {("bc", "local/hopper-medium-v0"): (36.5, 0.9)}
    assert load_reference("offrl-local-v0-quick", path, score="best") == {("bc", "local/hopper-medium-v0"): (37.0, 1.1)}
    new = [r for r in published_rows(path) if r["source"] == "offrl-local-v0-quick"]
    assert [(r["score"], r["ci_low"], r["ci_high"], r["seeds"], r["steps"]) for r in new] == [
        ("last", "35.80", "37.20", "5", "3000"), ("best", "36.00", "38.00", "5", "3000")]
    assert new[0]["card"] == "CPU: test, 2 cores" and new[0]["date"] == "2026-09-21"
    assert new[0]["code_version"].startswith("offrl 0.1.0") and new[0]["data_checksum"] == "sha256:d"
    assert new[0]["command"] == "offrl reproduce offrl-local-v0 --quick"


def test_recording_again_replaces_only_the_same_rows(tmp_path):
    path = tmp_path / "published_scores.csv"
    shutil.copy(shipped_csv(), path)
    before = path.read_text().splitlines()
    # a source of its own: the shipped file's rows (offrl-local-v0's included) are the ones left alone
    kw = dict(source="offrl-test-v0", csv_path=path, command="c", card="1x GPU")
    record_rows([_row("iql", "local/walker2d-medium-v0", "last", 70.0, 3.0, 68.0, 72.0),
                 _row("iql", "local/hopper-medium-v0", "last", 50.0, 3.0, 48.0, 52.0)], **kw)
    record_rows([_row("iql", "local/walker2d-medium-v0", "last", 71.0, 2.0, 69.0, 73.0)], **kw)
    ours = {r["dataset"]: r["mean"] for r in published_rows(path)
            if r["source"] == "offrl-test-v0" and r["algo"] == "iql"}
    assert ours == {"local/walker2d-medium-v0": 71.0, "local/hopper-medium-v0": 50.0}
    after = path.read_text().splitlines()
    assert after[: len(before)] == before                  # everything that was there is untouched
    assert len(after) == len(before) + 2
    assert not list(tmp_path.glob(".*tmp*"))              # written through a renamed temporary file


def test_a_result_recorded_again_keeps_the_line_of_its_first_recording(tmp_path):
    """A table resumed over several commands reads its finished runs again each time: their rows keep the
    command and code version that first recorded them; a row whose result changed is replaced."""
    path = tmp_path / "published_scores.csv"
    path.write_text(OLD_LAYOUT)
    first = [_row("bc", "local/hopper-medium-v0", "last", 36.5, 0.9, 35.8, 37.2),
             _row("bc", "local/hopper-medium-v0", "best", 37.0, 1.1, 36.0, 38.0)]
    record_rows(first, source="s", csv_path=path, command="offrl reproduce T --datasets a", card="GPU", git="git 1")
    before = path.read_text()
    again = [_row("bc", "local/hopper-medium-v0", "last", 36.5, 0.9, 35.8, 37.2),   # the same run read again
             _row("bc", "local/hopper-medium-v0", "best", 38.0, 1.0, 37.0, 39.0),   # another result
             _row("iql", "local/hopper-medium-v0", "last", 50.0, 2.0, 48.0, 52.0)]  # a new row
    assert record_rows(again, source="s", csv_path=path, command="offrl reproduce T", card="GPU", git="git 2") == 3
    rows = {(r["algo"], r["score"]): r for r in published_rows(path) if r["source"] == "s"}
    assert rows[("bc", "last")]["command"] == "offrl reproduce T --datasets a"
    assert rows[("bc", "last")]["code_version"] == "offrl 0.1.0 (git 1)"
    assert before.splitlines()[-2] in path.read_text().splitlines()         # that line kept byte for byte
    assert (rows[("bc", "best")]["mean"], rows[("bc", "best")]["command"]) == (38.0, "offrl reproduce T")
    assert rows[("iql", "last")]["code_version"] == "offrl 0.1.0 (git 2)"
    assert len(rows) == 3


def test_record_refuses_a_file_that_is_not_published_scores(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,value\na,1\n")
    with pytest.raises(DataIntegrityError, match="header"):
        record_rows([_row("bc", "local/hopper-medium-v0", "last", 1.0, 0.0, 1.0, 1.0)], source="s",
                    csv_path=path, command="c", card="x")
    assert path.read_text() == "name,value\na,1\n"


def test_docs_table_mirrors_the_csv(tmp_path):
    path = tmp_path / "published_scores.csv"
    path.write_text(OLD_LAYOUT)
    record_rows([_row("td3bc", "local/hopper-medium-v0", "last", 62.9, 7.6, 56.2, 69.4),
                 _row("td3bc", "local/hopper-medium-v0", "best", 67.9, 7.0, 61.7, 73.5),
                 _row("bc", "local/hopper-medium-v0", "last", 36.5, 0.9, 35.8, 37.2)],
                source="offrl-local-v0", csv_path=path, command="offrl reproduce offrl-local-v0 --record", card="GPU")
    table = docs_table(published_rows(path), "offrl-local-v0")
    # first the table at a glance: a column per algorithm (its budget beside it), last (best) means;
    # its header says what an empty cell means
    assert table.splitlines()[0].endswith("`·`: no row recorded yet:")
    glance = table.splitlines()[2:5]
    assert glance == ["| dataset | BC (3k) | TD3+BC (3k) |", "|---|---:|---:|",
                      "| hopper-medium-v0 | 36.5 | 62.9 (67.9) |"]               # no best row: last alone
    long = table.splitlines()[table.splitlines().index("Each row in full:") + 2:]
    assert long[0].startswith("| dataset | algorithm | last: mean ± std [95% CI] | best:")
    assert long[2] == ("| `local/hopper-medium-v0` | bc | 36.50 ± 0.90 [35.80, 37.20] | – | 5 | 3,000 | GPU | "
                       "2026-09-21 | " + long[2].split(" | ")[-1])      # bc before td3bc; no best row: "–"
    assert "| td3bc | 62.90 ± 7.60 [56.20, 69.40] | 67.90 ± 7.00 [61.70, 73.50] |" in long[3]
    assert long[-1] == "Recorded with `offrl reproduce offrl-local-v0 --record`."
    assert docs_table(published_rows(path), "nothing-yet") == "(no rows of `nothing-yet` recorded yet)"

    page = tmp_path / "reproduce.md"
    page.write_text("intro\n<!-- reproduce:offrl-local-v0 -->\nold\n<!-- /reproduce:offrl-local-v0 -->\nend\n")
    write_docs_table(page, "offrl-local-v0", table)
    start, end = "<!-- reproduce:offrl-local-v0 -->", "<!-- /reproduce:offrl-local-v0 -->"
    assert page.read_text() == f"intro\n{start}\n{table}\n{end}\nend\n"
    with pytest.raises(OffrlError, match="no table markers"):
        write_docs_table(page, "other-source", table)


def test_the_glance_table_orders_environments_then_levels_and_marks_empty_cells(tmp_path):
    path = tmp_path / "published_scores.csv"
    path.write_text(OLD_LAYOUT)
    datasets = ["local/hopper-expert-v0", "local/hopper-medium-expert-v0", "local/walker2d-random-v0",
                "local/hopper-medium-replay-v0", "local/halfcheetah-medium-v0", "local/hopper-random-v0"]
    record_rows([_row("iql" if "medium" in d else "bc", d, "last", 10.0 + i, 1.0, 9.0, 11.0)
                 for i, d in enumerate(datasets)], source="s", csv_path=path, command="c", card="GPU")
    lines = glance_table(published_rows(path), "s").splitlines()
    assert lines[0] == "| dataset | BC (3k) | IQL (3k) |"
    assert [line.split(" | ")[0][2:] for line in lines[2:]] == [
        "halfcheetah-medium-v0", "hopper-random-v0", "hopper-medium-replay-v0", "hopper-medium-expert-v0",
        "hopper-expert-v0", "walker2d-random-v0"]
    assert lines[2] == "| halfcheetah-medium-v0 | · | 14.0 |" and lines[3] == "| hopper-random-v0 | 15.0 | · |"
    assert glance_table(published_rows(path), "other") == ""


def test_the_docs_page_shows_the_shipped_rows():
    """docs/reproduce.md's table is the shipped CSV's rows as docs_table writes them: neither was edited
    without the other."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reproduce.md").read_text(encoding="utf-8")
    start, end = "<!-- reproduce:offrl-local-v0 -->\n", "\n<!-- /reproduce:offrl-local-v0 -->"
    shown = page[page.index(start) + len(start): page.index(end)]
    assert shown == docs_table(published_rows(shipped_csv()), "offrl-local-v0")


@pytest.mark.parametrize("mean, std", [("nan", "1.0"), ("inf", "1.0"), ("60.0", "-1.0"), ("60.0", "inf")])
def test_a_reference_that_is_not_a_number_fails_when_the_file_is_read(tmp_path, mean, std):
    """A NaN reference mean once failed only after every run had trained, and no report was written."""
    path = tmp_path / "published_scores.csv"
    path.write_text(f"source,algo,dataset,mean,std\ndt-paper,dt,hopper-medium-v2,{mean},{std}\n")
    with pytest.raises(DataIntegrityError, match="malformed row"):
        published_rows(path)


def test_a_recorded_row_counts_the_seeds_behind_its_mean(tmp_path):
    path = tmp_path / "published_scores.csv"
    path.write_text(OLD_LAYOUT)
    row = _row("bc", "local/hopper-medium-v0", "last", 75.0, 1.0, 74.0, 76.0, n=3)
    row.scores = [74.0, float("nan"), 76.0]  # one seed without an evaluation
    record_rows([row], source="offrl-local-v0-quick", csv_path=path, command="c", card="CPU", description="q")
    (new,) = [r for r in published_rows(path) if r["source"] == "offrl-local-v0-quick"]
    assert new["seeds"] == "2"
