"""The dagster runner's ``declared`` record from a job snapshot's plain data
(``native.declared``), and the capability cells it feeds: no Dagster import, the
snapshot and retry policies are given as Dagster's reader would hand them over."""

from __future__ import annotations

from typing import Any

from orchbench.report.capability import NO, YES, static_gpu, static_typed_artifacts
from runners.dagster.native import declared

ANY, NOTHING = "Any", "Nothing"


def ops(**types: str) -> dict[str, dict[str, Any]]:
    """The seven assets' ops as the snapshot stores them, ``types`` replacing an op's
    ``result`` type; evaluate has the optional ``deploy_approved`` output."""
    chain = ["raw", "validated", "features", "model"]
    out: dict[str, dict[str, Any]] = {}
    for i, op in enumerate(chain):
        out[op] = {"outputs": {"result": (types.get(op, ANY), True)}, "inputs": chain[i - 1 : i]}
    out["evaluate"] = {
        "outputs": {"evaluation": (ANY, True), "deploy_approved": (ANY, False)},
        "inputs": ["model"],
    }
    out["registration"] = {
        "outputs": {"result": (ANY, True)},
        "inputs": ["model", "evaluation", "deploy_approved"],
    }
    out["deployment"] = {"outputs": {"result": (ANY, True)}, "inputs": ["registration"]}
    return out


def test_untyped_outputs_declare_no_typed_artifacts_and_the_cell_says_no() -> None:
    rec = declared(ops(), {}, {}, "snap")
    assert rec["typed_artifacts"] == []
    assert static_typed_artifacts(rec)[0] == NO
    assert rec["output_types"]["model"] == {"result": ANY}


def test_an_output_with_a_dagster_type_is_a_typed_artifact_of_its_step() -> None:
    rec = declared(ops(model="PandasDataFrame", raw=NOTHING), {}, {}, "snap")
    assert rec["typed_artifacts"] == [
        {"step": "train", "name": "result", "type": "PandasDataFrame"}
    ]
    assert static_typed_artifacts(rec)[0] == YES


def test_the_optional_output_and_the_op_that_takes_it_are_the_deploy_condition() -> None:
    rec = declared(ops(), {}, {}, "snap")
    assert rec["deploy_condition"] == (
        "evaluate's optional output 'deploy_approved' is materialized: registration"
    )


def test_no_optional_output_means_no_deploy_condition() -> None:
    graph = ops()
    graph["evaluate"]["outputs"]["deploy_approved"] = (ANY, True)
    assert declared(graph, {}, {}, "snap")["deploy_condition"] is None


def test_retries_by_step_and_the_run_timeout_from_the_job_tag() -> None:
    rec = declared(ops(), {"dagster/max_runtime": "1260"}, {"model": 2, "raw": 0}, "snap")
    assert rec["retries"] == {"train": 2}
    assert rec["timeouts"] == {}
    assert rec["max_runtime_s"] == 1260.0
    assert declared(ops(), {}, {}, "snap")["max_runtime_s"] is None


def test_no_resource_request_so_gpu_control_is_no() -> None:
    rec = declared(ops(), {}, {}, "job snapshot abc of run r1")
    assert static_gpu(rec)[0] == NO
    assert rec["source"] == "job snapshot abc of run r1"
