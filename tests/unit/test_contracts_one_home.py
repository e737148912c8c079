"""Each shared contract is written in one place: the step call, the recovery plan, the
``fault_activated`` record and fault ids (``orchbench/contracts.py``), and activation counts
(``fault_injection/state.py``). The code is read with ``ast``, so a second copy fails here
before it can drift from the first."""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable

from tests.conftest import REPO

ROOTS = ("orchbench", "fault_injection", "runners")
CONTRACTS = "orchbench/contracts.py"


def _const(node: ast.AST | None, value: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == value


def builds_fault_record(n: ast.AST) -> bool:
    """A dict literal with ``"type": "fault_activated"``."""
    return isinstance(n, ast.Dict) and any(
        _const(k, "type") and _const(v, "fault_activated")
        for k, v in zip(n.keys, n.values, strict=True)
    )


def numbers_a_fault(n: ast.AST) -> bool:
    """``f"f{...}"``: a fault id made from a number."""
    return (
        isinstance(n, ast.JoinedStr)
        and len(n.values) == 2
        and _const(n.values[0], "f")
        and isinstance(n.values[1], ast.FormattedValue)
    )


def counts_an_activation(n: ast.AST) -> bool:
    """An assignment to ``something["activations"]``."""
    if isinstance(n, ast.AugAssign | ast.AnnAssign):
        targets = [n.target]
    elif isinstance(n, ast.Assign):
        targets = n.targets
    else:
        return False
    return any(isinstance(t, ast.Subscript) and _const(t.slice, "activations") for t in targets)


@functools.cache
def _nodes() -> dict[str, list[ast.AST]]:
    """Every node of every file under ``ROOTS``, by path relative to the repository."""
    out = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            out[str(path.relative_to(REPO))] = list(ast.walk(tree))
    return out


def where(found: Callable[[ast.AST], bool]) -> list[str]:
    """The files under ``ROOTS`` with a node ``found`` matches."""
    return sorted(rel for rel, nodes in _nodes().items() if any(found(n) for n in nodes))


def test_the_contracts_are_defined_once() -> None:
    for name in ("StepCall", "RecoveryPlan", "recovery_plan", "fault_activated", "fault_id"):
        homes = where(
            lambda n, name=name: isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name
        )
        assert homes == [CONTRACTS], (name, homes)


def test_one_builder_of_fault_activated_records() -> None:
    assert where(builds_fault_record) == [CONTRACTS]


def test_one_source_of_fault_ids() -> None:
    assert where(numbers_a_fault) == [CONTRACTS]


def test_activations_are_counted_only_in_the_fault_state() -> None:
    assert where(counts_an_activation) == ["fault_injection/state.py"]


def test_the_checks_see_the_forms_the_old_copies_had() -> None:
    old = {
        builds_fault_record: 'append_record(j, {"type": "fault_activated", "t_ns": 0})',
        numbers_a_fault: 'ids = [(f"f{i + 1}", f) for i, f in enumerate(faults)]',
        counts_an_activation: 'f["activations"] += 1',
    }
    for found, src in old.items():
        assert any(found(n) for n in ast.walk(ast.parse(src))), src
        others = [f for f in old if f is not found]
        assert not any(f(n) for f in others for n in ast.walk(ast.parse(src))), src
