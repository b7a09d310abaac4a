"""B4 baseline: TASKS tasks of TIMES increments each of one
multiprocessing.Value under its lock, mapped on a Pool of 2 processes, as
guest-examples/shared-counter does on wpool. Prints the total.

usage: python3 bench/locked_counter.py TASKS TIMES"""
import multiprocessing as mp
import sys


def share(value):
    global counter
    counter = value


def increment(times):
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


if __name__ == "__main__":
    tasks, times = int(sys.argv[1]), int(sys.argv[2])
    total = mp.Value("q", 0)
    with mp.Pool(2, initializer=share, initargs=(total,)) as pool:
        pool.map(increment, [times] * tasks, chunksize=1)
    print(total.value)
