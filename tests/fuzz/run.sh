#!/bin/bash
# tests/fuzz/run.sh [NAME...] - builds the fuzz targets under libFuzzer
# (clang, ASan, UBSan; tests/san/build.sh fuzz) and runs each for
# FUZZ_TIME seconds (default 60), every target of FUZZ_NAMES when none is
# named. Each run starts from the seed corpus tests/fuzz/corpus/NAME (and
# the dictionary tests/fuzz/NAME.dict when there is one) and grows a work
# corpus in build/fuzz/corpus/NAME; a crash leaves its input in
# build/fuzz/crashes/ and fails the run. Copy such an input into
# tests/fuzz/corpus/NAME/ when the bug is fixed: make check replays it.
# Prints one line per target: executions, speed, coverage, new inputs.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
time=${FUZZ_TIME:-60}
names=${*:-$(sed -n 's/^FUZZ_NAMES = //p' "$top/Makefile.am")}
out=$top/build/fuzz
mkdir -p "$out"

command -v clang >/dev/null || { echo "fuzz: clang not found (./bootstrap installs it)" >&2; exit 1; }
progs=""
for n in $names; do progs="$progs tests/fuzz/fuzz_$n"; done
bash "$top/tests/san/build.sh" fuzz LIBFUZZER_FLAGS=-fsanitize=fuzzer $progs >"$out.build.log" 2>&1 ||
	{ tail -40 "$out.build.log"; echo "fuzz: build failed" >&2; exit 1; }

mkdir -p "$out/crashes"
fail=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for n in $names; do
	mkdir -p "$out/corpus/$n"
	dict=()
	[ -f "$top/tests/fuzz/$n.dict" ] && dict=(-dict="$top/tests/fuzz/$n.dict")
	log=$out/$n.log
	"$out/src/tests/fuzz/fuzz_$n" -max_total_time="$time" -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" \
		-artifact_prefix="$out/crashes/$n-" \
		"$out/corpus/$n" "$top/tests/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	units=$(ls "$out/corpus/$n" | wc -l)
	if [ $rc -ne 0 ]; then
		fail=$((fail + 1))
		echo "fuzz $n: FAILED after ${execs:-?} executions (log: $log)"
		grep -m3 -E 'ERROR|SUMMARY|fuzz_|Test unit written' "$log" | sed 's/^/    /'
	else
		echo "fuzz $n: ${execs:-?} executions in ${time}s (${speed:-?}/s), ${cov:-cov: ?}, work corpus $units inputs"
	fi
done
[ $fail -eq 0 ]
