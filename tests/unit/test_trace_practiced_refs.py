"""``native_only`` one level down: a ref's own ``practiced`` mark."""

from __future__ import annotations

from orchbench.trace import native_only, record, task_attempt


def test_marked_refs_lose_their_hash_or_go_and_unmarked_ones_stay() -> None:
    kfp_artifact = {
        "name": "raw",
        "uri": "/root/run/ingest/raw",
        "sha256": "a",
        "practiced": ["sha256"],
    }
    our_file = {"name": "landing", "uri": "/w/landing.csv", "sha256": "l", "practiced": True}
    plain = {"name": "model", "uri": "/m", "sha256": "m"}
    attempt = task_attempt(
        logical_date="d", step="validate", state="success", source="x",
        inputs=[kfp_artifact, our_file], outputs=[plain],
    )  # fmt: skip
    lineage = record("model_lineage", model_uri="/m", model_sha256="m",
                     training=kfp_artifact, practiced=["model_sha256"])  # fmt: skip
    a, m = native_only([attempt, lineage])
    assert a["inputs"] == [{**kfp_artifact, "sha256": None}]
    assert a["outputs"] == [plain]
    assert m["model_sha256"] is None and m["model_uri"] == "/m"
    assert m["training"]["sha256"] is None and m["training"]["uri"] == kfp_artifact["uri"]
    assert attempt["inputs"][0]["sha256"] == "a"  # the trace itself is not changed


def test_a_whole_practiced_ref_in_a_plain_field_becomes_null() -> None:
    r = record("model_lineage", model_uri="/m", training={"uri": "/f", "practiced": True})
    (n,) = native_only([r])
    assert n["training"] is None and n["model_uri"] == "/m"
