#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers when they are missing: curl, python3-websockets,
# chromium. Needs root (CI runs as root); says what it installs.
set -euo pipefail
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing test peers from Debian: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "Not root: cannot install ${missing[*]}; tests that need them will fail" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: ${missing[*]}"
