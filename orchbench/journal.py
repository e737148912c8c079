"""The step journal: the harness's ground truth, one JSON object per line.

Record types (field ``type``):

- ``attempt_start``: written before a step attempt does anything. ``attempt_id``, ``run_id``,
  ``runner``, ``logical_date``, ``step``, ``attempt`` (1-based, counted in this journal),
  ``pid``, ``start_ns`` (``time.time_ns()``), ``code_version``, ``inputs`` (list of
  ``{name, uri, sha256}``; sha256 is null for a missing file), ``native`` (what the runner
  says about the attempt, e.g. its own try number; informational only).
- ``attempt_end``: ``attempt_id`` plus ``end_ns``, ``cpu_s``, ``status``
  (``success``/``failed``), ``error_type``, ``error``, ``outputs``, ``result`` (the step's
  small summary dict, e.g. ``{"registered": true}``). An attempt with a start and no end was
  killed (timeout, crash, daemon stopped).
- ``fault_activated``: ``t_ns``, ``fault_id``, ``kind``, ``step``, ``logical_date``,
  ``attempt_id``, ``affected`` (artifacts the fault made wrong, ``{name, uri, sha256}``),
  ``detail``.
- ``harness``: ``t_ns``, ``event`` (``run_started``, ``days_finished``, ``fix_applied``,
  ``recovery_started``, ``recovery_finished``, ``run_finished``, ...), ``detail``. Event
  ``harness_assist`` is help the system got from us (see ``harness_assist``); event
  ``redelivered`` a landing file the upstream replaced in place (see ``REDELIVERED``).
- ``operator_intervention``: ``t_ns``, ``intervention`` (1, 2, ... in journal order),
  ``decision``: one decision of the operator, such as "after the fix, re-run 2024-01-02,
  2024-01-03 from validate" (counted as ``human_actions``).
- ``operator_action``: ``t_ns``, ``command``, ``intervention`` (the decision it carries
  out, or null): one command a human types (counted as ``operator_commands``; a command
  outside any decision is a decision of its own).

A side file per attempt, ``heartbeats/<attempt_id>.json`` beside the journal
(``{"cpu_s", "t_ns"}``, replaced atomically about every second by the wrapper while the
attempt runs and removed when it ends), tells how much CPU a killed attempt had used by its
last beat; ``Journal.load`` reads it into ``Attempt.heartbeat_cpu_s``/``heartbeat_ns``.

Every record is appended with one ``write`` on an ``O_APPEND`` descriptor, so concurrent
writers never interleave and a kill of the writer never loses a written line (it is in the
kernel's page cache at once). The lines are not fsynced: that would guard against a power
cut or a kernel crash, which no scenario injects, and cost two fsyncs per attempt (0.2 ms
each on an idle disk here, 4 ms under load; issue 29).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_NAME = "journal.jsonl"
HEARTBEATS = "heartbeats"
NUMBERS = "attempt-numbers"  # append_start's markers, beside the journal


def heartbeat_path(journal: Path | str, attempt_id: str) -> Path:
    """Where the wrapper keeps the running attempt's CPU so far (see the module docstring)."""
    return Path(journal).parent / HEARTBEATS / f"{attempt_id}.json"


def append_record(path: Path | str, record: dict[str, Any]) -> None:
    """Append one record as one line with a single write (see the module docstring)."""
    line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def append_start(path: Path | str, record: dict[str, Any]) -> int:
    """Append an ``attempt_start`` and return its attempt number.

    The number is the first n >= 1 whose marker ``attempt-numbers/<run_id>.<date>.<step>.<n>``
    beside the journal this call could create exclusively (``O_EXCL``): concurrent
    attempts of the same run, date and step never share a number, and numbering costs one
    create per earlier attempt of that step instead of a scan of the whole journal (which
    grew with it: 80 ms per attempt at 10k records). A kill between the marker and the line
    leaves that number unused.
    """
    numbers = Path(path).parent / NUMBERS
    numbers.mkdir(exist_ok=True)
    stem = f"{record['run_id']}.{record['logical_date']}.{record['step']}"
    n = 1
    while True:
        try:
            os.close(os.open(numbers / f"{stem}.{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            break
        except FileExistsError:
            n += 1
    record["attempt"] = n
    append_record(path, record)
    return n


# Help the system got from us: something our adapter or supervisor did that the system
# did not do itself. Journaled as harness event ``harness_assist`` with ``assist`` (its
# kind, below) and ``what`` (a sentence); counted in run.json as ``harness_assists``
# (per kind) and ``harness_help`` (all), never credited to the system.
HARNESS_ASSIST = "harness_assist"
ASSISTS = {
    "timeout_kill": "our adapter killed an attempt at the step's timeout (the system has none)",
    "memory_limit": "our adapter passed the step's memory limit to the container runtime",
    "scheduler_restarted": "our supervisor restarted the killed scheduler (as systemd or "
    "k8s would)",
}
# Journals written before ``harness_assist`` recorded these two as events of their own.
LEGACY_HELP_EVENTS = ("timeout_kill", "scheduler_restarted")
# A harness event for a stretch of real time that stands for a longer one in production
# (``start_ns``, ``end_ns``, ``production_s``): the schedule interval between two dates the
# day loop fires back to back, a cron daemon's idle time on its compressed clock. The
# metrics layer turns a real interval into the production clock by adding, for each such
# wait inside it, ``production_s`` minus its real length (``Runner.compressed_wait``).
COMPRESSED_WAIT = "compressed_wait"
# A harness event for files whose content the fix replaced in place (``artifacts``:
# ``{name, uri, sha256}`` as they are now; ``fault_id``, ``logical_date``): the upstream
# re-delivered a table a fault had rewritten. The metrics layer reads it as a change of
# that input (``stale_cache_hits``).
REDELIVERED = "redelivered"


def harness_event(path: Path | str, event: str, **detail: Any) -> None:
    append_record(path, {"type": "harness", "t_ns": time.time_ns(), "event": event, **detail})


def harness_assist(path: Path | str, assist: str, what: str, **detail: Any) -> None:
    """Journal one piece of help the system got from us (``assist``: a kind of ``ASSISTS``)."""
    if assist not in ASSISTS:
        raise ValueError(f"unknown harness assist {assist!r}; known: {', '.join(ASSISTS)}")
    harness_event(path, HARNESS_ASSIST, assist=assist, what=what, **detail)


def operator_intervention(path: Path | str, intervention: int, decision: str) -> None:
    record = {"type": "operator_intervention", "t_ns": time.time_ns()}
    append_record(path, {**record, "intervention": intervention, "decision": decision})


def operator_action(path: Path | str, command: str, intervention: int | None = None) -> None:
    record = {"type": "operator_action", "t_ns": time.time_ns(), "command": command}
    append_record(path, {**record, "intervention": intervention})


def read_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """All complete records; a torn last line (writer killed mid-write) is skipped."""
    p = Path(path)
    if not p.exists():
        return
    with p.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                yield json.loads(raw)
            except ValueError:
                continue


@dataclass
class ArtifactRef:
    name: str
    uri: str
    sha256: str | None

    @classmethod
    def of(cls, d: dict[str, Any]) -> ArtifactRef:
        return cls(d["name"], d["uri"], d.get("sha256"))


@dataclass
class Attempt:
    """One step attempt, start and (if it finished) end joined."""

    attempt_id: str
    run_id: str
    runner: str
    logical_date: str
    step: str
    attempt: int
    pid: int
    start_ns: int
    code_version: str | None
    inputs: list[ArtifactRef]
    end_ns: int | None = None
    cpu_s: float | None = None
    status: str = "killed"  # success | failed | killed (no end record)
    error_type: str | None = None
    error: str | None = None
    outputs: list[ArtifactRef] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    native: dict[str, Any] = field(default_factory=dict)
    heartbeat_cpu_s: float | None = None  # killed attempts: CPU by the last heartbeat
    heartbeat_ns: int | None = None  # killed attempts: time of the last heartbeat

    @property
    def finished(self) -> bool:
        return self.end_ns is not None

    @property
    def wall_s(self) -> float | None:
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9


@dataclass
class Journal:
    """A parsed journal: attempts in start order plus the other record types."""

    attempts: list[Attempt]
    faults: list[dict[str, Any]]
    harness: list[dict[str, Any]]
    operator_actions: list[dict[str, Any]]
    interventions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]] | Iterator[dict[str, Any]]) -> Journal:
        attempts: dict[str, Attempt] = {}
        faults, harness, ops, decisions = [], [], [], []
        for r in records:
            t = r.get("type")
            if t == "attempt_start":
                attempts[r["attempt_id"]] = Attempt(
                    attempt_id=r["attempt_id"],
                    run_id=r["run_id"],
                    runner=r.get("runner", ""),
                    logical_date=r["logical_date"],
                    step=r["step"],
                    attempt=r.get("attempt", 1),
                    pid=r.get("pid", 0),
                    start_ns=r["start_ns"],
                    code_version=r.get("code_version"),
                    inputs=[ArtifactRef.of(i) for i in r.get("inputs", [])],
                    native=r.get("native") or {},
                )
            elif t == "attempt_end":
                a = attempts.get(r["attempt_id"])
                if a is None:
                    continue
                a.end_ns = r["end_ns"]
                a.cpu_s = r.get("cpu_s")
                a.status = r.get("status", "failed")
                a.error_type = r.get("error_type")
                a.error = r.get("error")
                a.outputs = [ArtifactRef.of(o) for o in r.get("outputs", [])]
                a.result = r.get("result") or {}
            elif t == "fault_activated":
                faults.append(r)
            elif t == "harness":
                harness.append(r)
            elif t == "operator_action":
                ops.append(r)
            elif t == "operator_intervention":
                decisions.append(r)
        ordered = sorted(attempts.values(), key=lambda a: a.start_ns)
        return cls(ordered, faults, harness, ops, decisions)

    @classmethod
    def load(cls, path: Path | str) -> Journal:
        """Parse a journal file, with the heartbeats of its unfinished attempts."""
        j = cls.from_records(read_records(path))
        for a in j.attempts:
            if a.end_ns is not None:
                continue
            try:
                beat = json.loads(heartbeat_path(path, a.attempt_id).read_text())
            except (OSError, ValueError):
                continue
            a.heartbeat_cpu_s = float(beat.get("cpu_s", 0.0))
            a.heartbeat_ns = beat.get("t_ns")
        return j

    @property
    def assists(self) -> list[dict[str, Any]]:
        """The harness's help, each with its ``assist`` kind (older journals' own events
        included)."""
        out = []
        for h in self.harness:
            if h.get("event") == HARNESS_ASSIST:
                out.append(h)
            elif h.get("event") in LEGACY_HELP_EVENTS:
                out.append({**h, "assist": h["event"]})
        return out

    @property
    def human_actions(self) -> int:
        """Operator interventions: the decisions, plus commands typed outside any."""
        loose = sum(a.get("intervention") is None for a in self.operator_actions)
        return len(self.interventions) + loose

    def harness_time(self, event: str) -> int | None:
        """Time of the first harness record with this event, or None."""
        for h in self.harness:
            if h.get("event") == event:
                return int(h["t_ns"])
        return None
