"""Runner plugins: every ``runners/<folder>/plugin.py`` is found, agrees with the adapter
and scale engine it names, and nothing under ``orchbench/`` names a runner."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from orchbench import plugins
from orchbench.report.load import system_version
from tests.conftest import REPO
from tests.unit.fake_runner import DOUBLE, InProcessRunner

FOUND = plugins.all_plugins()


def test_every_runner_folder_declares_its_runners() -> None:
    folders = {p.parent.name for p in (REPO / "runners").glob("*/adapter.py")}
    assert {p.folder for p in FOUND.values()} == folders
    for p in FOUND.values():
        assert p.package == f"runners.{p.folder}"
        assert (p.path / "requirements.txt").is_file(), p.name  # make setup builds .venvs/<venv>
        assert p.venv == p.folder


@pytest.mark.parametrize("name", sorted(FOUND))
def test_adapter_and_engine_agree_with_the_declaration(name: str) -> None:
    p = FOUND[name]
    cls = p.adapter_class()
    assert (cls.name, cls.system, cls.profiles, cls.description) == (
        p.name,
        p.system,
        p.profiles,
        p.description,
    )
    engine = p.scale_class()
    if engine is not None:
        assert engine.name == p.name


def test_listing_runners_imports_no_adapter() -> None:
    code = (
        "import sys; from orchbench.plugins import all_plugins; all_plugins(); "
        "print(sorted(m for m in sys.modules if m.count('.') > 1 and m.startswith('runners.') "
        "and not m.endswith('.plugin')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_remote_flags_are_unique_and_handed_over_as_environment_variables() -> None:
    flags = plugins.remote_flags()
    assert len({f.flag for f in flags}) == len({f.env for f in flags}) == len(flags)
    assert all(f.env.startswith("ORCHBENCH_") for f in flags)


def test_a_declared_name_twice_is_refused(tmp_path: Path) -> None:
    pkg = tmp_path / "dupes"
    for folder in ("a", "b"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "plugin.py").write_text(
            "from orchbench.plugins import RunnerPlugin\n"
            "PLUGINS = (RunnerPlugin(name='same', system='s', adapter='.x:X', version_key='v'),)\n"
        )
    (pkg / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(plugins.PluginError, match="'same' is already declared"):
            plugins.discover(pkg, "dupes")
    finally:
        sys.path.remove(str(tmp_path))


def test_a_plugin_without_a_plugins_tuple_is_refused(tmp_path: Path) -> None:
    (tmp_path / "broken" / "x").mkdir(parents=True)
    (tmp_path / "broken" / "__init__.py").write_text("")
    (tmp_path / "broken" / "x" / "plugin.py").write_text("PLUGINS = ['cron']\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(plugins.PluginError, match="must be a tuple of RunnerPlugin"):
            plugins.discover(tmp_path / "broken", "broken")
    finally:
        sys.path.remove(str(tmp_path))


def test_unknown_runner_names_the_available_ones() -> None:
    with pytest.raises(plugins.UnknownRunner, match=r"available: .*cron"):
        plugins.runner_class("nope")


def test_notes_take_the_runs_settings_and_profile() -> None:
    note = plugins.Note("x{schedule[speed]}", profiles=("default",))
    p = plugins.RunnerPlugin(name="n", system="s", adapter=".a:A", version_key="k", notes=(note,))
    assert p.notes_for("default", {"schedule": {"speed": 300}}) == ["x300"]
    assert p.notes_for("tuned", {"schedule": {"speed": 300}}) == []
    assert p.notes_for("default", {}) == ["x{schedule[speed]}"]  # a setting not recorded


def test_system_version_from_the_declared_key_and_for_older_files() -> None:
    assert DOUBLE.system_version({"orchbench": "0.1", "numpy": "2"}) == "orchbench 0.1"
    assert DOUBLE.system_version({"numpy": "2"}) is None
    assert system_version({"system_version": "x 1", "versions": {"kfp": "2"}}) == "x 1"
    assert system_version({"versions": {"numpy": "2", "kfp": "2.17"}}) is None  # no guessing
    assert system_version({"versions": {"numpy": "2"}}) is None


def test_the_double_reads_its_identity_from_its_declaration() -> None:
    assert DOUBLE.package == "tests.runner_double" and DOUBLE.name == "runner_double"
    assert DOUBLE.adapter_class() is InProcessRunner and InProcessRunner.name == DOUBLE.name


def _runner_literals(path: Path, names: set[str]) -> list[str]:
    return [
        f"{path}:{n.lineno}: {n.value!r}"
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and n.value in names
    ]


def test_no_runner_is_named_under_orchbench() -> None:
    """No string in orchbench/ is a runner's name."""
    names = set(FOUND)
    hits = [
        h for p in sorted((REPO / "orchbench").rglob("*.py")) for h in _runner_literals(p, names)
    ]
    assert hits == []


def test_no_makefile_rule_names_a_runner_folder() -> None:
    text = (REPO / "Makefile").read_text()
    assert "runners/kfp" not in text and "runners.airflow" not in text
    assert "-include $(sort $(wildcard runners/*/runner.mk))" in text


def test_an_unknown_capability_is_refused(tmp_path: Path) -> None:
    (tmp_path / "caps" / "x").mkdir(parents=True)
    (tmp_path / "caps" / "__init__.py").write_text("")
    (tmp_path / "caps" / "x" / "plugin.py").write_text(
        "from orchbench.plugins import RunnerPlugin\n"
        "PLUGINS = (RunnerPlugin(name='c', system='s', adapter='.x:X', version_key='v',"
        " capabilities=frozenset({'retries_without_human', 'flies'})),)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(plugins.PluginError, match=r"'c': unknown capabilities \['flies'\]"):
            plugins.discover(tmp_path / "caps", "caps")
        (tmp_path / "caps" / "x" / "plugin.py").write_text(
            "from orchbench.plugins import RunnerPlugin\n"
            "PLUGINS = (RunnerPlugin(name='d', system='s', adapter='.x:X', version_key='v',"
            " capabilities=frozenset({'alerts_on_failure'}),"
            " capabilities_vary=frozenset({'alerts_on_failure'})),)\n"
        )
        sys.modules.pop("caps.x.plugin", None)
        with pytest.raises(plugins.PluginError, match=r"\['alerts_on_failure'\] both hold"):
            plugins.discover(tmp_path / "caps", "caps")
    finally:
        sys.path.remove(str(tmp_path))
