"""The seven steps. Each is a pure function of its inputs and the logical date.

Every step takes a ``StepCall`` (explicit input/output paths chosen by the runner, the
world's config) and returns a small summary dict that the journal keeps as ``result``.
They print short log lines to stdout, as batch scripts do (paths, row counts, decisions;
no content hashes: those are the harness's truth, not the workflow's logging).

Heavy libraries (pandas, pandera, scikit-learn) are imported by ``preload`` before the
wrapper starts timing, so import cost counts as orchestration overhead, not step CPU,
whether a runner starts one process per step (cron, Airflow) or one per flow (Prefect).
Each is imported by the steps that use it only: ``ingest`` and ``register`` copy and hash
files, and a process that runs one of them alone skips pandas (about 0.5 s of CPU of the
0.6 s a step process needs to import this module with it, measured on 2 cores).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.hashing import sha256_path
from orchbench.workflow.repo import load_module
from orchbench.workflow.spec import COUNTRIES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from orchbench.contracts import StepCall

HEAVY_IMPORTS: dict[str, tuple[str, ...]] = {
    "validate": ("pandas", "pandera.pandas"),
    "featurize": ("pandas",),
    "train": ("pandas", "sklearn.linear_model", "sklearn.preprocessing"),
    "evaluate": ("pandas",),
    "canary": ("pandas",),
}
FEATURES = (
    "log_amount",
    "n_items",
    "age_years",
    "hour_sin",
    "hour_cos",
    "discount",
    *(f"country_{c}" for c in COUNTRIES),
)
DRIFT_LIMIT = 0.5  # |mean - ref mean| / ref std above this fails validation
CANARY_ROWS = 1000


class ValidationFailed(RuntimeError):
    """The day's data broke the schema, row-count, null or drift checks."""


class CanaryCheckFailed(RuntimeError):
    """The model on the canary slot did not pass its live check; rolled back."""


def preload(step: str) -> None:
    for mod in HEAVY_IMPORTS.get(step, ()):
        importlib.import_module(mod)


def log(call: StepCall, msg: str) -> None:
    print(f"{call.step} {call.logical_date}: {msg}", flush=True)


def write_json(obj: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (temp file + rename), keys sorted so content hashes are stable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


# --- ingest -------------------------------------------------------------------------------


def ingest(call: StepCall) -> dict[str, Any]:
    src, dst = call.inputs["landing"], call.outputs["raw"]
    if not src.is_file():
        raise FileNotFoundError(f"partition for {call.logical_date} has not landed: {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    log(call, f"copied {src} -> {dst}")
    return {"bytes": dst.stat().st_size}


# --- validate -----------------------------------------------------------------------------


def _schema(profile: dict[str, Any]) -> Any:
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "event_id": pa.Column(int, unique=True),
            "amount": pa.Column(float, pa.Check.ge(0)),
            "n_items": pa.Column(int, pa.Check.in_range(1, 50)),
            "account_age_days": pa.Column(int, pa.Check.ge(0)),
            "country": pa.Column(str, pa.Check.isin(profile["countries"])),
            "hour": pa.Column(int, pa.Check.in_range(0, 23)),
            "discount": pa.Column(float, pa.Check.in_range(0, 1)),
            "label": pa.Column(int, pa.Check.isin([0, 1])),
        },
        strict=True,
        ordered=False,
    )


def validate(call: StepCall) -> dict[str, Any]:
    import pandas as pd
    import pandera.errors

    from orchbench.workflow.data import write_csv

    profile = json.loads(call.inputs["reference"].read_text())
    df = pd.read_csv(call.inputs["raw"])
    min_rows = int(call.config.get("min_rows", 1))
    if len(df) < min_rows:
        raise ValidationFailed(f"{len(df)} rows, expected at least {min_rows}")
    nulls = int(df.isna().sum().sum())
    if nulls:
        raise ValidationFailed(f"{nulls} null values")
    try:
        _schema(profile).validate(df, lazy=True)
    except (pandera.errors.SchemaErrors, pandera.errors.SchemaError) as e:
        first = str(e).strip().splitlines()[:3]
        raise ValidationFailed("schema check failed: " + " | ".join(first)) from None
    drift = {}
    for col, ref in profile["numeric"].items():
        z = abs(float(df[col].mean()) - ref["mean"]) / (ref["std"] or 1.0)
        drift[col] = round(z, 4)
    drifted = {c: z for c, z in drift.items() if z > DRIFT_LIMIT}
    if drifted:
        raise ValidationFailed(f"drift above {DRIFT_LIMIT} std: {drifted}")
    write_csv(df, call.outputs["validated"])
    log(call, f"{len(df)} rows valid (schema, nulls, drift) -> {call.outputs['validated']}")
    return {"rows": len(df), "max_drift": max(drift.values())}


# --- featurize ----------------------------------------------------------------------------


def features_of(df: pd.DataFrame) -> pd.DataFrame:
    """The feature transform, shared by featurize and by evaluation on the holdout."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(
        {
            "log_amount": np.log1p(df["amount"].astype(float)),
            "n_items": df["n_items"].astype(float),
            "age_years": df["account_age_days"].astype(float) / 365.0,
            "hour_sin": np.sin(2 * math.pi * df["hour"] / 24),
            "hour_cos": np.cos(2 * math.pi * df["hour"] / 24),
            "discount": df["discount"].astype(float),
        }
    )
    for c in COUNTRIES:
        out[f"country_{c}"] = (df["country"] == c).astype(float)
    out["label"] = df["label"].astype(int)
    return out


def featurize(call: StepCall) -> dict[str, Any]:
    import pandas as pd

    from orchbench.workflow.data import write_csv

    df = pd.read_csv(call.inputs["validated"])
    feats = features_of(df)
    write_csv(feats, call.outputs["features"])
    log(call, f"{len(feats)} rows, {len(FEATURES)} features -> {call.outputs['features']}")
    return {"rows": len(feats)}


# --- train --------------------------------------------------------------------------------


def train(call: StepCall) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    df = pd.read_csv(call.inputs["features"])
    x = df[list(FEATURES)].to_numpy(dtype=float)
    y = df["label"].to_numpy()
    scaler = StandardScaler().fit(x)
    # The constants come from the team's code repository (world/code/train.py), read at
    # each attempt: revision 1 searches 20 strengths x 5 folds, about a second of CPU.
    # One BLAS thread: the same CPU cost whatever else the machine runs, on every runner.
    impl = load_module(call.world, "train")
    with threadpool_limits(limits=1):
        clf = LogisticRegressionCV(
            Cs=int(impl["CS"]),
            cv=5,
            max_iter=1000,
            l1_ratios=(0.0,),
            scoring="accuracy",
            use_legacy_attributes=False,
        ).fit(scaler.transform(x), y)
    model = {
        "kind": "logistic_regression",
        "features": list(FEATURES),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [float(v) for v in clf.coef_[0]],
        "intercept": float(clf.intercept_[0]),
        "C": float(np.ravel(clf.C_)[0]),
    }
    write_json(model, call.outputs["model"])
    log(
        call, f"trained on {len(df)} rows from {call.inputs['features']} -> {call.outputs['model']}"
    )
    return {"rows": len(df)}


def predict(model: dict[str, Any], feats: pd.DataFrame) -> np.ndarray:
    import numpy as np

    x = feats[model["features"]].to_numpy(dtype=float)
    z = ((x - np.array(model["mean"])) / np.array(model["scale"])) @ np.array(model["coef"])
    return (z + model["intercept"] > 0).astype(int)


def accuracy(model: dict[str, Any], holdout_csv: Path, rows: int | None = None) -> float:
    import pandas as pd

    df = pd.read_csv(holdout_csv, nrows=rows)
    feats = features_of(df)
    return float((predict(model, feats) == feats["label"].to_numpy()).mean())


# --- evaluate -----------------------------------------------------------------------------


def model_file(champion_path: Path, pointer: dict[str, Any]) -> Path:
    """A registry pointer's model file (``model_uri`` is relative to the registry root)."""
    return champion_path.parent / pointer["model_uri"]


def _champion(champion_path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(champion_path.read_text())
    except FileNotFoundError:
        return None


def evaluate(call: StepCall) -> dict[str, Any]:
    model = json.loads(call.inputs["model"].read_text())
    acc = accuracy(model, call.inputs["holdout"])
    champ = _champion(call.inputs["champion"])
    champ_acc = None
    if champ is not None:
        champ_model = json.loads(model_file(call.inputs["champion"], champ).read_text())
        champ_acc = accuracy(champ_model, call.inputs["holdout"])
    floor = call.config.get("min_accuracy")
    better = champ_acc is None or acc > champ_acc
    passes_floor = floor is None or acc > floor
    out = {
        "candidate_sha256": sha256_path(call.inputs["model"]),
        "accuracy": round(acc, 6),
        "champion_sha256": champ["model_sha256"] if champ else None,
        "champion_accuracy": None if champ_acc is None else round(champ_acc, 6),
        "better_than_champion": better,
        "min_accuracy": floor,
        "passes_floor": passes_floor,
        "deploy": better and passes_floor,
    }
    write_json(out, call.outputs["evaluation"])
    log(call, f"accuracy {acc:.4f} vs champion {champ_acc}; deploy={out['deploy']}")
    return {k: out[k] for k in ("accuracy", "champion_accuracy", "deploy")}


# --- register -----------------------------------------------------------------------------


def register(call: StepCall) -> dict[str, Any]:
    ev = json.loads(call.inputs["evaluation"].read_text())
    model_path = call.inputs["model"]
    sha = sha256_path(model_path)
    record: dict[str, Any] = {"logical_date": str(call.logical_date), "model_sha256": sha}
    if ev["deploy"]:
        registry = call.outputs["champion"].parent
        uri = f"models/{sha}.json"  # relative, so registry records are the same everywhere
        stored = registry / uri
        stored.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_path, stored)
        write_json(
            {
                "model_sha256": sha,
                "model_uri": uri,
                "accuracy": ev["accuracy"],
                "logical_date": str(call.logical_date),
            },
            call.outputs["champion"],
        )
        record.update(registered=True, model_uri=uri, accuracy=ev["accuracy"])
        log(call, f"registered {stored} as champion (accuracy {ev['accuracy']})")
    else:
        reason = "not better than champion" if not ev["better_than_champion"] else "below floor"
        record.update(registered=False, reason=reason)
        log(call, f"not registered: {reason}")
    write_json(record, call.outputs["registration"])
    return {"registered": record["registered"], "model_sha256": sha}


# --- canary -------------------------------------------------------------------------------


def canary(call: StepCall) -> dict[str, Any]:
    reg = json.loads(call.inputs["registration"].read_text())
    serving = call.outputs["serving"]
    serving.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"logical_date": str(call.logical_date)}
    if not reg.get("registered"):
        record.update(deployed=False, reason="no new champion")
        write_json(record, call.outputs["deployment"])
        log(call, "nothing new to deploy")
        return {"deployed": False}
    slot = {"model_sha256": reg["model_sha256"], "model_uri": reg["model_uri"]}
    write_json(slot, serving / "canary.json")
    model = json.loads(model_file(call.inputs["champion"], reg).read_text())
    live_acc = accuracy(model, call.inputs["holdout"], rows=CANARY_ROWS)
    floor = max(0.5, call.config.get("min_accuracy") or 0.0)
    record.update(model_sha256=reg["model_sha256"], canary_accuracy=round(live_acc, 6))
    if live_acc <= floor:
        prod = _champion(serving / "production.json")
        if prod:
            write_json(prod, serving / "canary.json")
        else:
            (serving / "canary.json").unlink(missing_ok=True)
        raise CanaryCheckFailed(f"canary accuracy {live_acc:.4f} <= {floor}; rolled back")
    write_json(slot, serving / "production.json")
    record.update(deployed=True, promoted=True)
    write_json(record, call.outputs["deployment"])
    log(call, f"canary ok ({live_acc:.4f}); promoted {reg['model_uri']} to production")
    return {"deployed": True, "model_sha256": reg["model_sha256"]}


STEP_FUNCS: dict[str, Callable[[StepCall], dict[str, Any]]] = {
    "ingest": ingest,
    "validate": validate,
    "featurize": featurize,
    "train": train,
    "evaluate": evaluate,
    "register": register,
    "canary": canary,
}
