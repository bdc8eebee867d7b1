#!/usr/bin/env bash
# Connect/disconnect churn: N WebSocket lifecycles (connect, upgrade, close handshake) against sockeye and `ws`
# in one run; server RSS and open file descriptors before, right after, and 5 s after (no leaks: back to
# baseline).   bash bench/churn.sh [N=100000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
export BENCH_DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
N="${1:-100000}"
bash "$SHARED/setup.sh" >/dev/null
[ -f "$ROOT/dist/bench/server.js" ] || (cd "$ROOT" && npm run --silent build)
export NODE_PATH="$BENCH_DEPS/node_modules"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
run() { # name command...
  local name=$1; shift
  PORT=9412 taskset -c 0 "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9412) 2>/dev/null && break; sleep 0.1; done
  sleep 1
  local line="$name: RSS $(rss $pid) KiB, fds $(fds $pid)"
  # Several rounds: V8 keeps the heap it grew, so RSS is not expected to fall back; it must stop growing
  # (a leak grows with every round), and the descriptors must all be released.
  for round in 1 2 3; do
    taskset -c 1 "$BENCH_DEPS/bin/wsload" -m storm -n "$N" -c 50 ws://127.0.0.1:9412/ | grep -i 'handshakes/s' || true
    sleep 2
    line="$line | after round $round: RSS $(rss $pid) KiB, fds $(fds $pid)"
  done
  echo "$line"
  kill $pid; wait $pid 2>/dev/null || true
}
run sockeye node "$ROOT/dist/bench/server.js"
run node-http-ws node "$SHARED/servers/impl/node-http-ws.cjs"
