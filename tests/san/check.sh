#!/bin/bash
# tests/san/check.sh asan|tsan - make check-asan and make check-tsan.
#
# asan: the whole tree built with ASan + UBSan (LSan included) in
# build/asan (tests/san/build.sh), then every Check suite, every fuzz
# replayer and every integration script of make check run there, so the
# scripts drive an instrumented daemon. valgrind is not run over
# instrumented programs (SANITIZED=asan: the two do not mix; make check
# runs it over the normal build).
#
# tsan: the same tree built with ThreadSanitizer in build/tsan, and the
# suites that run the core's threads: the store (concurrent puts, gets,
# leases, eviction and the reaper), metrics, the transfer port (event
# loops) and the RPC server.
#
# Reports go to files (log_path), not to the test logs, because a
# daemon's stderr is not always read: the run fails when any report file
# exists afterwards, whatever the exit codes said. Suppressions, for
# third-party libraries only, are in tests/san/*.supp with a reason each.
set -uo pipefail
kind=${1:?asan or tsan}
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/$kind
logs=$dir/reports
mkdir -p "$dir"
bash "$top/tests/san/build.sh" "$kind" all >"$dir.build.log" 2>&1 ||
	{ tail -40 "$dir.build.log"; echo "check-$kind: build failed" >&2; exit 1; }
rm -rf "$logs"
mkdir -p "$logs"
supp=$top/tests/san/$kind.supp
case $kind in
asan)
	# allocator_may_return_null: a size a client chooses that no
	# allocator can lend fails with NULL, as glibc's does, and the
	# daemon answers it (ENOSPC, 507); ASan would abort instead
	export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:allocator_may_return_null=1"
	export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
	export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
	tests=
	;;
tsan)
	export TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$supp"
	tests="TESTS=tests/check_buf tests/check_alloc tests/check_metrics tests/check_scrape tests/check_store tests/check_transfer tests/check_rpc"
	;;
esac
cd "$dir/src"
rc=0
if [ -n "$tests" ]; then
	make -j2 check SANITIZED="$kind" "$tests" || rc=1
else
	make -j2 check SANITIZED="$kind" || rc=1
fi
# a log that only says an allocation no allocator can lend returned NULL
# (allocator_may_return_null, above) reports nothing
reports=0
for f in "$logs"/*; do
	[ -e "$f" ] || continue
	grep -qv 'WARNING: AddressSanitizer failed to allocate' "$f" || continue
	reports=$((reports + 1))
	rc=1
	echo "== $f"
	head -60 "$f"
done
[ $rc -eq 0 ] || { find tests -name '*.log' -newer "$dir/flags" -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null | head; }
echo "check-$kind: $reports sanitizer report(s); $( [ $rc -eq 0 ] && echo clean || echo FAILED)"
exit $rc
