"""The report reads result files: no module under ``orchbench/report`` imports the metrics'
analysis (``orchbench.metrics``), the scale harness or its fit (``orchbench.scale``,
``orchbench.growth``) or a runner; it may import the result models and the aggregation."""

from __future__ import annotations

import ast
from pathlib import Path

REPORT = Path(__file__).resolve().parents[2] / "orchbench" / "report"
FORBIDDEN = ("orchbench.metrics", "orchbench.scale", "orchbench.growth", "runners")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every module or name imported, function-level ones included."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def forbidden_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for line, name in _imports(ast.parse(path.read_text(), str(path))):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"{path.name}:{line} imports {name}")
    return found


def test_no_report_module_imports_the_metrics_analysis_scale_or_a_runner() -> None:
    assert forbidden_imports(REPORT) == []


def test_the_report_reads_the_result_models() -> None:
    imported = {n for p in REPORT.rglob("*.py") for _, n in _imports(ast.parse(p.read_text()))}
    assert {"orchbench.records", "orchbench.point", "orchbench.trace"} <= imported


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    forms = [
        "from orchbench.metrics import analyse",
        "from orchbench import metrics",
        "import orchbench.metrics as m",
        "def f():\n    from orchbench.metrics import analyse\n",
        "from orchbench.scale import SHAPES",
        "from orchbench import growth",
        "from runners.cron import native",
    ]
    for i, src in enumerate(forms):
        (tmp_path / f"m{i}.py").write_text(src + "\n")
    (tmp_path / "ok.py").write_text("from orchbench.aggregate import spread\n")
    flagged = {f.split(":")[0] for f in forbidden_imports(tmp_path)}
    assert flagged == {f"m{i}.py" for i in range(len(forms))}
