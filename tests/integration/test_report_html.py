"""The report's HTML in a real headless browser (Debian's chromium): no console errors,
every image decodes, it opens from the file system (no server, no network), and at
1280 px nothing is wider than the window (wide tables scroll in their own box). Chromium
is installed by ``make setup`` as root; where it is missing the test fails, not skips."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

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

WIDTH = 1280


def test_report_html_loads_without_errors_and_every_image_renders(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is absent: `make setup` as root installs it"

    res = tmp_path / "results" / "runs"
    _run(res, "schema_break", "cron", "r1", "completed", journal=_journal(), alerted=False)
    _run(res, "schema_break", "airflow", "r2", "completed", journal=_journal())
    _run(res, "clean", "airflow", "r3", "completed", faults=0, journal=_journal())
    _run(res, "clean", "cron", "r4", "timeout", faults=0)
    for i in range(12):  # more runners than a 1280 px page holds side by side
        _run(res, "schema_break", f"runner-with-a-long-name-{i}", f"w{i}", "completed")
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
                page.set_viewport_size({"width": WIDTH, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(page_url, wait_until="load")
                sizes = page.eval_on_selector_all(
                    "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])"
                )
                title = page.title()
                page_width = page.evaluate("document.documentElement.scrollWidth")
                boxes = page.eval_on_selector_all(
                    "div.wide", "ds => ds.map(d => [d.scrollWidth, d.clientWidth])"
                )
                first = page.eval_on_selector(
                    "div.wide",
                    "d => [d.getBoundingClientRect().top, d.querySelector('th').innerText]",
                )
                # to look at by eye, beside the test's report (not in the checkout's
                # results/, where it outlived every `make test`)
                page.screenshot(path=str(out.parent / "report-1280.png"), full_page=False)
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert errors == []
    assert title == "orchbench report"
    assert len(sizes) >= 3  # timelines and heatmaps
    assert all(done and width > 0 for done, width in sizes), sizes
    assert page_width <= WIDTH, f"the page is {page_width} px wide at a {WIDTH} px window"
    assert any(inner > outer for inner, outer in boxes)  # a table did need its own scroll
    # the first screen holds the claims x systems table (sections.glance_section)
    assert first[0] < 900 and first[1] == "claim", first
