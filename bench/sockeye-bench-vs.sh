#!/usr/bin/env bash
# How much load `sockeye bench` drives compared with the native generators, with the same connections against the
# same server: `sockeye echo` (this checkout) pinned to core 0, the generator to core 1, ROUNDS rounds of
# DURATION-second runs, the generators interleaved within each round so that drift hits them alike.
#   HTTP: wrk -t1 vs sockeye bench: keep-alive GET, 50 connections; pipelined GET (16 per write), 50 connections
#   WS:   wsload (the shared C generator, ../shared/bench/wsload) vs sockeye bench: 32 B binary, 100 connections x 16
#         in flight; 1 KiB, 100 x 4
# The generator's CPU (user+sys seconds / wall seconds) tells who is the bottleneck: a generator near 100 % of its
# core limits the figure. Then the same pairs against the fastest servers at hand (the ceiling: where each
# generator tops out): the shared C echo server (wsecho) for WebSocket and bench/anchors/raw-net.ts for HTTP.
#   bash bench/sockeye-bench-vs.sh [--rounds 3] [--duration 5] [--no-ceiling] [--out bench/results/sockeye-bench-DATE.md]
#   bash bench/sockeye-bench-vs.sh --report RUNS.jsonl [--out FILE.md]   # the tables again from a kept .jsonl
# Needs: wrk (apt), wsload (built by ../shared/bench/setup.sh into $BENCH_DEPS/bin, default /tmp/bench-deps);
# a generator that is missing is skipped and said so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=3
DURATION=5
CEILING=yes
REPORT=
OUT="$ROOT/bench/results/sockeye-bench-$(date -u +%Y-%m-%d).md"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-ceiling) CEILING=no; shift ;;
    --report) REPORT="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
WSLOAD="${BENCH_DEPS:-/tmp/bench-deps}/bin/wsload"
WRK="$(command -v wrk || true)"
TMP="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
if [ -n "$REPORT" ]; then
  cp "$REPORT" "$TMP/runs.jsonl"
  WRK=yes; [ -x "$WSLOAD" ] || WSLOAD=/bin/true
else
[ -f "$ROOT/dist/src/cli/bench.js" ] && [ -f "$ROOT/dist/bench/anchors/raw-net.js" ] || (cd "$ROOT" && npm run --silent build)

# Starts a server on core 0 and waits for WORD in its output: start NAME WORD PORT command...
start() {
  local name="$1" word="$2" port="$3"; shift 3
  PORT="$port" taskset -c 0 "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do grep -q "$word" "$TMP/$name.log" && return 0; sleep 0.1; done
  echo "$name did not start" >&2; cat "$TMP/$name.log" >&2; exit 1
}
PORT=$((20000 + RANDOM % 20000))
start sockeye-echo listening "$PORT" node "$ROOT/bin/sockeye.js" echo --port "$PORT"
if [ "$CEILING" = yes ]; then
  RAW_PORT=$((PORT + 1)) WSECHO_PORT=$((PORT + 2))
  start raw-net ready "$RAW_PORT" node "$ROOT/dist/bench/anchors/raw-net.js"
  if [ -x "$(dirname "$WSLOAD")/wsecho" ]; then start wsecho ready "$WSECHO_PORT" "$(dirname "$WSLOAD")/wsecho"; else WSECHO_PORT=; fi
fi

cat >"$TMP/pipeline.lua" <<'LUA'
local depth = tonumber(os.getenv("WRK_PIPELINE") or "16")
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", "/") end
  batch = table.concat(r)
end
request = function() return batch end
LUA

# Runs a generator on core 1 under /usr/bin/time; appends one JSON line {workload, generator, round, rate, p50, p99,
# errors, cpu} to $TMP/runs.jsonl.
measure() {
  local workload="$1" generator="$2" round="$3"; shift 3
  local out="$TMP/out" times="$TMP/time"
  /usr/bin/time -f '%e %U %S' -o "$times" taskset -c 1 "$@" >"$out" 2>"$TMP/err" || true
  node - "$workload" "$generator" "$round" "$out" "$times" "$TMP/err" >>"$TMP/runs.jsonl" <<'JS'
const fs = require('node:fs');
const [workload, generator, round, outFile, timeFile, errFile] = process.argv.slice(2);
const text = fs.readFileSync(outFile, 'utf8');
const [wall, user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
let r = { rate: NaN, p50: NaN, p99: NaN, errors: NaN };
try {
  if (generator === 'wrk') {
    const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)[1]);
    const unit = (v, u) => Number(v) * ({ us: 1e-3, ms: 1, s: 1e3 }[u] ?? NaN);
    const pct = (p) => { const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(text); return m ? unit(m[1], m[2]) : NaN; };
    const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
    r = { rate, p50: pct(50), p99: pct(99),
          errors: (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0) };
  } else if (generator === 'wsload') {
    const j = JSON.parse(text.trim().split('\n').pop());
    const per = j.msgs_per_s;
    r = { rate: per, p50: (j.p50_us ?? NaN) / 1e3, p99: (j.p99_us ?? NaN) / 1e3, errors: j.errors ?? 0, raw: j };
  } else {
    const j = JSON.parse(text);
    r = { rate: j.perSecond, p50: j.latency.p50, p99: j.latency.p99, errors: j.errors };
  }
} catch (e) {
  r.failure = `${e.message}: ${text.slice(0, 200)} ${fs.readFileSync(errFile, 'utf8').slice(0, 200)}`;
}
delete r.raw;
console.log(JSON.stringify({ workload, generator, round: Number(round), cpu: (user + sys) / wall, ...r }));
JS
  tail -1 "$TMP/runs.jsonl" >&2
}

SB=(node "$ROOT/bin/sockeye.js" bench --json -d "$DURATION")
# One round of the HTTP pairs against port $2, labelled $1; then the WebSocket pairs against port $3 (if any).
pairs() {
  local label="$1" http="$2" ws="$3" round="$4"
  if [ -n "$http" ]; then
    [ -n "$WRK" ] && measure "http-get$label" wrk "$round" "$WRK" -t1 -c50 -d"${DURATION}s" --latency "http://127.0.0.1:$http/"
    measure "http-get$label" sockeye-bench "$round" "${SB[@]}" -c 50 "http://127.0.0.1:$http/"
    [ -n "$WRK" ] && measure "http-get-pipe16$label" wrk "$round" "$WRK" -t1 -c50 -d"${DURATION}s" --latency -s "$TMP/pipeline.lua" "http://127.0.0.1:$http/"
    measure "http-get-pipe16$label" sockeye-bench "$round" "${SB[@]}" -c 50 --pipeline 16 "http://127.0.0.1:$http/"
  fi
  if [ -n "$ws" ]; then
    [ -x "$WSLOAD" ] && measure "ws-echo-32b$label" wsload "$round" "$WSLOAD" -c 100 -s 32 -w 16 -d "$DURATION" -t binary -j -q "ws://127.0.0.1:$ws/"
    measure "ws-echo-32b$label" sockeye-bench "$round" "${SB[@]}" -c 100 --in-flight 16 --size 32 --binary "ws://127.0.0.1:$ws/"
    [ -x "$WSLOAD" ] && measure "ws-echo-1k$label" wsload "$round" "$WSLOAD" -c 100 -s 1024 -w 4 -d "$DURATION" -t binary -j -q "ws://127.0.0.1:$ws/"
    measure "ws-echo-1k$label" sockeye-bench "$round" "${SB[@]}" -c 100 --in-flight 4 --size 1024 --binary "ws://127.0.0.1:$ws/"
  fi
  return 0
}
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  pairs "" "$PORT" "$PORT" "$round"
  if [ "$CEILING" = yes ]; then
    pairs " @raw-net" "$RAW_PORT" "" "$round"
    [ -n "$WSECHO_PORT" ] && pairs " @wsecho" "" "$WSECHO_PORT" "$round"
  fi
done

fi
mkdir -p "$(dirname "$OUT")"
node - "$TMP/runs.jsonl" "$ROUNDS" "$DURATION" "$([ -n "$WRK" ] && echo yes || echo no)" "$([ -x "$WSLOAD" ] && echo yes || echo no)" "${REPORT:+regenerated}" >"$OUT" <<'JS'
const fs = require('node:fs');
const os = require('node:os');
const [file, rounds, duration, hasWrk, hasWsload, regenerated] = process.argv.slice(2);
const runs = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const f = (v, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');
const median = (a) => { const s = a.filter(Number.isFinite).sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const lines = [];
lines.push(`# sockeye bench vs native generators, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
lines.push(`Server: \`sockeye echo\` (this checkout) on core 0; generator on core 1; ${rounds} rounds of ${duration} s, generators interleaved per round. Rows marked @raw-net / @wsecho are the same pairs against the fastest servers at hand (bench/anchors/raw-net.ts, the shared C wsecho): where each generator tops out. Generator CPU is (user + sys) / wall of its process, startup included. ${regenerated ? 'Tables regenerated from the kept runs (--report).' : `Load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')} (${os.cpus().length} cores).`}`);
if (hasWrk !== 'yes') lines.push('', 'wrk was not found: HTTP rows have no reference.');
if (hasWsload !== 'yes') lines.push('', 'wsload was not found (run ../shared/bench/setup.sh): WebSocket rows have no reference.');
lines.push('', '| workload | generator | round | req or msg/s | p50 ms | p99 ms | errors | generator CPU |', '|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of runs) lines.push(`| ${r.workload} | ${r.generator} | ${r.round} | ${f(r.rate)} | ${f(r.p50, 3)} | ${f(r.p99, 3)} | ${f(r.errors)} | ${f(r.cpu * 100)} %${r.failure ? ` (${r.failure})` : ''} |`);
lines.push('', 'CPU per operation is the generator\'s CPU fraction divided by its rate (medians; the process\'s startup is included, so it is an upper bound): on a core of its own, a generator tops out near 1 / that.');
lines.push('', '| workload | reference | reference median/s | sockeye bench median/s | ratio (median of per-round ratios) | sockeye bench CPU (median) | CPU µs per op: reference / sockeye bench |', '|---|---|---:|---:|---:|---:|---:|');
for (const w of [...new Set(runs.map((r) => r.workload))]) {
  const sb = runs.filter((r) => r.workload === w && r.generator === 'sockeye-bench');
  const ref = runs.filter((r) => r.workload === w && r.generator !== 'sockeye-bench');
  const ratios = sb.map((s) => { const o = ref.find((x) => x.round === s.round); return o ? s.rate / o.rate : NaN; });
  const perOp = (rs) => median(rs.map((r) => (r.cpu * 1e6) / r.rate));
  lines.push(`| ${w} | ${ref[0]?.generator ?? 'none'} | ${f(median(ref.map((r) => r.rate)))} | ${f(median(sb.map((r) => r.rate)))} | ${f(median(ratios), 2)} | ${f(median(sb.map((r) => r.cpu * 100)))} % | ${f(perOp(ref), 2)} / ${f(perOp(sb), 2)} |`);
}
console.log(lines.join('\n'));
JS
[ "$TMP/runs.jsonl" -ef "${OUT%.md}.jsonl" ] || [ "${REPORT:-}" = "${OUT%.md}.jsonl" ] || cp "$TMP/runs.jsonl" "${OUT%.md}.jsonl"
cat "$OUT"
echo "written: $OUT (every run: ${OUT%.md}.jsonl)" >&2
