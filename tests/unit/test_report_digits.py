"""Every number in the report's tables has at most three significant digits (issue 30):
runs whose metrics carry many digits, large and small, are rendered and each table cell
is read back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchbench.report import build_report
from orchbench.report.tables import seconds, three
from tests.unit.test_report import _run
from tests.unit.test_report_timeline import _journal

# a number standing alone: not part of a version (3.11.7), a date, a time, an id or a word
NUMBER = re.compile(r"(?<![\w.\-/:+])\d+(?:\.\d+)?(?![\w\-/:+]|\.\d)")


def significant(token: str) -> int:
    digits = token.replace(".", "").lstrip("0")
    return len(digits if "." in token else digits.rstrip("0"))


def table_numbers(markdown: str) -> list[tuple[str, str]]:
    """(number, its cell) for every number in every table body of ``markdown``: link
    targets, code spans and the columns headed "version(s)" (package versions such as
    ``15.18``) left out."""
    found: list[tuple[str, str]] = []
    header: list[str] = []
    lines = markdown.splitlines()
    for k, line in enumerate(lines):
        if not line.startswith("|"):
            header = []
            continue
        if set(line) <= set("|-: "):
            header = [h.strip() for h in lines[k - 1].strip("|").split("|")]
            continue
        for col, cell in enumerate(line.strip("|").split("|")):
            if not header or "version" in header[col]:
                continue
            text = re.sub(r"`[^`]*`", "", re.sub(r"\]\([^)]*\)", "]", cell))
            found += [(m.group(), cell.strip()) for m in NUMBER.finditer(text)]
    return found


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.00183456, "0.00183"), (4.6449, "4.64"), (29.74, "29.7"), (376.4, "376"),
     (1132.4, "1130"), (123456.0, "123000"), (-0.0123456, "-0.0123"), (0.0, "0")],
)  # fmt: skip
def test_three_significant_digits_never_in_e_notation(value: float, shown: str) -> None:
    assert three(value) == shown


def test_seconds_keep_two_decimals_at_most() -> None:
    assert [seconds(v) for v in (0.001, 0.0349, 15.0, 1945.3)] == ["<0.01", "0.03", "15", "1950"]


def test_no_number_in_the_report_tables_has_more_than_three_significant_digits(
    tmp_path: Path,
) -> None:
    res = tmp_path / "runs"
    many = {
        "alert_s": 1234.5678,
        "alert_production_s": 98765.4321,
        "visible_s": 0.00123456,
        "wasted_cpu_s": 12.345678,
        "rerun_cpu_s": 3456.789,
        "rerun_cost_ratio": 1.23456789,
        "lineage_completeness": 0.87654321,
        "lineage_native": 0.12345678,
        "lineage_practiced": 0.87654321,
        "total_wall_s": 12345.678,
        "outside_steps_s_per_attempt": 1.9456789,
        "total_cpu_s": 1111.1111,
    }
    for i, scale in enumerate((1.0, 1.37, 0.61)):
        scaled = {k: v * scale for k, v in many.items()}
        for runner in ("cron", "airflow"):
            _run(res, "schema_break", runner, f"{runner}-{i}", "completed",
                 journal=_journal(), **scaled)  # fmt: skip
    md = (build_report(res, tmp_path / "report") / "report.md").read_text()
    numbers = table_numbers(md)
    assert any(n == "1230" for n, _ in numbers)  # the alert seconds are in a table
    wide = [(n, cell[:80]) for n, cell in numbers if significant(n) > 3]
    assert wide == []
