"""Fan-out: ``start`` splits into one ``task`` per item (``foreach``), ``join``, ``end``."""

from metaflow import FlowSpec, Parameter, step


class ScaleFanoutFlow(FlowSpec):
    logical_date = Parameter("logical_date", required=True)
    items = Parameter("items", type=int, required=True)

    @step
    def start(self):
        self.work = list(range(self.items))
        self.next(self.task, foreach="work")

    @step
    def task(self):
        from runners.metaflow.scale_flows import task

        task(self.input, self.logical_date)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScaleFanoutFlow()
