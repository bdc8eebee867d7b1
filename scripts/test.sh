#!/usr/bin/env bash
# The whole test suite: system peers (installed when missing), build, lint, every test file, then a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh

npm run --silent build
npx biome check src test bench
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
echo "Running ${#files[@]} test files"
node --enable-source-maps --test --test-reporter=spec --test-timeout=120000 "${files[@]}"

# Then a short coverage-guided fuzz run of every sans-I/O core (docs/fuzzing.md), split over the targets. It runs
# here, not as a test file: it owns its process (an inspector session reads V8's block coverage), its time is a
# budget rather than a test timeout, and a crash prints its input, file and replay command as they are.
# FUZZ_SECONDS=0 skips it.
if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  node --enable-source-maps dist/test/fuzz/run.js --seconds "${FUZZ_SECONDS:-60}" --no-corpus
fi
