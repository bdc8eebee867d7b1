#!/usr/bin/env bash
# Server memory per compressed idle WebSocket connection, sockeye against ws with perMessageDeflate, in one run:
#   bash bench/deflate-idle.sh [N=1000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
export BENCH_DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
N="${1:-1000}"
bash "$SHARED/setup.sh" >/dev/null
[ -f "$ROOT/dist/bench/server.js" ] || (cd "$ROOT" && npm run --silent build)
export NODE_PATH="$BENCH_DEPS/node_modules"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
run() { # name env command...
  local name=$1; shift
  PORT=9412 taskset -c 0 env "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9412) 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  # env is the process group leader's child: measure the node process itself.
  local node_pid; node_pid=$(pgrep -P $pid node || echo $pid)
  echo "== $name"
  taskset -c 1 /usr/bin/python3 "$ROOT/bench/deflate-idle.py" 9412 "$node_pid" "$N"
  kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
}
run sockeye-deflate SOCKEYE_DEFLATE=1 node "$ROOT/dist/bench/server.js"
run ws-deflate WS_DEFLATE=1 node "$SHARED/servers/impl/node-http-ws.cjs"
