"""One date's job: ``start``, one ``task``, ``end`` (backfill and concurrent runs)."""

from metaflow import FlowSpec, Parameter, step


class ScaleDailyFlow(FlowSpec):
    logical_date = Parameter("logical_date", required=True)

    @step
    def start(self):
        self.next(self.task)

    @step
    def task(self):
        from runners.metaflow.scale_flows import task

        task(0, self.logical_date)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScaleDailyFlow()
