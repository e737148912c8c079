"""The overhead probe's flows (``overhead.py``): a linear chain of ``tasks`` steps, each
computing ``fibo(fibo_n)`` and keeping it as the artifact ``self.value``.

Metaflow reads a flow's graph from its class's source (``metaflow.graph.FlowGraph`` parses
the ``@step`` methods and their ``self.next(...)`` calls), so a flow's steps are fixed when
its file is written: ``flow_source`` writes one flow file per shape, and the probe runs it
from its temporary directory. For ``tasks`` = 3 and ``fibo_n`` = 10 it writes::

    class Probe3xFibo10Flow(FlowSpec):
        @step
        def start(self):
            self.value = fibo(10)
            self.next(self.step_01)

        @step
        def step_01(self):
            self.value = fibo(10)
            self.next(self.end)

        @step
        def end(self):
            self.value = fibo(10)

``start`` and ``end`` are Metaflow's required first and last steps; they compute too, so
the chain has exactly ``tasks`` tasks. Plain ``@step``: no ``@retry`` or ``@timeout`` (the
probe measures the runtime, not the benchmarked flow's policy). Only this module's text,
no Metaflow import: it runs in the harness's venv.
"""

from __future__ import annotations

HEADER = '''"""{tasks} sequential fibo({n}) steps (written by runners/metaflow/overhead_flow.py)."""

from metaflow import FlowSpec, step


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


class {name}(FlowSpec):
'''

STEP = """    @step
    def {step}(self):
        self.value = fibo({n})
{next}"""

FOOTER = """

if __name__ == "__main__":
    {name}()
"""


def flow_name(tasks: int, fibo_n: int) -> str:
    """The flow's class name, which Metaflow uses as the flow's name."""
    return f"Probe{tasks}xFibo{fibo_n}Flow"


def step_names(tasks: int) -> list[str]:
    """The chain's steps in order: ``start``, ``step_01`` .. ``step_<tasks-2>``, ``end``."""
    if tasks < 2:
        raise ValueError(f"a Metaflow flow has at least start and end, not {tasks} step(s)")
    return ["start", *(f"step_{i:02d}" for i in range(1, tasks - 1)), "end"]


def flow_source(tasks: int, fibo_n: int) -> str:
    """The flow file's text (module docstring)."""
    steps = step_names(tasks)
    body = []
    for step, after in zip(steps, [*steps[1:], None], strict=True):
        nxt = f"        self.next(self.{after})\n" if after else ""
        body.append(STEP.format(step=step, n=fibo_n, next=nxt))
    name = flow_name(tasks, fibo_n)
    head = HEADER.format(tasks=tasks, n=fibo_n, name=name)
    return head + "\n".join(body) + FOOTER.format(name=name)
