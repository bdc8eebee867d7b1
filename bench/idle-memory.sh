#!/usr/bin/env bash
# Memory per idle connection, sockeye against raw node:net (the floor) and node:http + ws, in one run: N
# keep-alive HTTP connections (one GET each) and N WebSocket connections (one echo each). Every server runs
# with the same preload (bench/gc-on-signal.cjs), which does two full GCs before each reading, so the figures
# are what connections keep, not handshake garbage. Each server is measured ROUNDS times, interleaved; the
# table gives medians, and "above floor" = server - raw-net, with sockeye's as a share of ws's.
#   bash bench/idle-memory.sh [N=10000] [ROUNDS=3]        MODES="ws" to skip HTTP
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
export BENCH_DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
N="${1:-10000}"
ROUNDS="${2:-3}"
bash "$SHARED/setup.sh" >/dev/null
[ -f "$ROOT/dist/bench/server.js" ] || (cd "$ROOT" && npm run --silent build)
export NODE_PATH="$BENCH_DEPS/node_modules"
export MEM_REPORT_DIR; MEM_REPORT_DIR="$(mktemp -d)"
OUT="$MEM_REPORT_DIR/results"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PRE=(--expose-gc -r "$ROOT/bench/gc-on-signal.cjs")
run() { # mode name script
  local mode=$1 name=$2 script=$3
  PORT=9411 taskset -c 0 node "${PRE[@]}" "$script" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9411) 2>/dev/null && break; sleep 0.1; done
  local line
  line=$(taskset -c 1 /usr/bin/python3 "$ROOT/bench/idle-conns.py" "$mode" 9411 $pid "$N" "$MEM_REPORT_DIR" | tail -1)
  echo "$mode $name $line" >> "$OUT"
  echo "  $mode $name: $line"
  kill $pid; wait $pid 2>/dev/null || true
}
for MODE in ${MODES:-http ws}; do
  echo "### $MODE, $N idle connections, $ROUNDS rounds"
  for r in $(seq "$ROUNDS"); do
    run "$MODE" sockeye "$ROOT/dist/bench/server.js"
    run "$MODE" raw-net "$SHARED/servers/impl/raw-net.cjs"
    run "$MODE" node-http-ws "$SHARED/servers/impl/node-http-ws.cjs"
  done
done
python3 - "$OUT" "$N" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, name, js = line.split(" ", 2)
    rows.setdefault((mode, name), []).append(json.loads(js))
print(f"\nmedians over rounds, {sys.argv[2]} connections, after full GCs")
print("| mode | server | RSS KiB/conn | JS heap B/conn | RSS above floor | heap above floor |")
print("|---|---|---:|---:|---:|---:|")
for mode in ("http", "ws"):
    if (mode, "raw-net") not in rows: continue
    med = {n: (statistics.median(r["rss_kib"] for r in v), statistics.median(r["heap_bytes"] for r in v))
           for (m, n), v in rows.items() if m == mode}
    floor = med["raw-net"]
    for name in ("sockeye", "raw-net", "node-http-ws"):
        rss, heap = med[name]
        print(f"| {mode} | {name} | {rss:.2f} | {heap:.0f} | {rss - floor[0]:+.2f} | {heap - floor[1]:+.0f} |")
    s, w = med["sockeye"], med["node-http-ws"]
    if w[1] - floor[1] > 0:
        print(f"| {mode} | sockeye / ws, above floor | | | {(s[0]-floor[0])/(w[0]-floor[0]) if w[0]-floor[0] > 0 else float('nan'):.2f}× | {(s[1]-floor[1])/(w[1]-floor[1]):.2f}× |")
PY
rm -rf "$MEM_REPORT_DIR"
