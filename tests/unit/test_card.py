"""The configuration card's checks: every aspect said, nothing else."""

from __future__ import annotations

from orchbench.card import ASPECTS, problems


def test_a_full_card_has_no_problem_and_each_gap_is_named() -> None:
    full = {a: "x" for a in ASPECTS}
    assert problems(full) == []
    gappy = {**full, "retries": " ", "colour": "red"}
    del gappy["alerting"]
    assert problems(gappy) == [
        "aspect 'retries' missing or empty",
        "aspect 'alerting' missing or empty",
        "unknown aspect 'colour'",
    ]
