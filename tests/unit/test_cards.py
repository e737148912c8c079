"""Every runner's every profile fills its configuration card (``orchbench.card``): each
aspect said, nothing else, for its own deployment and for a remote one.

The adapters are only instantiated, as ``tests/unit/test_plugins.py`` does: a card is
built from the adapter's configuration objects and the pipeline files of the checkout
(read, never imported), so no service starts and no runner environment (``.venvs/``) is
needed. A runner whose adapter cannot be made here (``EnvironmentMissing``, an import the
harness's environment lacks) is skipped with the reason.
"""

from __future__ import annotations

import pytest

from orchbench import plugins
from orchbench.card import ASPECTS, problems
from orchbench.runner import EnvironmentMissing, Runner
from tests.conftest import REPO

FOUND = plugins.all_plugins()
CASES = [(name, profile) for name in sorted(FOUND) for profile in FOUND[name].profiles]
# what a remote flag points at; only read by the adapters here, never reached
REMOTE = {
    "ORCHBENCH_AIRFLOW_URL": "http://user:password@airflow.invalid:8080",
    "ORCHBENCH_PREFECT_API_URL": "http://prefect.invalid:4200/api",
    "ORCHBENCH_KFP_HOST": "http://kfp.invalid:8888",
    "ORCHBENCH_DOCKER_HOST": "unix:///nonexistent/docker.sock",
}


def _adapter(name: str, profile: str) -> Runner:
    try:
        return FOUND[name].adapter_class()(profile=profile, repo_root=REPO)
    except (EnvironmentMissing, ImportError) as e:
        pytest.skip(f"{name}: {e}")


def _card(name: str, profile: str) -> dict[str, str]:
    try:
        return _adapter(name, profile).card()
    except EnvironmentMissing as e:
        pytest.skip(f"{name}: {e}")


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    """No remote target: each runner's own deployment."""
    for flag in plugins.remote_flags():
        monkeypatch.delenv(flag.env, raising=False)


def test_the_cases_cover_every_runner_and_profile() -> None:
    assert {n for n, _ in CASES} == set(FOUND)
    assert len(CASES) == sum(len(p.profiles) for p in FOUND.values())
    assert {f.env for f in plugins.remote_flags()} <= set(REMOTE)


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize(("name", "profile"), CASES)
def test_every_profile_declares_every_aspect(name: str, profile: str) -> None:
    card = _card(name, profile)
    assert problems(card) == [], card
    assert list(card) == list(ASPECTS)  # the report's column order
    assert all(isinstance(v, str) for v in card.values())


@pytest.mark.parametrize(("name", "profile"), CASES)
def test_a_remote_target_still_gives_a_full_card(
    name: str, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env, value in REMOTE.items():
        monkeypatch.setenv(env, value)
    card = _card(name, profile)
    assert problems(card) == [], card


@pytest.mark.usefixtures("local")
def test_profiles_that_differ_in_configuration_differ_on_their_cards() -> None:
    """A card follows the configuration it is built from: where a profile changes the
    executor, the database or the schedule, its card says so."""
    pairs = [
        ("airflow", "default", "celery", ("executor", "database", "parallelism")),
        ("airflow", "default", "tuned", ("scheduler",)),
        ("prefect", "default", "pool", ("executor", "database")),
        ("prefect", "default", "tuned", ("scheduler",)),
        ("prefect", "default", "script", ("scheduler", "executor", "alerting")),
        ("cron", "default", "tuned", ("scheduler",)),
        ("cron", "default", "x30", ("scheduler",)),
        ("cron-hardened", "default", "pipeline", ("scheduler", "parallelism")),
        ("kfp", "default", "gpu-request", ("executor",)),
        ("dagster", "default", "tuned", ("scheduler", "executor", "timeouts", "alerting")),
        ("dagster", "default", "production", ("database",)),
    ]
    for name, a, b, aspects in pairs:
        if name not in FOUND:
            continue
        card_a, card_b = _card(name, a), _card(name, b)
        for aspect in aspects:
            assert card_a[aspect] != card_b[aspect], (name, a, b, aspect)
    if {"cron", "cron-hardened"} <= set(FOUND):
        naive, hardened = _card("cron", "default"), _card("cron-hardened", "default")
        lib_sh = ("database", "retries", "timeouts", "fail_fast", "alerting", "caching")
        assert [a for a in lib_sh if naive[a] == hardened[a]] == []
