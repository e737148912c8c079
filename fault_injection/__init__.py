"""Fault catalog: each kind is data (params) plus inject/activate/fix code.

A fault's switch lives in the world (``faults/state.json``), outside any run parameter, so
a step re-executed after the fix sees the fixed world.

Step-level kinds act inside the shared step wrapper (``hooks.before_step``/``after_step``)
and so work on every runner: ``schema_break``, ``transient_error``, ``hang``, ``crash``,
``late_data``, ``silent_corruption``, ``accuracy_regression``, ``partial_write``.
Scheduler-level kinds act in the base runner's day loop through their handler
(``FaultKind.scheduler``, an ``orchbench.runner.SchedulerFault``; ``runner_faults``):
``missed_days`` (the day loop skips the down dates) and ``scheduler_crash`` (a step hook
kills the processes the runner named; the day loop has the runner restart them). Adapters
never see a fault. ``orchbench list faults`` prints them all.
"""
