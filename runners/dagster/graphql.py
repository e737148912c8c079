"""The harness's side of Dagster's GraphQL API (served by the webserver ``dagster dev``
starts): launch a run of a partition, re-execute a run from a step, terminate a run, read
run states, reload the code location, turn a schedule on. Plain HTTP from the harness's
venv (no Dagster import)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
REPOSITORY = "__repository__"  # the repository name of a Definitions object

LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUNS = """
{ runsOrError { ... on Runs { results { runId status parentRunId rootRunId
  startTime endTime tags { key value } } } } }
"""
RUNS_TAGGED = """
query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId status
  parentRunId rootRunId startTime endTime tags { key value } } } } }
"""
LAUNCH = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }
"""
REEXECUTE = """
mutation($p: ExecutionParams!) { launchRunReexecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }
"""
RELOAD = """
mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
  __typename ... on WorkspaceLocationEntry { loadStatus } ... on PythonError { message } } }
"""

START_SCHEDULE = """
mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
  __typename ... on ScheduleStateResult { scheduleState { status } }
  ... on PythonError { message } ... on ScheduleNotFoundError { message } } }
"""
BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } ... on PartitionSetNotFoundError { message }
  ... on PartitionKeysNotFoundError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on PythonError { message } } }
"""
BACKFILL_TAG = "dagster/backfill"  # on each run a backfill launched
SENSOR_TICKS = """
query($s: SensorSelector!, $after: Float) { sensorOrError(sensorSelector: $s) {
  __typename ... on Sensor { sensorState { ticks(afterTimestamp: $after, limit: 5) {
  timestamp status } } } ... on PythonError { message } } }
"""
# a sensor tick whose evaluation is over (``STARTED``: still evaluating)
TICK_DONE = frozenset({"SUCCESS", "SKIPPED", "FAILURE"})
TERMINATE = """
mutation($id: String!, $policy: TerminateRunPolicy) {
  terminateRun(runId: $id, terminatePolicy: $policy) {
  __typename ... on TerminateRunFailure { message } ... on PythonError { message }
  ... on RunNotFoundError { message } } }
"""
# the UI's "Terminate" with "Force termination immediately" ticked: the run is marked
# canceled whether or not a process still runs it (the only way for a dead worker's run)
FORCE = "MARK_AS_CANCELED_IMMEDIATELY"


class GraphQLError(RuntimeError):
    """Dagster's GraphQL API refused or failed a request."""


@dataclass
class Api:
    url: str  # http://127.0.0.1:<port>/graphql

    def query(self, text: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        req = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            out = json.loads(resp.read())
        if out.get("errors"):
            raise GraphQLError(json.dumps(out["errors"])[:500])
        return out["data"]

    def up(self) -> bool:
        try:
            self.query("{ version }", timeout=2)
            return True
        except (OSError, urllib.error.URLError, ValueError, GraphQLError):
            return False

    def location(self) -> tuple[str | None, str | None]:
        """The loaded code location's name (None while loading) and its load error."""
        data = self.query(LOCATIONS)
        for e in data["workspaceOrError"].get("locationEntries") or []:
            err = e.get("locationOrLoadError") or {}
            if err.get("__typename") == "PythonError":
                return None, err.get("message")
            if e.get("loadStatus") == "LOADED" and err:
                return e["name"], None
        return None, None

    def runs(self, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every run of the instance (with ``tags``: those carrying all of them), newest
        first, with its tags as a dict."""
        if tags:
            f = {"tags": [{"key": k, "value": v} for k, v in tags.items()]}
            data = self.query(RUNS_TAGGED, {"f": f})
        else:
            data = self.query(RUNS)
        out = []
        for r in data["runsOrError"].get("results") or []:
            out.append({**r, "tags": {t["key"]: t["value"] for t in r.get("tags") or []}})
        return out

    def _launch(self, mutation: str, key: str, params: dict[str, Any]) -> str:
        data = self.query(mutation, {"p": params})[key]
        if data["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"{key}: {json.dumps(data)[:500]}")
        return str(data["run"]["runId"])

    def launch(
        self,
        location: str,
        job: str,
        tags: dict[str, str],
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """Launch one run of ``job`` (the launchpad's "Launch Run"), with ``run_config``."""
        params = _params(location, job, tags)
        if run_config:
            params["runConfigData"] = run_config
        return self._launch(LAUNCH, "launchRun", params)

    def reexecute(
        self,
        location: str,
        job: str,
        tags: dict[str, str],
        parent: dict[str, Any],
        step_keys: list[str],
    ) -> str:
        """Re-execute ``parent`` from the given steps (what the UI's "Re-execute from
        selected" sends): the new run records ``parent`` as its parent and its root."""
        params = _params(location, job, tags)
        params["stepKeys"] = step_keys
        params["executionMetadata"]["parentRunId"] = parent["runId"]
        params["executionMetadata"]["rootRunId"] = parent.get("rootRunId") or parent["runId"]
        return self._launch(REEXECUTE, "launchRunReexecution", params)

    def backfill(self, location: str, job: str, partitions: list[str], tags: dict[str, str]) -> str:
        """Launch a backfill of ``job`` over ``partitions`` (what the job's Partitions tab
        "Launch backfill" and ``dagster job backfill --partitions`` send): the daemon's
        backfill loop submits one run per partition, tagged ``dagster/backfill``."""
        params = {
            "selector": {
                "partitionSetName": f"{job}_partition_set",
                "repositorySelector": {
                    "repositoryLocationName": location,
                    "repositoryName": REPOSITORY,
                },
            },
            "partitionNames": partitions,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        data = self.query(BACKFILL, {"p": params})["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"launchPartitionBackfill: {json.dumps(data)[:500]}")
        return str(data["backfillId"])

    def backfill_status(self, backfill_id: str) -> str:
        data = self.query(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return str(data.get("status") or data.get("message"))

    def start_schedule(self, location: str, name: str) -> str:
        """Turn the schedule on (the UI's toggle); its status after."""
        selector = {
            "repositoryLocationName": location,
            "repositoryName": REPOSITORY,
            "scheduleName": name,
        }
        data = self.query(START_SCHEDULE, {"s": selector})["startSchedule"]
        if data["__typename"] != "ScheduleStateResult":
            raise GraphQLError(f"startSchedule: {json.dumps(data)[:500]}")
        return str(data["scheduleState"]["status"])

    def terminate(self, run_id: str, policy: str = FORCE) -> str:
        """Terminate a run; Dagster's answer (``TerminateRunSuccess`` or the failure)."""
        data = self.query(TERMINATE, {"id": run_id, "policy": policy})["terminateRun"]
        return str(data["__typename"] + (f": {data['message']}" if data.get("message") else ""))

    def sensor_ticked_after(self, location: str, name: str, t: float) -> bool:
        """Whether the sensor ``name`` has a tick after ``t`` (epoch s) whose evaluation is
        over."""
        selector = {
            "repositoryLocationName": location,
            "repositoryName": REPOSITORY,
            "sensorName": name,
        }
        data = self.query(SENSOR_TICKS, {"s": selector, "after": t})["sensorOrError"]
        if data["__typename"] != "Sensor":
            raise GraphQLError(f"sensorOrError: {json.dumps(data)[:500]}")
        ticks = (data.get("sensorState") or {}).get("ticks") or []
        return any(k["status"] in TICK_DONE and k["timestamp"] > t for k in ticks)

    def reload(self, location: str) -> str:
        data = self.query(RELOAD, {"name": location}, timeout=120)["reloadRepositoryLocation"]
        return str(data.get("loadStatus") or data.get("message"))


def _params(location: str, job: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": REPOSITORY,
            "jobName": job,
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
