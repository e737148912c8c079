"""Runner adapters, one folder per system, each declared in its ``plugin.py``.

Discovery lives in ``orchbench.plugins``; these names are kept for callers of the old
registry. Listing runners never imports an orchestrator adapter.
"""

from orchbench.plugins import UnknownRunner, runner_class

__all__ = ["UnknownRunner", "runner_class"]
