"""Python tasks for wpool, built with componentize-py: each method of
`WitWorld` is a function of the world in wit/world.wit."""

import math

import wit_world
from componentize_py_types import Err
from wit_world import Summary
from wit_world.imports.shared import Lock, Value
from wit_world.imports.types import Scalar_Int


class WitWorld(wit_world.WitWorld):
    def square(self, x: int) -> int:
        return x * x

    def summarize(self, values: list[int]) -> Summary:
        if not values:
            # A WIT `err` is raised as `Err`; any other exception is a failure.
            raise Err("nothing to summarize")
        mean = sum(values) / len(values)
        return Summary(
            count=len(values),
            total=sum(values),
            largest=max(values),
            spread=[v - mean for v in values],
        )

    def root(self, x: float) -> float:
        if x < 0:
            raise ValueError(f"no real square root of {x}")
        return math.sqrt(x)

    def increment(self, times: int) -> int:
        try:
            counter = Value.open("counter", Scalar_Int(0))
            lock = Lock.open("counter-lock", False)
            last = 0
            for _ in range(times):
                lock.acquire(None)
                now = counter.get()
                if not isinstance(now, Scalar_Int):
                    raise Err("counter is not an integer")
                last = now.value + 1
                counter.set(Scalar_Int(last))
                lock.release()
            return last
        except Err as error:
            raise Err(f"counter: {error.value}")
