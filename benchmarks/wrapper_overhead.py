"""What the step wrapper (``orchbench.wrapper.run_step``) costs per step attempt.

Every runner puts ``run_step`` around every step, so its cost is charged to every system
alike; this script shows that it is small next to the steps and where it goes. It measures,
on a throwaway world (nothing is monkeypatched):

- the wrapper's parts, excluding the step's work and content hashing: ``resolve_call``,
  the journal's ``append_start`` + ``append_record`` pair (on a short and on a long
  journal: numbering by marker files no longer reads the journal), the fault hooks with
  no fault armed (no state file; and a state file whose faults are all elsewhere);
- fsync alone, for reference: the journal no longer fsyncs (a killed writer loses no written
  line; fsync would guard against a power cut, which no scenario injects);
- hashing separately: sha256 of a typical artifact (a ~1.5 MB CSV partition);
- end to end: ``run_step("register")`` on tiny inputs against calling the ``register``
  step function directly (the difference includes hashing the five tiny artifacts).

Optionally (``--imports N``), what the wrapper's imports add to a fresh step process
(script-based runners start one per step), measured against importing the steps alone.

Usage: ``python benchmarks/wrapper_overhead.py [-n 300] [--dir DIR] [--imports 20]``
(``make bench-wrapper``). Times are wall clock, in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fault_injection import hooks, state
from fault_injection.catalog import KINDS
from orchbench.hashing import sha256_path
from orchbench.journal import append_record, append_start
from orchbench.workflow.data import partition, write_csv
from orchbench.workflow.steps import STEP_FUNCS
from orchbench.world import World
from orchbench.wrapper import resolve_call, run_step

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 1, 15)
RUN_ID = "wrapper-bench"
RUNNER = "bench"
WARMUP = 20


def summarize(label: str, samples_ns: list[int]) -> tuple[str, float, float, int]:
    ms = sorted(s / 1e6 for s in samples_ns)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[8]
    return label, statistics.median(ms), p90, len(ms)


def timed(fn: Callable[[], object], n: int) -> list[int]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return out


def start_record(step: str = "register") -> dict[str, object]:
    """An attempt_start as run_step builds it (inputs with hashes already computed)."""
    return {
        "type": "attempt_start",
        "attempt_id": os.urandom(16).hex(),
        "run_id": RUN_ID,
        "runner": RUNNER,
        "logical_date": DAY.isoformat(),
        "step": step,
        "pid": os.getpid(),
        "start_ns": time.time_ns(),
        "code_version": "0123456789abcdef",
        "inputs": [{"name": n, "uri": f"/x/{n}.json", "sha256": "0" * 64} for n in "abc"],
        "native": {},
    }


def end_record(attempt_id: str) -> dict[str, object]:
    return {
        "type": "attempt_end",
        "attempt_id": attempt_id,
        "run_id": RUN_ID,
        "logical_date": DAY.isoformat(),
        "step": "register",
        "end_ns": time.time_ns(),
        "cpu_s": 0.001,
        "status": "success",
        "error_type": None,
        "error": None,
        "outputs": [{"name": n, "uri": f"/x/{n}.json", "sha256": "0" * 64} for n in "ab"],
        "result": {"registered": False, "model_sha256": "0" * 64},
    }


def journal_pair(journal: Path) -> Callable[[], None]:
    """One attempt's start and end; every third attempt moves to the next date, so each
    step is retried twice, as a failing step is under the default policies."""
    done = [0]

    def pair() -> None:
        rec = start_record()
        rec["logical_date"] = (DAY + dt.timedelta(days=done[0] // 3)).isoformat()
        done[0] += 1
        append_start(journal, rec)
        append_record(journal, end_record(str(rec["attempt_id"])))

    return pair


def fsync_samples(path: Path, n: int) -> tuple[list[int], list[int]]:
    """One journal-sized append done as the journal does it, timing fsync apart from the rest."""
    line = (json.dumps(start_record(), separators=(",", ":")) + "\n").encode()
    rest, sync = [], []
    for i in range(WARMUP + n):
        t0 = time.perf_counter_ns()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line)
        t1 = time.perf_counter_ns()
        os.fsync(fd)
        t2 = time.perf_counter_ns()
        os.close(fd)
        t3 = time.perf_counter_ns()
        if i >= WARMUP:
            rest.append((t1 - t0) + (t3 - t2))
            sync.append(t2 - t1)
    return rest, sync


def make_world(root: Path) -> World:
    world = World(root / "world")
    world.create_dirs()
    world.config_path.write_text(json.dumps({"min_rows": 10000, "min_accuracy": 0.9}))
    return world


def register_inputs(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Tiny model and evaluation; the gate says no, so register only writes its record."""
    d = root / "artifacts" / str(DAY)
    d.mkdir(parents=True, exist_ok=True)
    model = {"kind": "logistic_regression", "features": ["a"], "mean": [0.0], "scale": [1.0]}
    (d / "model.json").write_text(json.dumps({**model, "coef": [0.5], "intercept": 0.1}))
    (d / "evaluation.json").write_text(
        json.dumps({"deploy": False, "better_than_champion": False, "accuracy": 0.93})
    )
    ins = {"model": d / "model.json", "evaluation": d / "evaluation.json"}
    return ins, {"registration": d / "registration.json"}


def import_samples(n: int) -> tuple[list[int], list[int]]:
    """Fresh interpreters: importing the steps alone vs the steps plus the wrapper's imports."""
    steps = "import orchbench.workflow.steps"
    full = steps + ", orchbench.wrapper, fault_injection.hooks"
    base, wrapped = [], []
    for i in range(n + 2):
        for code, out in ((steps, base), (full, wrapped)):
            t0 = time.perf_counter_ns()
            subprocess.run([sys.executable, "-c", code], check=True)
            if i >= 2:
                out.append(time.perf_counter_ns() - t0)
    return base, wrapped


def filesystem_of(path: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "--output=fstype,source", str(path)], capture_output=True, text=True
        ).stdout.split("\n")[1]
        return " ".join(out.split())
    except (OSError, IndexError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--iterations", type=int, default=300, help="samples per row (>=200)")
    ap.add_argument(
        "--dir",
        type=Path,
        default=REPO / "results",
        help="where to put the throwaway world and journals (fsync cost depends on the disk; "
        "default: results/, where real run journals live)",
    )
    ap.add_argument(
        "--imports",
        type=int,
        default=0,
        metavar="N",
        help="also time the wrapper's imports in N fresh processes (about 2 s each)",
    )
    args = ap.parse_args(argv)
    n = args.iterations
    args.dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=".wrapper-bench-", dir=args.dir))
    rows: list[tuple[str, float, float, int]] = []
    notes: list[str] = []
    try:
        world = make_world(root)
        ins, outs = register_inputs(root)
        kw = {"world": world, "run_id": RUN_ID, "runner": RUNNER}

        # -- the wrapper's parts (no hashing, no step work) -------------------------------
        journal = root / "parts.jsonl"
        rows.append(
            summarize(
                "resolve_call",
                timed(lambda: resolve_call("register", DAY, ins, outs, journal=journal, **kw), n),
            )
        )
        call = resolve_call("register", DAY, ins, outs, journal=journal, **kw)

        def hook_pair() -> None:
            hooks.before_step(call)
            hooks.after_step(call)

        rows.append(summarize("fault hooks, no state file", timed(hook_pair, n)))
        kinds = sorted(KINDS)
        state.arm(
            world,
            [
                {"kind": kinds[i % len(kinds)], "at": "train", "logical_date": f"2026-01-0{i + 1}"}
                for i in range(3)
            ],
        )
        rows.append(summarize("fault hooks, 3 faults armed elsewhere", timed(hook_pair, n)))
        world.faults_state.unlink()

        (root / "short").mkdir()
        (root / "long").mkdir()  # each its own attempt-numbers markers
        short = root / "short" / "journal.jsonl"
        rows.append(
            summarize(
                f"journal start+end, 0->{2 * (n + WARMUP)} records",
                timed(journal_pair(short), n),
            )
        )
        long_ = root / "long" / "journal.jsonl"
        prefill = 10_000
        with long_.open("w") as f:
            for i in range(prefill // 2):
                rec = start_record(step=("ingest", "validate", "train")[i % 3])
                rec["logical_date"] = (DAY - dt.timedelta(days=1 + i % 365)).isoformat()
                rec["attempt"] = 1
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
                f.write(json.dumps(end_record(str(rec["attempt_id"])), separators=(",", ":")))
                f.write("\n")
        size_mb = long_.stat().st_size / 1e6
        rows.append(
            summarize(
                f"journal start+end, {prefill // 1000}k records ({size_mb:.1f} MB)",
                timed(journal_pair(long_), n),
            )
        )
        rest, sync = fsync_samples(root / "fsync.jsonl", n)
        rows.append(summarize("one journal record, open+write+close, no fsync", rest))
        rows.append(summarize("one fsync (the journal no longer does one)", sync))

        # -- hashing a typical artifact ----------------------------------------------------
        csv = root / "partition.csv"
        rows_per_day = 36_000
        write_csv(partition(DAY, rows_per_day, 7), csv)
        mb = csv.stat().st_size / 1e6
        rows.append(
            summarize(
                f"sha256 of a {mb:.1f} MB CSV ({rows_per_day} rows)",
                timed(lambda: sha256_path(csv), n),
            )
        )

        # -- end to end: run_step vs the bare step function ---------------------------------
        e2e_journal = root / "e2e.jsonl"
        direct_call = resolve_call("register", DAY, ins, outs, journal=e2e_journal, **kw)
        func = STEP_FUNCS["register"]
        sink = io.StringIO()
        wrapped, bare = [], []
        with contextlib.redirect_stdout(sink):
            for i in range(WARMUP + n):
                t0 = time.perf_counter_ns()
                # a run of its own each time: a real attempt is one of a few of its run,
                # date and step, and numbering probes one marker per earlier attempt
                run_step(
                    "register",
                    DAY,
                    ins,
                    outs,
                    journal=e2e_journal,
                    **{**kw, "run_id": f"{RUN_ID}-{i}"},
                )
                t1 = time.perf_counter_ns()
                func(direct_call)
                t2 = time.perf_counter_ns()
                if i >= WARMUP:
                    wrapped.append(t1 - t0)
                    bare.append(t2 - t1)
                sink.seek(0)
                sink.truncate()
        rows.append(summarize("register via run_step (tiny inputs)", wrapped))
        rows.append(summarize("register called directly", bare))
        rows.append(
            summarize(
                "  difference: the wrapper, incl. hashing 5 tiny files",
                [w - b for w, b in zip(wrapped, bare, strict=True)],
            )
        )

        if args.imports:
            base, full = import_samples(args.imports)
            rows.append(summarize("fresh process: import steps", base))
            rows.append(summarize("fresh process: import steps + wrapper + hooks", full))
            rows.append(
                summarize(
                    "  difference: the wrapper's imports",
                    [f - b for f, b in zip(full, base, strict=True)],
                )
            )
            notes.append("import rows: n fresh interpreters each, paired")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"step wrapper overhead  python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"journal dir on {filesystem_of(args.dir)}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'median ms':>10}  {'p90 ms':>8}  {'n':>5}")
    for label, med, p90, count in rows:
        print(f"{label:{width}}  {med:10.3f}  {p90:8.3f}  {count:5d}")
    med = {label: m for label, m, _, _ in rows}
    parts = (
        med["resolve_call"]
        + med["fault hooks, no state file"]
        + next(m for label, m in med.items() if label.startswith("journal start+end, 0->"))
    )
    print(
        f"per attempt, excluding hashing and step work (sum of medians, short journal): "
        f"{parts:.2f} ms"
    )
    notes.append(
        "append_start numbers an attempt by creating a marker file (O_EXCL), so its cost "
        "does not grow with the journal (compare the 10k row)"
    )
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
