"""Read what a cron user can read (the jobs' log files and delivered mail) into the trace.

Log lines come from the scripts themselves, ``[<date --rfc-3339=ns>] STEP DATE EVENT``:

    start [attempt N/M]          end exit=RC [attempt N/M]
    refused: REASON              skipped: REASON              FAILED: REASON

plus what the step prints (``STEP DATE: ...``, with paths but no hashes) and tracebacks.
Every start becomes a ``task_attempt`` marked ``passive`` (a log file nobody is told about
is not a detection signal); a refusal becomes an ``upstream_failed`` one. Mail files
written by the sendmail stub become ``alert`` records at the stub's real receive time.

The hardened scripts also write ``manifest.jsonl`` beside the logs (``lib.sh``): per
attempt its date, step, arguments, sha256 of each input and output file, the revision of
the step code, start and end (the log's own timestamps) and exit status. An attempt whose
manifest line is found (same date, step and start) gets its inputs and outputs with
their hashes added beside the paths its log printed, and its ``code_version``
(``STEP@REVISION``), all marked ``practiced``: lineage code a careful team writes, not
something cron records (``orchbench.trace``). The log's paths stay native.

cron-hardened's catch-up job (``catchup.sh``) logs the dates it re-runs to
``catchup.log``; the attempts it ran keep their own logical date (the step's log line
names it) and are marked with ``job`` (``catchup.sh``) and ``job_date`` (the morning it
ran on).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEP_BY_NAME, STEP_NAMES

SOURCE = "cron-log"
_EVENT = re.compile(
    r"^\[(?P<ts>[^\]]+)\] (?P<step>[a-z]+) (?P<date>\d{4}-\d{2}-\d{2}) "
    r"(?P<event>start|end|refused|skipped|FAILED)(?P<rest>.*)$"
)
_ATTEMPT = re.compile(r"attempt (\d+)/\d+")
_EXIT = re.compile(r"exit=(\d+)")
_OUTPUT = re.compile(r"^(?P<step>[a-z]+) (?P<date>\d{4}-\d{2}-\d{2}): (?P<msg>.*)$")
# What each step's own log line shows, by artifact name (paths only, never hashes).
_IO: dict[str, re.Pattern[str]] = {
    "ingest": re.compile(r"copied (?P<landing>\S+) -> (?P<raw>\S+)"),
    "validate": re.compile(r"-> (?P<validated>\S+)$"),
    "featurize": re.compile(r"-> (?P<features>\S+)$"),
    "train": re.compile(r"from (?P<features>\S+) -> (?P<model>\S+)$"),
    "register": re.compile(r"registered (?P<champion>\S+) as champion"),
    "canary": re.compile(r"promoted (?P<serving>\S+) to production"),
}
_SCRIPT = re.compile(r"/scripts/(?:naive|hardened)/([a-z]+)\.sh")
# lib.sh's failure report: "STEP for DATE failed (exit RC): ..."
_REPORT = re.compile(r"^([a-z]+) for (\d{4}-\d{2}-\d{2}) failed", re.MULTILINE)
MANIFEST = "manifest.jsonl"
CATCHUP_JOB, CATCHUP_LOG = (
    "catchup.sh",
    "catchup.log",
)  # its lines: "[ts] catchup TODAY start: D..."
_CATCHUP = re.compile(
    r"^\[(?P<ts>[^\]]+)\] catchup (?P<on>\d{4}-\d{2}-\d{2}) "
    r"(?P<event>start|done|FAILED):?(?P<rest>.*)$"
)
PRACTICED = ["code_version", "args"]  # the refs it adds are marked one by one
Manifest = dict[tuple[str, str, int], dict[str, Any]]  # (date, step, start ns) -> line


def parse_ts(text: str) -> int:
    """``2026-11-25 06:26:32.123456789+00:00`` (``date --rfc-3339=ns``) -> ns since epoch."""
    m = re.fullmatch(r"(\S+ \d\d:\d\d:\d\d)(?:[.,](\d+))?([+-]\d\d:?\d\d|Z)?", text.strip())
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    base = dt.datetime.fromisoformat(m[1] + (m[3] or "+00:00"))
    frac = (m[2] or "").ljust(9, "0")[:9]
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


def _state(rc: int) -> str:
    if rc == 0:
        return "success"
    return "crashed" if rc >= 128 else "failed"  # 124 = timeout(1) expired: failed


def _io(step: str, lines: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pattern = _IO.get(step)
    ins: list[dict[str, Any]] = []
    outs: list[dict[str, Any]] = []
    if pattern is None:
        return ins, outs
    spec = STEP_BY_NAME[step]
    for line in lines:
        m = pattern.search(line)
        if not m:
            continue
        for name, uri in m.groupdict().items():
            ref = {"name": name, "uri": uri, "sha256": None}
            (outs if name in spec.outputs else ins).append(ref)
    return ins, outs


def parse_manifest(path: Path) -> Manifest:
    """The manifest's lines by (date, step, start ns); unreadable lines are skipped."""
    out: Manifest = {}
    if not path.is_file():
        return out
    for raw in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
            out[(line["date"], line["step"], parse_ts(line["start"]))] = line
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _refs(refs: Any) -> list[dict[str, Any]]:
    return [
        {"name": r.get("name"), "uri": r.get("uri"), "sha256": r.get("sha256")}
        for r in refs or []
        if isinstance(r, dict)
    ]


def _practiced(record: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the inputs, outputs and code version of its manifest line added:
    the manifest's refs beside the paths the step's own log printed (those stay native),
    each marked ``practiced``; the code version is the manifest's alone."""
    revision = line.get("code_revision")
    return {
        **record,
        "inputs": [*record["inputs"], *_marked(line.get("inputs"))],
        "outputs": [*record["outputs"], *_marked(line.get("outputs"))],
        "code_version": f"{record['step']}@{revision}" if revision else None,
        "args": line.get("args"),
        "practiced": PRACTICED,
    }


def _marked(refs: Any) -> list[dict[str, Any]]:
    return [{**r, "practiced": True} for r in _refs(refs)]


def parse_log(path: Path, manifest: Manifest | None = None) -> list[dict[str, Any]]:
    """The ``task_attempt`` records one job's log file shows (with its manifest lines)."""
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None

    def close(end_ns: int | None, state: str) -> None:
        nonlocal current
        if current is None:
            return
        ins, outs = _io(current["step"], current.pop("lines"))
        rec = trace.task_attempt(
            **current, state=state, end_ns=end_ns, inputs=ins, outputs=outs, passive=True
        )
        line = (manifest or {}).get((rec["logical_date"], rec["step"], rec["start_ns"]))
        out.append(rec if line is None else _practiced(rec, line))
        current = None

    for line in path.read_text(errors="replace").splitlines():
        m = _EVENT.match(line)
        if not m:
            o = _OUTPUT.match(line)
            if current is not None and o and o["step"] == current["step"]:
                current["lines"].append(o["msg"])
            continue
        if m["step"] not in STEP_NAMES:
            continue
        try:
            t = parse_ts(m["ts"])
        except ValueError:
            continue
        a = _ATTEMPT.search(m["rest"])
        attempt = int(a[1]) if a else None
        event = m["event"]
        if event == "start":
            close(None, "unknown")  # a start with no end: killed, or the log was cut
            current = {
                "logical_date": m["date"],
                "step": m["step"],
                "source": SOURCE,
                "attempt": attempt,
                "start_ns": t,
                "lines": [],
                "log": str(path),
            }
        elif event == "end" and current is not None:
            rc = _EXIT.search(m["rest"])
            close(t, _state(int(rc[1])) if rc else "unknown")
        elif event in ("refused", "skipped"):
            close(None, "unknown")
            state = "upstream_failed" if event == "refused" else "skipped"
            out.append(
                trace.task_attempt(
                    logical_date=m["date"],
                    step=m["step"],
                    state=state,
                    source=SOURCE,
                    start_ns=t,
                    end_ns=t,
                    passive=True,
                    reason=m["rest"].lstrip(": "),
                    log=str(path),
                )
            )
    close(None, "unknown")
    return out


def parse_mail(path: Path) -> dict[str, Any] | None:
    """One mail the stub delivered -> an ``alert`` record (None if it is not one)."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
    received = msg.get("X-Sink-Received-Ns")
    if received is None:
        return None
    subject = " ".join(str(msg.get("Subject", "")).split())
    env = {}
    for value in msg.get_all("X-Cron-Env", []):
        key, _, val = str(value).strip().strip("<>").partition("=")
        env[key] = val
    m = _SCRIPT.search(subject)
    step = m[1] if m else None
    date = env.get("LOGICAL_DATE")
    if step not in STEP_NAMES:  # pipeline.sh, catchup.sh: the failed step's report names
        body = msg.get_payload(decode=True)  # it, and its date (the catch-up's is older)
        r = _REPORT.search(body.decode(errors="replace") if isinstance(body, bytes) else "")
        step, date = (r[1], r[2]) if r and r[1] in STEP_NAMES else (None, date)
    return trace.alert(
        t_ns=int(received),
        channel="mail",
        subject=subject,
        logical_date=date,
        step=step,
    )


@dataclass(frozen=True)
class CatchUp:
    """One run of cron-hardened's catch-up job, from its log (``catchup.sh``): the morning
    it ran on (its ``LOGICAL_DATE``), the older dates it re-ran, its start and end."""

    on: str
    dates: tuple[str, ...]
    start_ns: int
    end_ns: int | None  # None: no "done" or "FAILED" line (it was killed)


def parse_catchups(path: Path) -> list[CatchUp]:
    """Each catch-up of ``catchup.log`` that re-ran dates (``start: D...`` to ``done`` or
    ``FAILED``)."""
    out: list[CatchUp] = []
    if not path.is_file():
        return out
    open_: tuple[str, tuple[str, ...], int] | None = None
    for line in path.read_text(errors="replace").splitlines():
        m = _CATCHUP.match(line)
        if not m:
            continue
        t = parse_ts(m["ts"])
        if m["event"] == "start":
            if open_ is not None:
                out.append(CatchUp(open_[0], open_[1], open_[2], None))
            open_ = (m["on"], tuple(m["rest"].split()), t)
        elif open_ is not None and m["on"] == open_[0]:
            out.append(CatchUp(open_[0], open_[1], open_[2], t))
            open_ = None
    if open_ is not None:
        out.append(CatchUp(open_[0], open_[1], open_[2], None))
    return out


def _by_catchup(records: list[dict[str, Any]], catchups: list[CatchUp]) -> None:
    """Mark each attempt a catch-up ran (its date among the catch-up's, started while it
    ran) with ``job`` (``catchup.sh``) and ``job_date`` (the morning it ran on); the
    attempt keeps its own logical date."""
    for rec in records:
        for c in catchups:
            if (
                rec["logical_date"] in c.dates
                and rec["start_ns"] is not None
                and c.start_ns <= rec["start_ns"]
                and (c.end_ns is None or rec["start_ns"] <= c.end_ns)
            ):
                rec["job"], rec["job_date"] = CATCHUP_JOB, c.on
                break


def collect(logs: Path, alerts: Path) -> list[dict[str, Any]]:
    """Every job log under ``logs`` and every mail in the alert sink, in time order; the
    attempts a catch-up job ran say so (``job``, ``job_date``)."""
    records: list[dict[str, Any]] = []
    manifest = parse_manifest(logs / MANIFEST)
    for step in STEP_NAMES:
        records += parse_log(logs / f"{step}.log", manifest)
    _by_catchup(records, parse_catchups(logs / CATCHUP_LOG))
    if alerts.is_dir():
        for f in sorted(alerts.glob("*.eml")):
            rec = parse_mail(f)
            if rec is not None:
                records.append(rec)
    records.sort(key=lambda r: r.get("start_ns") or r.get("t_ns") or 0)
    return records
