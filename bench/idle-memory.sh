#!/usr/bin/env bash
# Memory per idle connection, sockeye against the anchors in one run: N keep-alive HTTP connections (one GET
# each) and N WebSocket connections (one echo each), server RSS growth per connection.
#   bash bench/idle-memory.sh [N=5000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
export BENCH_DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
N="${1:-5000}"
bash "$SHARED/setup.sh" >/dev/null
[ -f "$ROOT/dist/bench/server.js" ] || (cd "$ROOT" && npm run --silent build)
export NODE_PATH="$BENCH_DEPS/node_modules"
run() { # name command...
  local name=$1; shift
  PORT=9411 taskset -c 0 "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9411) 2>/dev/null && break; sleep 0.1; done
  echo "== $name"
  [ "$MODE" = http ] && taskset -c 1 /usr/bin/python3 "$ROOT/bench/http-idle-conns.py" 9411 $pid "$N" | head -1
  [ "$MODE" = ws ] && taskset -c 1 /usr/bin/python3 "$SHARED/tools/idle-conns.py" 9411 $pid "$N" | head -1
  kill $pid; wait $pid 2>/dev/null || true
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for MODE in ${MODES:-http ws}; do
  echo "### $MODE, $N idle connections"
  run sockeye node "$ROOT/dist/bench/server.js"
  run raw-net node "$SHARED/servers/impl/raw-net.cjs"
  run node-http-ws node "$SHARED/servers/impl/node-http-ws.cjs"
done
