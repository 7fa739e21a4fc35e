#!/bin/sh
# testssl.sh against `libtls serve` (a default server with a throwaway certificate) on loopback.
# Outside the default test run: it takes a minute or two. Prints testssl's report; the findings
# are summarised in docs/api.md, "Security". The exit status is testssl's.
#   usage: sh scripts/testssl.sh [--http] [extra testssl options]
# Needs: testssl.sh (Debian/Ubuntu: apt-get install -y testssl.sh).
set -eu
cd "$(dirname "$0")/.."
command -v testssl >/dev/null || { echo "testssl: not installed (apt-get install -y testssl.sh)" >&2; exit 1; }
mode=--echo
if [ "${1:-}" = "--http" ]; then mode=--http; shift; fi
log=$(mktemp)
node dist/cli/main.js serve --port 0 $mode 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  port=$(sed -n 's/.* server on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { echo "testssl: libtls serve did not start:" >&2; cat "$log" >&2; exit 1; }
# bounded: testssl's own connect/openssl timeouts, and the whole run
timeout 600 testssl --quiet --color 0 --warnings off --connect-timeout 5 --openssl-timeout 5 \
  --ip 127.0.0.1 "$@" "localhost:$port"
