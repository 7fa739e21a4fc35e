#!/bin/sh
# Runs the whole test suite against the addon built with AddressSanitizer, then rebuilds the normal
# addon. Node itself is not built with ASan, so the runtime is preloaded into node (and the node
# processes the tests start); the external peers (openssl, gnutls, curl) get shims on PATH that
# run them without it. Leak detection is off because V8 and Node keep allocations until exit
# (fd and memory growth are tested directly).
set -eu
cd "$(dirname "$0")/.."
node scripts/build-addon.mjs --force -- --libtls_asan=1 >/dev/null
shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
for cmd in openssl gnutls-cli gnutls-serv curl sslscan; do
  real=$(command -v "$cmd" || true)
  [ -n "$real" ] || continue
  # keep other preloads (the tests' loopback bind shim), drop the ASan runtime
  printf '#!/bin/sh\nLD_PRELOAD=$(printf %%s "${LD_PRELOAD:-}" | tr " :" "\\n\\n" | grep -v libasan | paste -sd: -)\nexport LD_PRELOAD\nexec %s "$@"\n' "$real" >"$shims/$cmd"
  chmod +x "$shims/$cmd"
done
status=0
PATH="$shims:$PATH" LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
  node --test --test-concurrency=2 --test-timeout=600000 --import ./test/release-check.mjs test/*/*.test.mjs || status=$?
node scripts/build-addon.mjs >/dev/null
exit $status
