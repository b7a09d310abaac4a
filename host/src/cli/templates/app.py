"""The task {name}: each method of `WitWorld` is a function exported by the
world in wit/world.wit (componentize-py writes the `wit_world` module from
it). An uncaught exception fails the task, named by its last line."""

import wit_world


S64 = range(-(2**63), 2**63)


class WitWorld(wit_world.WitWorld):
    def square(self, x: int) -> int:
        squared = x * x
        if squared not in S64:
            raise OverflowError(f"{x} squared does not fit in an s64")
        return squared
