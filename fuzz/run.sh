#!/bin/sh
# fuzz/run.sh [seconds]: builds the libFuzzer harnesses (clang -fsanitize=fuzzer,address against
# the system libtls) and runs each for a bounded time (default 60 s), starting from the seed
# corpora in fuzz/corpus/ plus the current test PKI's OCSP responses. Prints executions, exec/s,
# crashes and leaks per harness; exits non-zero if any harness found a crash, a leak or a timeout.
# Needs clang (Debian: apt-get install clang) and the test PKI (made here if missing).
# Set LIBTLS_FUZZ_WORK to keep the build, the grown corpora and any crash inputs in a directory.
set -eu
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds per harness]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v clang >/dev/null || { echo "fuzz/run.sh: clang not found (Debian/Ubuntu: apt-get install clang)" >&2; exit 1; }
pkg-config --exists libtls || { echo "fuzz/run.sh: libtls not found (Debian/Ubuntu: apt-get install libtls-dev)" >&2; exit 1; }
[ -f test/fixtures/pki/ocsp-good.der ] || sh test/fixtures/make-pki.sh >/dev/null
work=${LIBTLS_FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/libtls-fuzz.XXXXXX")}
mkdir -p "$work"
export LIBTLS_FUZZ_PKI="$root/test/fixtures/pki"

status=0
printf '%-8s %12s %9s %8s %8s %8s %7s %s\n' harness executions exec/s corpus crashes leaks rss_mb notes
for h in config ocsp peer; do
	bin="$work/fuzz_$h"
	# shellcheck disable=SC2046
	clang -g -O1 -fsanitize=fuzzer,address -o "$bin" "fuzz/fuzz_$h.c" $(pkg-config --cflags --libs libtls)
	corpus="$work/corpus-$h"
	mkdir -p "$corpus"
	cp fuzz/corpus/"$h"/* "$corpus"/
	[ "$h" = ocsp ] && cp test/fixtures/pki/ocsp-*.der "$corpus"/
	log="$work/$h.log"
	rc=0
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1 \
		-artifact_prefix="$work/$h-" "$corpus" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
	crashes=$(find "$work" -maxdepth 1 \( -name "$h-crash-*" -o -name "$h-timeout-*" -o -name "$h-oom-*" \) | wc -l)
	leaks=$(find "$work" -maxdepth 1 -name "$h-leak-*" | wc -l)
	notes=""
	if [ "$rc" -ne 0 ]; then
		status=1
		notes="exit $rc: $(grep -m1 -E '^==[0-9]+==ERROR|SUMMARY|deadly signal|fuzz setup' "$log" || true)"
	fi
	printf '%-8s %12s %9s %8s %8s %8s %7s %s\n' "$h" "${execs:-?}" "${rate:-?}" "$(ls "$corpus" | wc -l)" \
		"$crashes" "$leaks" "${rss:-?}" "$notes"
done
echo "work directory (logs, grown corpora, crash inputs): $work"
exit $status
