"""``orchbench publish`` on hand-made run directories: a stamped copy without run links or
figure files, refused whole when a shipped scenario has no run or it would not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.report import publish as pub
from tests.conftest import REPO
from tests.unit.test_report import _run
from tests.unit.test_report_timeline import _journal


def _bench(tmp_path: Path, scenarios: tuple[str, ...]) -> tuple[Path, Path]:
    shipped = tmp_path / "scenarios"
    shipped.mkdir()
    for name in ("schema_break", "clean"):
        (shipped / f"{name}.yaml").write_text("name: x\n")
    runs = tmp_path / "results" / "runs"
    for i, s in enumerate(scenarios):
        _run(runs, s, "cron", f"c{i}", "completed", journal=_journal())
        _run(runs, s, "airflow", f"a{i}", "completed", journal=_journal())
    return runs, shipped


def test_a_published_copy_is_stamped_and_links_no_run(tmp_path: Path) -> None:
    runs, shipped = _bench(tmp_path, ("schema_break", "clean"))
    out = pub.publish(runs, tmp_path / "docs" / "results", shipped, REPO, "two helpers ran too.")
    assert sorted(p.name for p in out.iterdir()) == sorted(pub.FILES)
    html, md = (out / "index.html").read_text(), (out / "report.md").read_text()
    assert "Published " in md and "by `make publish` at commit" in md
    assert "Note: two helpers ran too." in md
    assert "results/runs" not in html and "results/runs" not in md  # run dirs are not published
    assert "data:image/png;base64," in html  # the figures travel inside index.html
    assert ".png)" not in md and "Figure `timeline_schema_break.png`" in md
    assert sum(p.stat().st_size for p in out.iterdir()) <= pub.BUDGET


def test_a_bench_without_every_shipped_scenario_is_refused_whole(tmp_path: Path) -> None:
    runs, shipped = _bench(tmp_path, ("schema_break",))
    with pytest.raises(pub.PublishError) as e:
        pub.publish(runs, tmp_path / "docs" / "results", shipped, REPO)
    assert e.value.problems == [f"scenario clean: no run under {runs} (not a full bench)"]
    assert not (tmp_path / "docs" / "results").exists()


def test_a_copy_over_the_budget_is_refused_and_the_old_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, shipped = _bench(tmp_path, ("schema_break", "clean"))
    out = tmp_path / "docs" / "results"
    out.mkdir(parents=True)
    (out / "index.html").write_text("the old copy")
    monkeypatch.setattr(pub, "BUDGET", 1000)
    with pytest.raises(pub.PublishError) as e:
        pub.publish(runs, out, shipped, REPO)
    (problem,) = e.value.problems
    assert problem.endswith("over 1000")
    assert (out / "index.html").read_text() == "the old copy"
    assert [p.name for p in out.parent.iterdir()] == ["results"]  # no staging left behind
