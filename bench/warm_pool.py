"""The Python side of bench/run.sh's warm-pool rows: one
multiprocessing.Pool(2) maps square over range(N) once, then ROUNDS times
more on the same pool. Prints the first map's wall time (the pool's start
included) and the median of the others, in seconds, as `first SECONDS` and
`warm SECONDS`; every result is checked.

usage: python3 warm_pool.py N ROUNDS
"""
import multiprocessing
import statistics
import sys
import time


def square(x):
    return x * x


def squares(pool, n):
    started = time.perf_counter()
    results = pool.map(square, range(n))
    took = time.perf_counter() - started
    assert results == [x * x for x in range(n)], results
    return took


if __name__ == "__main__":
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    started = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        squares(pool, n)
        first = time.perf_counter() - started
        warm = [squares(pool, n) for _ in range(rounds)]
    print(f"first {first:.6f}")
    print(f"warm {statistics.median(warm):.6f}")
