"""runners.cron.native and declared on hand-made logs, manifests, mail and crontabs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from orchbench import trace
from runners.cron import declared, native
from runners.cron.adapter import SCRIPTS

D = "2026-01-02"
T_START = "2026-12-05 10:00:00.100000000+00:00"
T_END = "2026-12-05 10:00:01.200000000+00:00"


def _train_log(path: Path) -> None:
    path.write_text(
        f"[{T_START}] train {D} start attempt 1/3\n"
        f"train {D}: fit from /a/{D}/features.csv -> /a/{D}/model.json\n"
        f"[{T_END}] train {D} end exit=0 attempt 1/3\n"
    )


def _manifest_line(start: str = T_START) -> dict:
    return {
        "date": D,
        "step": "train",
        "attempt": 1,
        "args": ["train", "--date", D, "--native", "try=1"],
        "inputs": [{"name": "features", "uri": f"/a/{D}/features.csv", "sha256": "f" * 64}],
        "outputs": [{"name": "model", "uri": f"/a/{D}/model.json", "sha256": "m" * 64}],
        "code_revision": "git:abc1234",
        "start": start,
        "end": T_END,
        "exit": 0,
    }


def test_manifest_fills_the_attempt_marked_practiced(tmp_path: Path) -> None:
    _train_log(tmp_path / "train.log")
    (tmp_path / native.MANIFEST).write_text(json.dumps(_manifest_line()) + "\nnot json\n")
    [rec] = native.collect(tmp_path, tmp_path / "alerts")
    assert rec["passive"] is True and rec["state"] == "success"
    assert rec["practiced"] == ["code_version", "args"]
    assert rec["code_version"] == "train@git:abc1234"
    # the log's own path (native, no hash) and the manifest's ref (practiced, hashed)
    assert [(r["sha256"], r.get("practiced")) for r in rec["outputs"]] == [
        (None, None),
        ("m" * 64, True),
    ]
    assert rec["args"][0] == "train"
    [bare] = trace.native_only([rec])
    assert [r["uri"] for r in bare["outputs"]] == [f"/a/{D}/model.json"]  # from the log
    assert all(r["sha256"] is None for r in bare["inputs"] + bare["outputs"])
    assert bare["code_version"] is None
    assert bare["step"] == "train" and bare["start_ns"] == rec["start_ns"]


def test_attempt_without_its_manifest_line_is_native_only(tmp_path: Path) -> None:
    _train_log(tmp_path / "train.log")
    other = _manifest_line(start="2026-12-05 10:00:00.100000001+00:00")
    (tmp_path / native.MANIFEST).write_text(json.dumps(other) + "\n")
    [rec] = native.collect(tmp_path, tmp_path / "alerts")
    assert "practiced" not in rec and rec["code_version"] is None
    assert [r["uri"] for r in rec["outputs"]] == [f"/a/{D}/model.json"]  # from the log
    assert all(r["sha256"] is None for r in rec["inputs"] + rec["outputs"])


def test_pipeline_mail_names_the_failed_step_from_its_report(tmp_path: Path) -> None:
    mail = tmp_path / "1.eml"
    mail.write_text(
        "X-Sink-Received-Ns: 5\n"
        "Subject: Cron <root@h> /x/runners/cron/scripts/hardened/pipeline.sh (failed)\n"
        f"X-Cron-Env: <LOGICAL_DATE={D}>\n\n"
        f"validate for {D} failed (exit 1): bad data, not retried (exit 65, attempt 1)\n"
        f"pipeline: validate failed for {D}; later steps not run\n"
    )
    rec = native.parse_mail(mail)
    assert rec is not None and (rec["step"], rec["logical_date"]) == ("validate", D)


def test_pipeline_crontab_declares_every_steps_retries(tmp_path: Path) -> None:
    tab = tmp_path / "crontab.txt"
    tab.write_text(
        "MAILTO=a@b\nRETRIES=2\nSTEP_TIMEOUT_S=60\n"
        f"0 2 * * * {SCRIPTS / 'hardened' / 'pipeline.sh'}\n"
    )
    rec = declared.declared(tab)
    assert rec is not None and len(rec["jobs"]) == 7
    assert set(rec["retries"].values()) == {2} and len(rec["timeouts"]) == 7


def test_rerun_refuses_bad_usage_before_touching_markers(tmp_path: Path) -> None:
    marker = tmp_path / "markers" / D / "train.ok"
    marker.parent.mkdir(parents=True)
    marker.touch()
    env = {"PATH": "/usr/bin:/bin", "PIPELINE_DATA": str(tmp_path), "PIPELINE_LOGS": "x"}
    rerun = str(SCRIPTS / "hardened" / "rerun.sh")
    for argv in ([D, "--from", "nosuchstep"], ["--from", "train"], ["yesterday"]):
        res = subprocess.run([rerun, *argv], env=env, capture_output=True, text=True)
        assert res.returncode == 2 and "usage" in res.stderr
    assert marker.exists()
