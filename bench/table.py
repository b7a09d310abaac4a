"""bench/run.sh's table: reads what the run measured (hyperfine's JSON, the
`wpool run --summary` lines, the B4 figures, criterion's estimates) and
prints one Markdown table. Every row comes from this run's measurements;
a case that did not run prints as skipped.

usage: python3 bench/table.py OUT CRITERION CHUNKSIZE_1 HAVE_WASMTIME
"""
import glob
import json
import os
import platform
import re
import statistics
import sys

out, crit = sys.argv[1], sys.argv[2]
chunksize_1, have_wasmtime = sys.argv[3] == "true", sys.argv[4] == "yes"
rows = []


def row(case, what, value, ratio="-", target="(info)", ok=None):
    met = "-" if ok is None else ("yes" if ok else "no")
    rows.append((case, what, value, ratio, target, met))


def hf(group, key="median"):
    """A hyperfine group's commands, over all its rounds (GROUP.json, or
    GROUP-1.json, GROUP-2.json...): the median wall time, or with
    key="cpu" the mean user + system time of the whole process tree."""
    runs = {}
    for path in glob.glob(f"{out}/{group}.json") + glob.glob(f"{out}/{group}-[0-9]*.json"):
        with open(path) as f:
            for r in json.load(f)["results"]:
                cpu = r["user"] + r["system"]
                runs.setdefault(r["command"], []).extend((t, cpu) for t in r["times"])
    if key == "cpu":
        return {c: statistics.mean(cpu for _, cpu in rs) for c, rs in runs.items()}
    return {c: statistics.median(t for t, _ in rs) for c, rs in runs.items()}


CPU_LINE = re.compile(r"^wpool: CPU time \(user \+ system\): host ([0-9.]+) s, workers ([0-9.]+) s$")


def cpu(name):
    """The medians of a command's `--summary` CPU times over its runs:
    (host, workers) in seconds."""
    with open(f"{out}/{name}.err") as f:
        times = [tuple(map(float, m.groups())) for m in map(CPU_LINE.match, f) if m]
    if not times:
        sys.exit(f"bench: {name} printed no CPU time")
    return tuple(statistics.median(t[i] for t in times) for i in (0, 1))


def crit_median(group, bench):
    with open(f"{crit}/{group}/{bench}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


# B1: a million tiny tasks.
b1, b1cpu = hf("b1"), hf("b1", "cpu")
tasks = 1e6
r = b1["wpool-reuse"] / b1["python"]
row("B1", "1M squares, 2 workers, --reuse 1000000: wpool / Python Pool(2).map", f"{b1['wpool-reuse']:.2f} s / {b1['python']:.2f} s", f"{r:.2f}x", "<= 0.5x", r <= 0.5)
r = b1["wpool"] / b1["python"]
row("B1", "same, a fresh instance per task / Python", f"{b1['wpool']:.2f} s", f"{r:.2f}x")
if chunksize_1:
    c1 = hf("b1c1")["python"]
    r = b1["wpool"] / c1
    row("B1", "fresh instance / Python chunksize=1", f"{c1:.1f} s (Python)", f"{r:.3f}x", "<= 0.05x", r <= 0.05)
else:
    row("B1", "fresh instance / Python chunksize=1", "skipped (--chunksize-1)", "-", "<= 0.05x")
host, workers = cpu("b1-wpool-reuse")
row("B1", "host CPU per task, --reuse (wpool run --summary)", f"{host / tasks * 1e6:.2f} us", "-", "<= 0.2 us", host / tasks <= 0.2e-6)
fresh_host, fresh_workers = cpu("b1-wpool")
row("B1", "worker CPU per task, fresh instance (both workers' CPU / tasks)", f"{fresh_workers / tasks * 1e6:.2f} us", "-", "<= 5 us", fresh_workers / tasks <= 5e-6)
row("B1", "worker CPU per task, --reuse", f"{workers / tasks * 1e6:.2f} us")
row("B1", "host CPU per task, fresh instance", f"{fresh_host / tasks * 1e6:.2f} us")
r = b1cpu["wpool-reuse"] / b1cpu["python"]
row("B1", "CPU time (user + sys), --reuse: wpool / Python", f"{b1cpu['wpool-reuse']:.2f} s / {b1cpu['python']:.2f} s", f"{r:.2f}x")

# B2: CPU-heavy tasks against the same Rust built natively.
primes, primes_cpu, single = hf("b2-count-primes"), hf("b2-count-primes", "cpu"), hf("b2-1")
with open(f"{out}/b2-count-primes-args") as f:
    arg, tasks = f.read().split()
r = primes["wpool-2"] / primes["native-2"]
row("B2", f"{tasks} x count-primes({arg}), 2 workers: wpool / native rayon, wall", f"{primes['wpool-2']:.2f} s / {primes['native-2']:.2f} s", f"{r:.2f}x", "<= 1.3x", r <= 1.3)
r = primes_cpu["wpool-2"] / primes_cpu["native-2"]
row("B2", "same, CPU time (user + sys): wpool / native", f"{primes_cpu['wpool-2']:.2f} s / {primes_cpu['native-2']:.2f} s", f"{r:.2f}x")
s = single["wpool-1"] / primes["wpool-2"]
row("B2", "wpool speedup 1 -> 2 workers", f"{single['wpool-1']:.2f} s -> {primes['wpool-2']:.2f} s", f"{s:.2f}", ">= 1.85", s >= 1.85)
s = single["native-1"] / primes["native-2"]
row("B2", "native speedup 1 -> 2 threads (the machine's ceiling)", f"{single['native-1']:.2f} s -> {primes['native-2']:.2f} s", f"{s:.2f}")
for func, what in [
    ("sha256", "SHA-256 of {} MiB (sha2)"),
    ("gzip", "gzip of {} MiB of text (flate2, default level)"),
    ("json", "JSON of {} records: write, parse, write (serde_json)"),
]:
    with open(f"{out}/b2-{func}-args") as f:
        arg, tasks = f.read().split()
    what = f"{tasks} x " + what.format(arg)
    wall, time = hf(f"b2-{func}"), hf(f"b2-{func}", "cpu")
    r, rc = wall["wpool-2"] / wall["native-2"], time["wpool-2"] / time["native-2"]
    row("B2", f"{what}, 2 workers: wpool / native rayon, wall; CPU", f"{wall['wpool-2']:.2f} s / {wall['native-2']:.2f} s; {time['wpool-2']:.2f} s / {time['native-2']:.2f} s", f"{r:.2f}x; {rc:.2f}x")

# B3: cold start.
b3 = hf("b3")
row("B3", "0..10, first run (empty cache)", f"{b3['wpool-first'] * 1e3:.0f} ms")
w = b3["wpool-warm"]
row("B3", "0..10, warm cache", f"{w * 1e3:.0f} ms", "-", "<= 15 ms", w <= 0.015)
r = w / b3["python"]
row("B3", "warm wpool / Python Pool(2) on range(10)", f"{b3['python'] * 1e3:.0f} ms (Python)", f"{r:.2f}x", "<= 0.5x", r <= 0.5)
if have_wasmtime:
    r = w / b3["wasmtime-10"]
    row("B3", "warm wpool / 10 x wasmtime run --invoke", f"{b3['wasmtime-10'] * 1e3:.0f} ms (wasmtime)", f"{r:.2f}x")
else:
    row("B3", "warm wpool / 10 x wasmtime run --invoke", "skipped (no wasmtime 48)")


def pool_times(side):
    """bench/warm_pool's figures for one side: the medians over the runs
    of its first map and of its warm maps, in seconds."""
    with open(f"{out}/b3-pool-{side}") as f:
        lines = [line.split() for line in f]
    return tuple(statistics.median(float(v) for k, v in lines if k == key) for key in ("first", "warm"))


(wf, ww), (pf, pw) = pool_times("wpool"), pool_times("python")
row("B3", "one pool, its first map of 0..10 (task loaded, 2 workers started): wpool / Python Pool(2)", f"{wf * 1e3:.1f} ms / {pf * 1e3:.1f} ms", f"{wf / pf:.2f}x")
row("B3", "the same pool's next maps of 0..10 (warm, median of 50): wpool / Python", f"{ww * 1e3:.2f} ms / {pw * 1e3:.2f} ms", f"{ww / pw:.2f}x")


# B4: messaging between two tasks.
def numbers(name):
    with open(f"{out}/{name}") as f:
        return [float(line) for line in f if line.strip()]


with open(f"{out}/b4-python") as f:
    py = [json.loads(line) for line in f if line.strip()]
rtt = statistics.median(numbers("b4-rtt")) / 1e3
rate = statistics.median(numbers("b4-rate"))
pipe_rate = statistics.median(numbers("b4-pipe-rate"))
raw, mpq, mpp, mprate, mppipe = (statistics.median(p[k] for p in py) for k in ("raw_pipe_rtt_us", "queue_rtt_us", "pipe_rtt_us", "queue_msgs_per_s", "pipe_msgs_per_s"))
row("B4", "queue round trip between two tasks / raw OS pipe pair", f"{rtt:.0f} us / {raw:.0f} us", f"{rtt / raw:.2f}x", "<= 2x", rtt / raw <= 2)
row("B4", "same / multiprocessing.Queue, and .Pipe", f"{mpq:.0f} us, {mpp:.0f} us", f"{rtt / mpq:.2f}x, {rtt / mpp:.2f}x")
row("B4", "queue throughput, 64-byte messages: wpool / multiprocessing.Queue", f"{rate:.0f} / {mprate:.0f} msg/s", f"{rate / mprate:.2f}x", ">= 1x", rate >= mprate)
row("B4", "pipe throughput, 64-byte messages: wpool / multiprocessing.Pipe", f"{pipe_rate:.0f} / {mppipe:.0f} msg/s", f"{pipe_rate / mppipe:.2f}x")
b4c = hf("b4-counter")
r = b4c["wpool"] / b4c["python"]
row("B4", "locked counter, 8 tasks x 1000 increments, 2 workers: wpool / Python Value + Lock on Pool(2), wall", f"{b4c['wpool']:.2f} s / {b4c['python']:.2f} s", f"{r:.2f}x", "<= 1x", r <= 1)

# B5: 16 MiB through a task against a raw pipe.
mib = 16.0
pipe = mib / crit_median("payload", "pipe")
for bench, what, ways in [
    ("len", "16 MiB list<u8> into a task (len)", 1),
    ("echo", "16 MiB list<u8> in and back out (echo), both ways", 2),
    ("echo-text", "16 MiB string in and back out (echo-text), both ways", 2),
]:
    bw = ways * mib / crit_median("payload", bench)
    row("B5", f"{what} / raw pipe", f"{bw:.1f} MiB/s / {pipe:.0f} MiB/s", f"{bw / pipe * 100:.2f}%", ">= 50%", bw / pipe >= 0.5)

# B6: agents through NATS.
b6, b6one = hf("b6"), hf("b6-one")
if b6:
    r = b6["agents-2"] / b6["local-2"]
    row("B6", "64 x count-primes(560000): 2 agents (1 slot each) through loopback NATS / local pool of 2, wall", f"{b6['agents-2']:.2f} s / {b6['local-2']:.2f} s", f"{r:.2f}x")
    s = b6one["agents-1"] / b6["agents-2"]
    row("B6", "same, speedup 1 -> 2 agents", f"{b6one['agents-1']:.2f} s -> {b6['agents-2']:.2f} s", f"{s:.2f}", ">= 1.8", s >= 1.8)
    per = (b6["tiny-agents-2"] - b6["tiny-local-2"]) / 10000 * 1e3
    row("B6", "10 000 squares, 2 agents / local pool of 2: overhead per task", f"{b6['tiny-agents-2']:.2f} s / {b6['tiny-local-2']:.2f} s", f"{per:.2f} ms", "<= 1 ms", per <= 1)
    ops = 4 * 500 * 4
    per = (b6["counter-agents-2"] - b6["counter-local-2"]) / ops * 1e6
    row("B6", "locked counter, 4 x 500 increments (8000 lock and value operations), 2 agents / local pool of 2: cost per operation through the submitter", f"{b6['counter-agents-2']:.2f} s / {b6['counter-local-2']:.2f} s", f"+{per:.0f} us")
    r = b6["stream-agents-2"] / b6["stream-local-2"]
    row("B6", "queue stream, 10 000 items from one task to another, 2 agents / local pool of 2, wall (whole runs)", f"{b6['stream-agents-2']:.2f} s / {b6['stream-local-2']:.2f} s", f"{r:.2f}x")
else:
    row("B6", "agents through NATS", "skipped (no nats-server)")

# B7: tasks in Python and JavaScript.
for lang, name, toolchain in [("python", "Python", "componentize-py"), ("js", "JS", "componentize-js")]:
    cold, warm = hf(f"b7-{lang}-cold"), hf(f"b7-{lang}")
    if not warm:
        row("B7", f"{name} square", f"skipped (no {toolchain})")
        continue
    r = cold["first"] / cold["compile"]
    row("B7", f"{name} square, 0..10, first run (empty cache) / one compile (wasmtime, in process)", f"{cold['first']:.2f} s / {cold['compile']:.2f} s", f"{r:.2f}x", "<= 1.2x", r <= 1.2)
    row("B7", f"{name} square, 0..10, warm cache", f"{warm['warm'] * 1e3:.0f} ms", "-", "<= 100 ms", warm["warm"] <= 0.1)
    with open(f"{out}/b7-{lang}-tasks") as f:
        fresh, reused = map(int, f.read().split())
    # Beyond a run of 10 tasks in the same mode (the same starts, and as
    # many instances made for --reuse): what the other tasks cost.
    for mode, base, n, what in [("fresh", "warm", fresh, "fresh instance"), ("reuse", "reuse-10", reused, f"--reuse {reused}")]:
        base_host, base_workers = cpu(f"b7-{lang}-{base}")
        host, workers = cpu(f"b7-{lang}-{mode}")
        row("B7", f"{name} square, {n} tasks, {what}: worker CPU per task; host", f"{(workers - base_workers) / (n - 10) * 1e6:.0f} us; {(host - base_host) / (n - 10) * 1e6:.1f} us")

cpu_model = "unknown CPU"
try:
    with open("/proc/cpuinfo") as f:
        cpu_model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
except (OSError, StopIteration):
    pass
print(f"Machine: {os.cpu_count()} cores, {cpu_model}, Linux {platform.release()}; medians.\n")
rows.sort(key=lambda r: r[0])  # by case; stable within one
print("| case | what | measured | ratio | target | met |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
