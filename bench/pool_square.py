"""The Python side of the benchmarks: multiprocessing.Pool(2).map(square, ...)
over range(N), printing one result per line like `wpool run`.

usage: python3 pool_square.py N [CHUNKSIZE]   (default chunksize when omitted)
"""
import multiprocessing
import sys


def square(x):
    return x * x


if __name__ == "__main__":
    n = int(sys.argv[1])
    chunksize = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with multiprocessing.Pool(2) as pool:
        results = pool.map(square, range(n), chunksize)
    sys.stdout.write("".join(f"{r}\n" for r in results))
