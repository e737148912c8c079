"""The daily retraining workflow as a Metaflow flow (``python daily_retraining_flow.py run``).

Written the way Metaflow's users write one (docs.metaflow.org, "Creating Flows"):

- one run per logical date (the ``logical_date`` Parameter); each step calls the shared
  step through ``runners.metaflow.task.run`` (the wrapper, ``orchbench.wrapper.run_step``);
  the step summaries and the gate's decision are Metaflow artifacts that downstream
  steps read from ``self`` as users do; the data files live on disk (the shared world
  requires files): a step writes its dated outputs under the ``artifacts`` Parameter and
  keeps their paths as ``self.<name>_uri`` artifacts, and the steps downstream read their
  inputs' paths from ``self`` (``self.features_uri``, ...), handed on by Metaflow;
- ``@retry(times=policy.retries, minutes_between_retries=...)`` on every step. The option
  takes whole minutes: the policy's seconds are rounded to the nearest minute
  (``task.retry_minutes``; 1-2 s give 0). Metaflow's local runtime never waits between
  retries anyway: only the Kubernetes, Batch, Argo, Step Functions and Airflow backends
  read the option (measured in metaflow 2.19.39's source, runtime.py has no wait);
- ``@timeout(seconds=policy.timeout_s)`` on every step;
- the deploy gate is a switch: ``evaluate`` sets ``self.route`` and
  ``self.next({"deploy": self.register, "hold": self.hold}, condition="route")``;
- ``@exit_hook(on_error=[ALERT_HOOK])``: when the run fails, Metaflow's runtime calls
  the hook (``task.alert_on_failure``, named by import path) with the Run, and it
  delivers a message to the world's alert sink.

The policy comes from the environment the adapter sets (``ORCHBENCH_MF_RETRIES``,
``ORCHBENCH_MF_RETRY_MINUTES``, ``ORCHBENCH_MF_TIMEOUT_S``), read when the flow is loaded:
Metaflow re-imports this file in every task process with the same environment.
"""

import math
import os

from metaflow import FlowSpec, Parameter, current, exit_hook, retry, step, timeout

RETRIES = int(os.environ.get("ORCHBENCH_MF_RETRIES", "2"))
RETRY_MINUTES = int(os.environ.get("ORCHBENCH_MF_RETRY_MINUTES", "0"))
# @timeout takes whole seconds: the policy's seconds rounded up, at least 1
TIMEOUT_S = max(1, math.ceil(float(os.environ.get("ORCHBENCH_MF_TIMEOUT_S", "60"))))


# The exit hook by import path: Metaflow's hook script loads a bare function name from the
# flow file relative to the working directory, which is the run's, not this folder.
ALERT_HOOK = "runners.metaflow.task.alert_on_failure"


def _policy(fn):
    return retry(times=RETRIES, minutes_between_retries=RETRY_MINUTES)(
        timeout(seconds=TIMEOUT_S)(fn)
    )


@exit_hook(on_error=[ALERT_HOOK])
class DailyRetrainingFlow(FlowSpec):
    """Daily retraining: ingest, validate, featurize, train, evaluate, then register and
    canary only if the candidate passes the gate."""

    logical_date = Parameter("logical_date", help="the date this run produces", required=True)
    artifacts = Parameter("artifacts", help="root of the dated artifact files", required=True)
    min_accuracy = Parameter("min_accuracy", help="the gate's absolute floor", default=0.0)

    def _run(self, name: str) -> None:
        from runners.metaflow.task import run

        run(self, name, current)

    @step
    def start(self):
        self.next(self.ingest)

    @_policy
    @step
    def ingest(self):
        self._run("ingest")
        self.next(self.validate)

    @_policy
    @step
    def validate(self):
        self._run("validate")
        self.next(self.featurize)

    @_policy
    @step
    def featurize(self):
        self._run("featurize")
        self.next(self.train)

    @_policy
    @step
    def train(self):
        self._run("train")
        self.next(self.evaluate)

    @_policy
    @step
    def evaluate(self):
        self._run("evaluate")
        accurate = self.accuracy > float(self.min_accuracy)
        self.route = "deploy" if accurate and self.better_than_champion else "hold"
        self.next({"deploy": self.register, "hold": self.hold}, condition="route")

    @_policy
    @step
    def register(self):
        self._run("register")
        self.next(self.canary)

    @_policy
    @step
    def canary(self):
        self._run("canary")
        self.next(self.end)

    @step
    def hold(self):
        """The gate kept the candidate out: register and canary do not run."""
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DailyRetrainingFlow()
