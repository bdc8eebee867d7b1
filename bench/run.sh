#!/usr/bin/env bash
# Runs the shared benchmark harness (../shared/bench) with sockeye added as an entry, side by side with the
# anchors, server on core 0, load on core 1. All arguments go to the harness, e.g.:
#   bash bench/run.sh --quick --only sockeye,node-http-ws,bun --workload http
# The harness is copied to a scratch folder so that ../shared stays untouched; results land in bench/results/.
# Without the shared harness (a clone on its own; SOCKEYE_SHARED names another place for it), the same workloads
# run with `sockeye bench` against sockeye and our own anchors (bench/fallback.ts: a raw node:net floor, node:http +
# ws), and it says so; its options are --quick --rounds --duration --warmup --only --workload --out --no-write --json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
WORK="${TMPDIR:-/tmp}/sockeye-bench"
[ -f "$ROOT/dist/bench/server.js" ] && [ -f "$ROOT/dist/bench/fallback.js" ] || (cd "$ROOT" && npm run --silent build)
if [ ! -f "$SHARED/run.sh" ]; then
  echo "bench/run.sh: no shared harness at $SHARED: using sockeye bench and bench/anchors (raw node:net, ws) instead" >&2
  exec node "$ROOT/dist/bench/fallback.js" "$@"
fi
rm -rf "$WORK" && mkdir -p "$WORK"
cp -r "$SHARED"/. "$WORK"/
rm -rf "$WORK/results" && mkdir -p "$WORK/results"
cat > "$WORK/servers/sockeye.sh" <<SH
#!/usr/bin/env bash
# bench-label: sockeye (this checkout)
# bench-role: candidate
# bench-workloads: ws http
exec node "$ROOT/dist/bench/server.js"
SH
chmod +x "$WORK/servers/sockeye.sh"
# The same server with permessage-deflate accepted; wsload offers it (-z) and compresses what it sends, as the
# ws-deflate anchor is measured.
cat > "$WORK/servers/sockeye-deflate.sh" <<SH
#!/usr/bin/env bash
# bench-label: sockeye + permessage-deflate (this checkout)
# bench-role: candidate
# bench-workloads: ws
# bench-wsload-flags: -z
export SOCKEYE_DEFLATE=1
exec node "$ROOT/dist/bench/server.js"
SH
chmod +x "$WORK/servers/sockeye-deflate.sh"
bash "$WORK/run.sh" "$@"
mkdir -p "$ROOT/bench/results"
cp "$WORK"/results/* "$ROOT/bench/results/" 2>/dev/null || true
