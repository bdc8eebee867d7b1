#!/usr/bin/env bash
# The whole test suite: system peers (installed when missing), build, lint, then every test file.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh

npm run --silent build
npx biome check src test bench
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
echo "Running ${#files[@]} test files"
exec node --enable-source-maps --test --test-reporter=spec --test-timeout=120000 "${files[@]}"
