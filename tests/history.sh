#!/bin/bash
# history.sh - the history checker (tests/history/history.c) against a
# live daemon with its FUSE tree: clients put, get, replace and remove
# through HTTP, FUSE and the transfer port, first on one steady segment,
# then while segments come and go and eviction runs; every value read is
# checked against the recorded history. HISTORY_SECONDS (default 8) and
# HISTORY_CLIENTS (default 4) size the run; make check-all runs it long.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
H=${HISTORY:-${top_builddir:-.}/tests/history/history}

# The checker must be able to fail: its rules on made-up histories first.
"$H" --self-test >"$MC_TMP/self" 2>&1
expect_eq "the checker finds the anomalies of made-up histories" "$?" 0
grep -q 'every case holds' "$MC_TMP/self" || cat "$MC_TMP/self"

fuse=--fuse
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "no /dev/fuse or fusermount3: the FUSE door is left out"
	fuse=
fi
# Short leases so removes are not refused for long; a 64 MiB segment the
# steady phase never fills; the churn phase adds 16 MiB segments.
mc_start $fuse --lease-ttl 200 --segment-size 64M
args=(--url "$MC_URL" --xport "$MC_XPORT" --clients "${HISTORY_CLIENTS:-4}"
	--seconds "${HISTORY_SECONDS:-8}")
[ -n "$fuse" ] && args+=(--mnt "$MC_MNT")
"$H" "${args[@]}" | tee "$MC_TMP/history.out"
rc=${PIPESTATUS[0]}
expect_eq "history checker: no anomaly" "$rc" 0
expect_match "operations were checked" "$(cat "$MC_TMP/history.out")" \
	'history: [0-9]+ operations'
check "the daemon lives" kill -0 "$MC_PID"
http GET /health
expect_eq "the daemon answers" "$HTTP_CODE" 200
mc_stop
mc_done
