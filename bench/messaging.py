"""B4 baselines: round trip and pipelined throughput between two processes,
through multiprocessing.Queue, multiprocessing.Pipe and a raw OS pipe pair.
Prints one JSON object: round trips in microseconds, throughput in messages
per second. Same shape as guest-examples/queue-bench: 64-byte messages."""
import json
import multiprocessing as mp
import os
import sys
import time

ROUNDS, COUNT, SIZE = 2000, 20000, 64
MESSAGE = b"x" * SIZE


def echo_queue(ping, pong):
    for _ in range(ROUNDS):
        pong.put(ping.get())


def echo_conn(conn):
    for _ in range(ROUNDS):
        conn.send_bytes(conn.recv_bytes())


def produce(queue):
    for _ in range(COUNT):
        queue.put(MESSAGE)


def send_stream(conn):
    for _ in range(COUNT):
        conn.send_bytes(MESSAGE)


def timed_rounds(step):
    step()  # warm up
    start = time.perf_counter()
    for _ in range(ROUNDS - 1):
        step()
    return (time.perf_counter() - start) / (ROUNDS - 1) * 1e6


def queue_round_trip():
    ping, pong = mp.Queue(), mp.Queue()
    child = mp.Process(target=echo_queue, args=(ping, pong))
    child.start()
    rtt = timed_rounds(lambda: (ping.put(MESSAGE), pong.get()))
    child.join()
    return rtt


def pipe_round_trip():
    here, there = mp.Pipe()
    child = mp.Process(target=echo_conn, args=(there,))
    child.start()
    rtt = timed_rounds(lambda: (here.send_bytes(MESSAGE), here.recv_bytes()))
    child.join()
    return rtt


def raw_pipe_round_trip():
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(ROUNDS):
            os.write(from_child, os.read(to_child, SIZE))
        os._exit(0)
    rtt = timed_rounds(lambda: (os.write(from_parent, MESSAGE), os.read(to_parent, SIZE)))
    os.waitpid(pid, 0)
    return rtt


def throughput(receive, sender, end):
    """Messages a second that `receive` takes from a child running
    `sender(end)`, from the first message (untimed) to the last."""
    child = mp.Process(target=sender, args=(end,))
    child.start()
    receive()
    start = time.perf_counter()
    for _ in range(COUNT - 1):
        receive()
    rate = (COUNT - 1) / (time.perf_counter() - start)
    child.join()
    return rate


def queue_throughput():
    queue = mp.Queue(1024)
    return throughput(queue.get, produce, queue)


def pipe_throughput():
    here, there = mp.Pipe()
    return throughput(here.recv_bytes, send_stream, there)


if __name__ == "__main__":
    json.dump(
        {
            "queue_rtt_us": queue_round_trip(),
            "pipe_rtt_us": pipe_round_trip(),
            "raw_pipe_rtt_us": raw_pipe_round_trip(),
            "queue_msgs_per_s": queue_throughput(),
            "pipe_msgs_per_s": pipe_throughput(),
        },
        sys.stdout,
    )
    print()
