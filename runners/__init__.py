"""Runner folders, one per system, each declared in its ``plugin.py``; discovered by
``orchbench.plugins`` (listing runners never imports an orchestrator adapter)."""
