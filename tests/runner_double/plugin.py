"""The test double's declaration (``orchbench.plugins``). Its name is its folder's, so a
copy under ``runners/<name>/`` is runner ``<name>`` with no file edited."""

from orchbench.plugins import Note, RunnerPlugin

NAME = __name__.split(".")[-2]

PLUGINS = (
    RunnerPlugin(
        name=NAME,
        system="in-process (test double)",
        description="the harness's test double: every step in the harness process, in order",
        profiles=("default", "boom", "slow", "interrupt", "nostart"),
        adapter=".adapter:InProcessRunner",
        scale=".scale:InProcessScale",
        version_key="orchbench",
        cost_s=5,
        notes=(Note("The test double runs no orchestrator: its runs test the harness only."),),
    ),
)
