"""Runner plugins: each ``runners/<folder>/plugin.py`` declares its runners in ``PLUGINS``.

A declaration (``RunnerPlugin``) is everything the harness needs to know about a runner
without importing its adapter: names, profiles, where the adapter and scale engine are,
which version names the system, a cost hint, remote-target flags, the environment, the
report's caveats and the capabilities its runs show (``orchbench.capabilities``). The
harness, CLI, matrix and scale find runners here; nothing in ``orchbench/`` names one. A
folder may declare several runners (cron and cron-hardened).

Importing a ``plugin.py`` must stay cheap: it imports only this module. Adapter and engine
paths are ``"module:Class"``; a module starting with ``.`` is relative to the folder's
package (``".adapter:CronRunner"``), so a folder can be copied under another name.

One source of truth: the declaration. Adapters and scale engines still carry ``name``,
``system`` and ``profiles`` as class attributes (their code reads them); a unit test
(``tests/unit/test_plugins.py``) checks that every adapter and engine agrees with its
declaration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench import capabilities

if TYPE_CHECKING:
    from orchbench.runner import Runner

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNERS_DIR = REPO_ROOT / "runners"
RUNNERS_PACKAGE = "runners"
PLUGIN_MODULE = "plugin"  # runners/<folder>/plugin.py
DEFAULT_COST_S = 40.0


@dataclass(frozen=True)
class RemoteFlag:
    """A CLI flag (``--kfp-host``) handed to the runner as an environment variable, so a
    bench lane (a subprocess) inherits it. Given one, the runner drives that deployment
    instead of starting its own."""

    flag: str  # the option without dashes, with underscores: "kfp_host"
    env: str  # "ORCHBENCH_KFP_HOST"
    help: str

    @property
    def option(self) -> str:
        return "--" + self.flag.replace("_", "-")


@dataclass(frozen=True)
class Note:
    """A caveat the report lists under "Threats to validity" for runs of this runner.

    ``text`` may name settings of the run (``str.format_map`` over the runner's
    ``settings()``, e.g. ``{schedule[speed]}``); ``profiles``: only runs of these
    profiles (empty: every profile)."""

    text: str
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunnerPlugin:
    """One runner as the harness sees it before importing anything of it."""

    name: str  # what ``--runner`` takes
    system: str  # the system's name as reports show it
    adapter: str  # "module:Class" of the orchestrator.Runner subclass
    version_key: str  # the key of ``versions()`` naming the system's own version
    description: str = ""
    profiles: tuple[str, ...] = ("default", "tuned")
    scale: str | None = None  # "module:Class" of its orchbench.scale.ScaleEngine
    cost_s: float = DEFAULT_COST_S  # rough seconds per run: only the order bench lanes start
    # how many bench lanes of one (runner, profile) may run at once, its scenarios split
    # between them (``orchbench.matrix.lane_order``): each lane starts a deployment of
    # its own, so more than 1 only for a runner whose deployments share nothing on one
    # machine (ports, state, daemons); a lane's runs then compete with its twin's for
    # the CPU, as with any other lane (``bench_jobs`` in env.json)
    lanes: int = 1
    # its bench lanes keep well under a core busy (waiting on a compressed clock, say): the
    # conformance bench runs one such lane beside its others rather than in their place
    # (``tests/conformance/bench.py``); measured, not guessed: say what in a comment
    light: bool = False
    remote_flags: tuple[RemoteFlag, ...] = ()
    environment: str | None = None  # .venvs/<environment>; None: the folder's name
    notes: tuple[Note, ...] = ()
    # where the system's users see a failure without being told: its UI, API or CLI run
    # listing ("Airflow UI / REST API"); None when it has none (a log file nobody is
    # pointed to is no central view). Recorded in env.json; the report says "no central
    # view" for such a runner instead of a time.
    central_view: str | None = None
    # what its runs show it can do, names from orchbench.capabilities (the conformance
    # suite checks each both ways: declared and not shown fails, shown and undeclared too)
    capabilities: frozenset[str] = frozenset()
    # capabilities its runs show only sometimes (a race in the system, seen in repeated
    # runs): the suite checks these neither way and says why
    capabilities_vary: frozenset[str] = frozenset()
    # the profiles ``orchbench bench`` (and so ``make bench``) runs when ``--profiles`` is
    # not given: the default, plus any labelled extra whose column the README's tables
    # show (cron-hardened's ``pipeline``)
    bench_profiles: tuple[str, ...] = ("default",)
    # what its users write and maintain (``orchbench footprint``): globs, relative to the
    # folder, of the pipeline's definition and recovery scripts (not the adapter, which is
    # the benchmark's), and the system concepts those files use
    authored: tuple[str, ...] = ()
    concepts: tuple[str, ...] = ()
    # Debian packages the runner needs beyond Python (``make system-packages``)
    system_packages: tuple[str, ...] = ()
    package: str = field(default="", compare=False)  # set by discovery: "runners.cron"

    @property
    def folder(self) -> str:
        return self.package.rpartition(".")[2]

    @property
    def venv(self) -> str:
        """The environment's folder under ``.venvs/`` (built by ``make setup`` from the
        folder's ``requirements.txt``)."""
        return self.environment or self.folder

    @property
    def path(self) -> Path:
        """The runner's folder."""
        return RUNNERS_DIR.parent.joinpath(*self.package.split("."))

    def adapter_class(self) -> type[Runner]:
        return _load(self.adapter, self.package)

    def scale_class(self) -> type | None:
        """Its ``orchbench.scale.ScaleEngine`` subclass (untyped here: scale imports this
        module to find engines, so naming the class would close an import circle)."""
        return _load(self.scale, self.package) if self.scale else None

    def system_version(self, versions: dict[str, str]) -> str | None:
        """``"apache-airflow 3.3.2"``: the system's own version among ``versions``."""
        v = versions.get(self.version_key)
        return f"{self.version_key} {v}" if v else None

    def notes_for(self, profile: str, settings: dict[str, Any]) -> list[str]:
        """The caveats of a run of ``profile`` with ``settings``, as env.json records them."""
        out = []
        for note in self.notes:
            if note.profiles and profile not in note.profiles:
                continue
            try:
                out.append(note.text.format_map(settings))
            except (KeyError, IndexError, TypeError, ValueError):
                out.append(note.text)
        return out


class UnknownRunner(ValueError):
    """A runner name no ``runners/*/plugin.py`` declares."""


class PluginError(RuntimeError):
    """A ``plugin.py`` that cannot be read or declares a name twice."""


def _qualify(ref: str, package: str) -> tuple[str, str]:
    module, _, attr = ref.partition(":")
    if module.startswith("."):
        module = package + module
    return module, attr


def _load(ref: str, package: str) -> Any:
    module, attr = _qualify(ref, package)
    return getattr(importlib.import_module(module), attr)


_found: dict[str, RunnerPlugin] | None = None


def discover(
    runners_dir: Path = RUNNERS_DIR, package: str = RUNNERS_PACKAGE
) -> dict[str, RunnerPlugin]:
    """Every runner the folders under ``runners_dir`` declare, by name (folders sorted,
    declarations in their order)."""
    out: dict[str, RunnerPlugin] = {}
    for path in sorted(runners_dir.glob(f"*/{PLUGIN_MODULE}.py")):
        pkg = f"{package}.{path.parent.name}"
        for p in load_declarations(f"{pkg}.{PLUGIN_MODULE}"):
            if p.name in out:
                raise PluginError(f"{path}: runner {p.name!r} is already declared elsewhere")
            out[p.name] = p
    return out


def load_declarations(module: str) -> list[RunnerPlugin]:
    """The ``PLUGINS`` of one plugin module, each bound to the module's package."""
    pkg = module.rpartition(".")[0]
    try:
        mod = importlib.import_module(module)
    except Exception as e:
        raise PluginError(f"{module}: cannot import: {type(e).__name__}: {e}") from e
    plugins = getattr(mod, "PLUGINS", None)
    if not isinstance(plugins, tuple) or not all(isinstance(p, RunnerPlugin) for p in plugins):
        raise PluginError(f"{module}: PLUGINS must be a tuple of RunnerPlugin")
    for p in plugins:
        if bad := capabilities.unknown(p.capabilities | p.capabilities_vary):
            raise PluginError(f"{module}: runner {p.name!r}: unknown capabilities {bad}")
        if both := sorted(p.capabilities & p.capabilities_vary):
            raise PluginError(f"{module}: runner {p.name!r}: {both} both hold and vary")
        if extra := sorted(set(p.bench_profiles) - set(p.profiles)):
            raise PluginError(f"{module}: runner {p.name!r}: bench profiles {extra} unknown")
        if p.lanes < 1:
            raise PluginError(f"{module}: runner {p.name!r}: lanes must be at least 1")
    return [_bind(p, pkg) for p in plugins]


def _bind(p: RunnerPlugin, package: str) -> RunnerPlugin:
    return replace(p, package=package)


def all_plugins() -> dict[str, RunnerPlugin]:
    """The discovered runners (read once per process)."""
    global _found
    if _found is None:
        _found = discover()
    return _found


def plugin(name: str) -> RunnerPlugin:
    found = all_plugins()
    if name not in found:
        raise UnknownRunner(f"unknown runner {name!r}; available: {', '.join(found)}")
    return found[name]


def runner_class(name: str) -> type[Runner]:
    """The adapter class of ``name``; raises UnknownRunner."""
    return plugin(name).adapter_class()


def of_runner(runner: Any) -> RunnerPlugin | None:
    """The declaration of a runner instance (by its ``name``), None when undeclared."""
    return all_plugins().get(getattr(runner, "name", ""))


def scale_plugins() -> dict[str, RunnerPlugin]:
    """The runners with a scale engine, by name."""
    return {n: p for n, p in all_plugins().items() if p.scale}


def remote_flags() -> list[RemoteFlag]:
    """Every runner's remote-target flags, each once (runners may share one)."""
    seen: dict[str, RemoteFlag] = {}
    for p in all_plugins().values():
        for f in p.remote_flags:
            seen.setdefault(f.flag, f)
    return list(seen.values())
