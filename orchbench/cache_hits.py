"""Stale cache hits: results a system served from its cache after their inputs changed.

A cache hit is a trace ``task_attempt`` with ``state: "cached"`` (the system's own record:
it did not run the step, so no attempt reached our wrapper). What the system could have
served is the result of a successful journaled attempt of the same (date, step) that ended
before the hit. The hit is stale when none of those attempts is *fresh* at the hit's time:

- an attempt is fresh at time t when every input it read still has the content it read at
  t, and the attempt that produced each of those inputs is fresh at t too (so a hit
  downstream of a changed landing file is stale even though its direct input, the previous
  step's output, did not change);
- what an attempt read is its journaled inputs, except that a fault that took effect in
  that attempt overrides the content of the artifacts it lists (``affected``: the wrapper
  hashes inputs before fault hooks tamper with them);
- the content of a file at time t is the last content the journal shows for its uri before
  t: an attempt's inputs at its start, its outputs at its end, a fault's ``affected``, and
  the harness event ``redelivered`` (a table a fault rewrote, put back in place at the
  fix: ``redelivery``, ``silent_corruption``; ``tables.restore``). A
  file the journal shows no change for counts as unchanged.
- only data inputs count (``source`` and ``dated`` artifacts): the ``state`` the pipeline
  itself moves on (the champion pointer, the serving slots) changes by design every time
  a date registers, so a cached ``evaluate`` across a new champion is not counted.

The hit's time is the trace record's ``start_ns`` (else ``end_ns``); a hit with neither is
judged against the last content the journal shows. A hit with no earlier successful
attempt of its (date, step) in the journal (a cache from before the run) is not judged.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

from orchbench.journal import REDELIVERED, Attempt, Journal
from orchbench.workflow.spec import kind_of

END_OF_TIME = 2**63 - 1


class Contents:
    """The journal's evidence of each file's content over time (uri -> [(t_ns, sha256)])."""

    def __init__(self, journal: Journal) -> None:
        seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for a in journal.attempts:
            for i in a.inputs:
                if i.sha256 is not None:
                    seen[i.uri].append((a.start_ns, i.sha256))
            if a.status == "success" and a.end_ns is not None:
                for o in a.outputs:
                    if o.sha256 is not None:
                        seen[o.uri].append((a.end_ns, o.sha256))
        for f in journal.faults:
            for r in f.get("affected") or []:
                if r.get("sha256") is not None:
                    seen[r["uri"]].append((int(f["t_ns"]), r["sha256"]))
        for h in journal.harness:
            if h.get("event") == REDELIVERED:
                for r in h.get("artifacts") or []:
                    if r.get("sha256") is not None:
                        seen[r["uri"]].append((int(h["t_ns"]), r["sha256"]))
        self._times = {u: [t for t, _ in sorted(v)] for u, v in seen.items()}
        self._shas = {u: [s for _, s in sorted(v)] for u, v in seen.items()}

    def at(self, uri: str, t_ns: int) -> str | None:
        """The content of ``uri`` last seen at or before ``t_ns`` (None: never seen)."""
        times = self._times.get(uri, [])
        k = bisect.bisect_right(times, t_ns)
        return self._shas[uri][k - 1] if k else None


def read_by(journal: Journal) -> dict[str, dict[str, str | None]]:
    """attempt_id -> {uri: sha256 it read} of its data inputs (``state`` artifacts left
    out), with a fault's ``affected`` content overriding the journaled input of the attempt
    the fault took effect in."""
    out = {
        a.attempt_id: {i.uri: i.sha256 for i in a.inputs if kind_of(i.name) != "state"}
        for a in journal.attempts
    }
    for f in journal.faults:
        seen = out.get(f.get("attempt_id") or "")
        if seen is None:
            continue
        for r in f.get("affected") or []:
            if r["uri"] in seen:
                seen[r["uri"]] = r.get("sha256")
    return out


def stale_cache_hits(journal: Journal, trace: list[dict[str, Any]]) -> int:
    """Cache hits (trace ``cached`` records) that served a result whose inputs, or any
    input upstream of them, changed after it was computed (see the module docstring)."""
    hits = [r for r in trace if r.get("kind") == "task_attempt" and r.get("state") == "cached"]
    if not hits:
        return 0
    contents = Contents(journal)
    reads = read_by(journal)
    done = [a for a in journal.attempts if a.status == "success" and a.end_ns is not None]
    made: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for a in done:
        for o in a.outputs:
            if o.sha256 is not None and reads[a.attempt_id].get(o.uri) != o.sha256:
                made[(o.uri, o.sha256)].append(a)
    memo: dict[tuple[str, int], bool] = {}

    def producer(a: Attempt, uri: str, sha: str) -> Attempt | None:
        before = [p for p in made.get((uri, sha), ()) if (p.end_ns or 0) <= a.start_ns]
        return max(before, key=lambda p: p.end_ns or 0, default=None)

    def fresh(a: Attempt, t: int) -> bool:
        key = (a.attempt_id, t)
        if key not in memo:
            memo[key] = True  # a cycle cannot happen (producers end before), but be safe
            ok = True
            for uri, sha in reads[a.attempt_id].items():
                if sha is None:
                    continue
                now = contents.at(uri, t)
                if now is not None and now != sha:
                    ok = False
                    break
                p = producer(a, uri, sha)
                if p is not None and not fresh(p, t):
                    ok = False
                    break
            memo[key] = ok
        return memo[key]

    stale = 0
    for r in hits:
        t = r.get("start_ns") or r.get("end_ns") or END_OF_TIME
        served = [
            a
            for a in done
            if a.logical_date == r.get("logical_date")
            and a.step == r.get("step")
            and (a.end_ns or 0) <= t
        ]
        if served and not any(fresh(a, t) for a in served):
            stale += 1
    return stale
