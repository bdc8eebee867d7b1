#!/usr/bin/env bash
# Scale, soak and churn (issue 15 §2): bench/soak.ts with enough descriptors, its clients on core 1 (the server it
# starts is pinned to core 0). Builds first when dist/ is missing. Arguments go to bench/soak.ts, e.g.:
#   bash bench/soak.sh soak --sockets 10000 --seconds 600
#   bash bench/soak.sh churn --cycles 100000
#   bash bench/soak.sh slow --slow 1000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$ROOT/dist/bench/soak.js" ] || (cd "$ROOT" && npm run --silent build)
# 10,000 sockets on each side, plus the server's: raise the soft limit (to the hard one when it is lower).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cd "$ROOT"
exec taskset -c "${SOAK_CLIENT_CPU:-1}" node dist/bench/soak.js "$@"
