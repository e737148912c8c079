"""The report's HTML in a real headless browser (Debian's chromium): no console errors,
every image decodes, and it opens from the file system (no server, no network)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from orchbench.report import build_report
from tests.unit.test_report import _run
from tests.unit.test_report_timeline import _journal

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is absent (make setup installs it as root)"
)


def test_report_html_loads_without_errors_and_every_image_renders(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    res = tmp_path / "results" / "runs"
    _run(res, "schema_break", "cron", "r1", "completed", journal=_journal(), alerted=False)
    _run(res, "schema_break", "airflow", "r2", "completed", journal=_journal())
    _run(res, "clean", "airflow", "r3", "completed", faults=0, journal=_journal())
    _run(res, "clean", "cron", "r4", "timeout", faults=0)
    out = build_report(res, tmp_path / "results" / "report")
    page_url = (out / "index.html").resolve().as_uri()

    errors: list[str] = []
    profile = tempfile.mkdtemp(prefix="orchbench-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=ARGS, headless=True
            )
            try:
                page = ctx.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(page_url, wait_until="load")
                sizes = page.eval_on_selector_all(
                    "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])"
                )
                title = page.title()
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert errors == []
    assert title == "orchbench report"
    assert len(sizes) >= 3  # timelines and heatmaps
    assert all(done and width > 0 for done, width in sizes), sizes
