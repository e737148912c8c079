"""A fake filesystem and clock that write journal records the way the step wrapper does.

Each ``step`` call reads its spec inputs from the fake files, journals a start, optionally
activates a fault (tampering with inputs after their hashes were journaled, as fault hooks
do), then writes outputs whose hashes depend only on the input hashes (steps are pure),
plus the date for register and canary. Used by the metrics and lineage tests.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from orchbench.journal import Journal
from orchbench.workflow.spec import STEP_BY_NAME, STEP_NAMES

S = 1_000_000_000  # ns per second
FIXED_URIS = {
    "holdout": "ref/holdout.csv",
    "reference": "ref/profile.json",
    "champion": "registry/champion.json",
    "serving": "serving",
}


def ref(name: str, uri: str, sha: str | None) -> dict[str, Any]:
    return {"name": name, "uri": uri, "sha256": sha}


def digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class Builder:
    """``layout``: ``dated`` (per-date artifact uris) or ``current`` (cron's reused paths)."""

    def __init__(self, layout: str = "dated") -> None:
        self.layout = layout
        self.records: list[dict[str, Any]] = []
        self.files: dict[str, str | None] = {
            FIXED_URIS["holdout"]: "holdout-sha",
            FIXED_URIS["reference"]: "profile-sha",
        }
        self.t = 100 * S
        self.numbers: Counter[tuple[str, str]] = Counter()
        self.registered: str | None = None  # model sha of the last registration

    def uri(self, name: str, date: str) -> str:
        if name == "landing":
            return f"landing/{date}.csv"
        if name in FIXED_URIS:
            return FIXED_URIS[name]
        return f"current/{name}" if self.layout == "current" else f"art/{date}/{name}"

    def read(self, name: str, date: str) -> str | None:
        uri = self.uri(name, date)
        if name == "landing":
            self.files.setdefault(uri, f"landing-{date}")
        return self.files.get(uri)

    def step(
        self,
        step: str,
        date: str,
        *,
        status: str = "success",
        cpu: float = 1.0,
        wall: float = 2.0,
        deploy: bool = True,
        tamper: dict[str, str] | None = None,
        transient: bool = False,
        code_version: str | None = None,
        native: dict[str, Any] | None = None,
    ) -> str:
        """One attempt; ``status`` success/failed/killed. Returns its attempt_id."""
        spec = STEP_BY_NAME[step]
        self.numbers[(date, step)] += 1
        aid = f"{date}/{step}/{self.numbers[(date, step)]}"
        start = self.t + S // 10
        self.records.append(
            {
                "type": "attempt_start",
                "attempt_id": aid,
                "run_id": "r1",
                "runner": "test",
                "logical_date": date,
                "step": step,
                "attempt": self.numbers[(date, step)],
                "pid": 1,
                "start_ns": start,
                "code_version": code_version or f"cv-{step}",
                "inputs": [ref(n, self.uri(n, date), self.read(n, date)) for n in spec.inputs],
                "native": native or {},
            }
        )
        if tamper is not None or transient:
            affected = []
            for name, sha in (tamper or {}).items():
                self.files[self.uri(name, date)] = sha
                affected.append(ref(name, self.uri(name, date), sha))
            self.fault(aid, step, date, affected, t_ns=start + 1_000_000)
        end = start + int(wall * S)
        self.t = end
        if status == "killed":
            return aid
        outputs: list[dict[str, Any]] = []
        result: dict[str, Any] = {}
        if status == "success":
            seen = [self.read(n, date) for n in spec.inputs]
            salt = date if step in ("register", "canary") else ""
            for name in spec.outputs:
                uri = self.uri(name, date)
                if deploy or name not in ("champion", "serving"):
                    self.files[uri] = digest(step, name, seen, salt)
                outputs.append(ref(name, uri, self.files.get(uri)))
            if step == "evaluate":
                result = {"deploy": deploy}
            if step == "register":
                model = self.read("model", date)
                result = {"registered": deploy, "model_sha256": model}
                self.registered = model if deploy else self.registered
            if step == "canary":
                result = {"deployed": deploy}
                if deploy:
                    result["model_sha256"] = self.registered
        self.records.append(
            {
                "type": "attempt_end",
                "attempt_id": aid,
                "end_ns": end,
                "cpu_s": cpu,
                "status": status,
                "outputs": outputs,
                "result": result,
            }
        )
        return aid

    def day(self, date: str, upto: str = "canary", **kw: Any) -> dict[str, str]:
        """Every step of ``date`` in spec order up to ``upto``, all successful."""
        steps = STEP_NAMES[: STEP_NAMES.index(upto) + 1]
        return {s: self.step(s, date, **kw) for s in steps}

    def fault(
        self,
        aid: str,
        step: str,
        date: str,
        affected: list[dict[str, Any]],
        t_ns: int | None = None,
    ) -> int:
        t = self.t + S // 20 if t_ns is None else t_ns
        self.records.append(
            {
                "type": "fault_activated",
                "t_ns": t,
                "fault_id": f"f{len(self.records)}",
                "kind": "test",
                "step": step,
                "logical_date": date,
                "attempt_id": aid,
                "affected": affected,
                "detail": {},
            }
        )
        return t

    def event(self, event: str, **detail: Any) -> int:
        self.t += S // 20
        self.records.append({"type": "harness", "t_ns": self.t, "event": event, **detail})
        return self.t

    def op(self, command: str, intervention: int | None = None) -> None:
        record = {"type": "operator_action", "t_ns": self.t, "command": command}
        self.records.append({**record, "intervention": intervention})

    def decide(self, decision: str) -> int:
        """Journal one operator intervention; returns its number (for ``op``)."""
        n = 1 + sum(r["type"] == "operator_intervention" for r in self.records)
        record = {"type": "operator_intervention", "t_ns": self.t, "intervention": n}
        self.records.append({**record, "decision": decision})
        return n

    def assist(self, assist: str, **detail: Any) -> int:
        return self.event("harness_assist", assist=assist, what=f"test {assist}", **detail)

    def journal(self) -> Journal:
        return Journal.from_records(list(self.records))
