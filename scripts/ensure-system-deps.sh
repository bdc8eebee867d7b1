#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers when they are missing: curl, python3-websockets,
# chromium, redis-server, tmux (the CLI tests type into `sockeye connect` under it; the tests start their own redis-server on a free port; the package's service is not used). Needs root (CI runs as root); says what it installs.
set -euo pipefail
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/redis-cli ] || missing+=(redis-tools) # redis-cli: the Redis Cluster test creates its cluster with it
[ -x /usr/bin/tmux ] || missing+=(tmux)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing test peers from Debian: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "Not root: cannot install ${missing[*]}; tests that need them will fail" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting services (redis-server's): the tests start their own, on free ports.
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added_policy=1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
echo "Installed: ${missing[*]}"
