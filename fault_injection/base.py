"""What a fault kind is: parameters, where it may enter, and its activate/fix code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from orchbench.contracts import StepCall
    from orchbench.runner import SchedulerFault
    from orchbench.world import World


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultKind:
    """One kind of fault. Subclasses set the class attributes and override the hooks.

    ``before``/``after`` run inside the step wrapper of every attempt of the step named by
    the fault's ``at`` on the fault's date while the fault is armed; they must journal the
    moment they take effect with ``call.record_fault``. ``fix`` flips the world back.
    """

    name: ClassVar[str]
    expects: ClassVar[str]  # what a good system does when this fault hits
    enters: ClassVar[str]
    fixed_by: ClassVar[str]
    allowed_at: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[BaseModel]] = NoParams
    # what the base runner's day loop does for a fault of this kind (orchbench.runner); set
    # for the kinds the scheduler, not the step wrapper, injects (fault_injection.runner_faults)
    scheduler: ClassVar[type[SchedulerFault] | None] = None
    # False when ``before``/``after`` do nothing: the step wrapper then never looks the
    # kind up (a step process need not know it)
    step_hooks: ClassVar[bool] = True
    # True for a kind whose claim is about the scheduler (a missed day, a crash, a late
    # partition): a scenario with one runs system-scheduled (``orchbench.runner.SYSTEM``),
    # its dates fired by the system's own scheduler (or cron for a system without one)
    system_scheduled: ClassVar[bool] = False

    def check(self, at: str, day: int, days: int, params: BaseModel) -> str | None:
        """A problem with this fault (entering at step ``at`` on ``day`` of a ``days``-day
        scenario) that ``Params`` alone cannot see, or None."""
        return None

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        """Act before the step function runs (raise, tamper with inputs...)."""

    def after(self, call: StepCall, fault: dict[str, Any]) -> None:
        """Act after the step function returned (tamper with outputs...)."""

    def requires(self, params: BaseModel) -> str | None:
        """What a fault of this kind declares its step needs ("package==version"), or
        None; runners read it through ``RunContext.requirements``."""
        return None

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        """Undo the fault's effect on the world (the switch itself is flipped by the caller)."""

    def describe(self) -> str:
        return f"{self.name}: {self.enters}; fixed by {self.fixed_by}"
