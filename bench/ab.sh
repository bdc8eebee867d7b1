#!/usr/bin/env bash
# A/B of two builds of sockeye and the raw node:net floor, in one invocation, round by round (server on core 0, load
# on core 1). Throughput drifts 10-30 % between invocations on this VM; within one, rounds interleave the three, and
# SWAP=1 changes the order (the first server of a round can be favoured or not). MODE=cpu reports CPU time per
# operation (process user+sys from /proc over the run), which is steadier than throughput.
#   bash bench/ab.sh OLD_CHECKOUT WORKLOAD [ROUNDS=5]
# OLD_CHECKOUT: another built checkout (e.g. `git worktree add /tmp/old <commit> && cd /tmp/old && npm ci && npm run build`).
# WORKLOAD: get | post | pipe | 32 | 1k | 64k | 1m | storm, or 1kz | 64kz (permessage-deflate: both sockeye servers
# run with SOCKEYE_DEFLATE=1 and the client compresses; the raw floor declines the extension and echoes plain).
# OLD_ENV: environment for the "old" server, e.g. `OLD_ENV=SOCKEYE_STREAM=0 bash bench/ab.sh . 1m` compares two
# settings of one build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OLD="${1:?old checkout}"; W="${2:?workload}"; R="${3:-5}"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
[ -x "$DEPS/bin/wsload" ] || (cd "$SHARED" && bash setup.sh >/dev/null)
WSLOAD="$DEPS/bin/wsload"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
case $W in *z) DEFLATE_ENV=SOCKEYE_DEFLATE=1 ;; *) DEFLATE_ENV= ;; esac
env $DEFLATE_ENV PORT=9851 taskset -c 0 node "$ROOT/dist/bench/server.js" >/dev/null 2>&1 & PIDS+=($!)
env $DEFLATE_ENV ${OLD_ENV:-} PORT=9852 taskset -c 0 node "$OLD/dist/bench/server.js" >/dev/null 2>&1 & PIDS+=($!)
NODE_PATH="$DEPS/node_modules" PORT=9853 taskset -c 0 node "$SHARED/servers/impl/raw-net.cjs" >/dev/null 2>&1 & PIDS+=($!)
sleep 1.5
load() { # port seconds -> operations per second
  case $W in
    get) taskset -c 1 wrk -t1 -c100 -d"$2"s "http://127.0.0.1:$1/" | awk '/Requests\/sec/{print $2}' ;;
    post) taskset -c 1 wrk -t1 -c50 -d"$2"s -s "$SHARED/wrk/post.lua" "http://127.0.0.1:$1/echo" | awk '/Requests\/sec/{print $2}' ;;
    pipe) taskset -c 1 wrk -t1 -c100 -d"$2"s -s "$SHARED/wrk/pipeline.lua" "http://127.0.0.1:$1/" | awk '/Requests\/sec/{print $2}' ;;
    32) taskset -c 1 "$WSLOAD" -c 100 -w 16 -s 32 -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1k) taskset -c 1 "$WSLOAD" -c 100 -w 4 -s 1k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    64k) taskset -c 1 "$WSLOAD" -c 10 -w 2 -s 64k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1m) taskset -c 1 "$WSLOAD" -c 1 -w 1 -s 1m -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1kz) taskset -c 1 "$WSLOAD" -z -t text -c 50 -w 4 -s 1k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    64kz) taskset -c 1 "$WSLOAD" -z -t text -c 10 -w 2 -s 64k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    storm) taskset -c 1 "$WSLOAD" -m storm -n $((2500 * $2)) -c 50 "ws://127.0.0.1:$1/" 2>&1 | awk '/handshakes\/s/{print $(NF-1)}' ;;
    *) echo "unknown workload $W" >&2; exit 2 ;;
  esac
}
one() { # port pid -> "ops/s" or "µs/op"
  local t0 u1 s1 u2 s2 rate t1
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$2/stat")
  t0=$(date +%s.%N)
  rate=$(load "$1" 4)
  t1=$(date +%s.%N)
  read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$2/stat")
  if [ "${MODE:-rate}" = cpu ]; then
    python3 -c "print(f'{(($u2-$u1+$s2-$s1)/100)/($rate*($t1-$t0))*1e6:.2f} us/op')"
  else
    echo "$rate/s"
  fi
}
for p in "9851 ${PIDS[0]}" "9852 ${PIDS[1]}" "9853 ${PIDS[2]}"; do one $p >/dev/null; done
for r in $(seq "$R"); do
  if [ -n "${SWAP:-}" ]; then o=$(one 9852 "${PIDS[1]}"); f=$(one 9853 "${PIDS[2]}"); n=$(one 9851 "${PIDS[0]}")
  else n=$(one 9851 "${PIDS[0]}"); o=$(one 9852 "${PIDS[1]}"); f=$(one 9853 "${PIDS[2]}"); fi
  echo "$W round $r: this $n | old $o | floor $f"
done
