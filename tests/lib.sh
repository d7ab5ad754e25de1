# tests/lib.sh - shared helpers for the integration scripts.
#
# A script sources this file, calls mc_start with daemon options, talks to
# the daemon with curl (and, with FUSE, with cat/echo/cp/rm in $MC_MNT),
# and ends with mc_done. The daemon always runs with --port 0 and
# --transfer-port 0 and a fresh mount point under a mktemp -d directory;
# an EXIT trap stops it and unmounts whatever happens.
#
# mooncaked announces itself on stdout, one line each:
#   mooncaked: http http://HOST:PORT/
#   mooncaked: transfer HOST:PORT
#   mooncaked: fuse DIR
#   mooncaked: ready
set -u

: "${MOONCAKED:=${top_builddir:-$(pwd)}/daemon/mooncaked}"
MC_PASS=0
MC_FAIL=0
MC_PID=""
MC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mc-test.XXXXXX")
MC_MNT=""

# MC_SLOW: how many times slower than the plain build the programs under
# test run. A sanitized build (make check-asan and check-tsan set
# SANITIZED) is several times slower, far more so in ending threads (the
# daemon has 1,100 HTTP workers, mooncaked(8), RUNNING AS A SERVICE): on
# a loaded 2-core machine an idle ASan daemon took 3.8 s to stop, where
# the plain one takes 0.15 s and an idle machine's ASan one 0.3 s. A
# script's wall-clock bounds on how soon the daemon reacts go through
# mc_ms; the bounds that tell behaviours apart (a stop before
# --shutdown-timeout, the old leader's last 200 before the new leader's
# first) do not. MC_SLOW=N in the environment overrides it.
case ${SANITIZED:-} in
"") : "${MC_SLOW:=1}" ;;
*) : "${MC_SLOW:=10}" ;;
esac
# mc_ms MS: MS milliseconds of the plain build, scaled by MC_SLOW.
mc_ms() {
	echo $(($1 * MC_SLOW))
}

# mc_child PID: PID is a child of this shell that has not exited yet.
# `kill -0 PID` is not enough: once our child died and was reaped, the
# kernel may give its number to any other process; bash forgets a child
# it reaped, so this never names another process. A stopped child counts.
# Call it from the shell that started the child (not from a subshell).
mc_child() {
	local p
	[ -n "${1:-}" ] || return 1
	for p in $(jobs -rp); do
		[ "$p" = "$1" ] && return 0
	done
	return 1
}

# mc_signal SIG PID: send SIG to PID only while it is our live child.
mc_signal() {
	mc_child "$2" && kill "-$1" "$2" 2>/dev/null
}

# mc_reap PID: SIGTERM our child PID, SIGKILL after 5 s, and wait for it.
mc_reap() {
	mc_child "$1" || return 0
	mc_signal CONT "$1"
	mc_signal TERM "$1"
	for _ in $(seq 50); do mc_child "$1" || break; sleep 0.1; done
	mc_signal KILL "$1"
	wait "$1" 2>/dev/null
}

# mc_keep RC PATH...: with MC_KEEP=DIR in the environment, a script that
# failed (exit status RC, neither 0 nor 77, the skip) leaves a copy of
# PATH... (its temp dir: the daemons' stdout and stderr; etcd's log) in
# DIR/SCRIPT.PID for a post-mortem. .ci/run sets it and prints the logs.
mc_keep() {
	local rc=$1 dst p
	shift
	[ -n "${MC_KEEP:-}" ] || return 0
	[ "$rc" = 0 ] || [ "$rc" = 77 ] && return 0
	dst=$MC_KEEP/$(basename "$0" .sh).$$
	mkdir -p "$dst" || return 0
	for p; do
		[ -e "$p" ] && cp -a "$p" "$dst/" 2>/dev/null
	done
	echo "kept a copy of $* in $dst" >&2
}

# mc_cleanup [RC]: the EXIT trap (RC: the script's exit status, $? when
# the trap calls it). Stops the daemon, unmounts, keeps, removes.
mc_cleanup() {
	local rc=${1:-$?}
	mc_reap "$MC_PID"
	if [ -n "$MC_MNT" ] && mountpoint -q "$MC_MNT" 2>/dev/null; then
		fusermount3 -u -z "$MC_MNT" 2>/dev/null || umount -l "$MC_MNT" 2>/dev/null
	fi
	mc_keep "$rc" "$MC_TMP"
	rm -rf "$MC_TMP"
}
trap mc_cleanup EXIT

# mc_start [--fuse] [daemon options...]: start mooncaked, wait until ready.
# Sets MC_PID, MC_PORT, MC_URL, MC_XPORT (transfer port), MC_MNT (with --fuse),
# MC_OUT and MC_ERR (its stdout and stderr files).
mc_start() {
	local fuse_args=(--no-fuse)
	if [ "${1:-}" = --fuse ]; then
		shift
		MC_MNT="$MC_TMP/mnt"
		fuse_args=(--mountpoint "$MC_MNT")
	fi
	MC_OUT="$MC_TMP/stdout"
	MC_ERR="$MC_TMP/stderr"
	rm -f "$MC_OUT" "$MC_ERR"   # a restart must not see the last 'ready'
	"$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 --segment-size 64M \
		"${fuse_args[@]}" "$@" >"$MC_OUT" 2>"$MC_ERR" &
	MC_PID=$!
	for _ in $(seq 100); do
		grep -q '^mooncaked: ready' "$MC_OUT" 2>/dev/null && break
		mc_child "$MC_PID" || break
		sleep 0.05
	done
	if ! grep -q '^mooncaked: ready' "$MC_OUT" 2>/dev/null; then
		echo "mooncaked did not start:" >&2
		cat "$MC_OUT" "$MC_ERR" >&2
		exit 1
	fi
	MC_URL=$(sed -n 's|^mooncaked: http \(http://[^ ]*\)/$|\1|p' "$MC_OUT" | head -n1)
	MC_PORT=${MC_URL##*:}
	MC_XPORT=$(sed -n 's|^mooncaked: transfer .*:\([0-9]*\)$|\1|p' "$MC_OUT" | head -n1)
}

# mc_stop: SIGTERM, and expect exit status 0 within 10 s.
mc_stop() {
	[ -n "$MC_PID" ] || return 0
	mc_signal TERM "$MC_PID"
	local rc=0
	wait "$MC_PID" || rc=$?
	MC_PID=""
	check "daemon exits 0 on SIGTERM" [ "$rc" = 0 ]
}

# check DESC CMD...: run CMD, count a pass or a failure.
check() {
	local desc=$1
	shift
	if "$@"; then
		MC_PASS=$((MC_PASS + 1))
	else
		MC_FAIL=$((MC_FAIL + 1))
		echo "FAIL: $desc" >&2
	fi
}

# expect_eq DESC GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then
		MC_PASS=$((MC_PASS + 1))
	else
		MC_FAIL=$((MC_FAIL + 1))
		printf 'FAIL: %s\n  got:  %q\n  want: %q\n' "$1" "$2" "$3" >&2
	fi
}

# expect_match DESC GOT REGEX (grep -E)
expect_match() {
	if printf '%s' "$2" | grep -qE -- "$3"; then
		MC_PASS=$((MC_PASS + 1))
	else
		MC_FAIL=$((MC_FAIL + 1))
		printf 'FAIL: %s\n  got:  %q\n  want /%s/\n' "$1" "$2" "$3" >&2
	fi
}

# http METHOD PATH [curl args...]: prints "STATUS\nBODY" into $HTTP_CODE/$HTTP_BODY.
http() {
	local method=$1 path=$2
	shift 2
	HTTP_BODY_FILE="$MC_TMP/body"
	HTTP_CODE=$(curl -s -o "$HTTP_BODY_FILE" -w '%{http_code}' -X "$method" \
		"$MC_URL$path" "$@")
	HTTP_BODY=$(cat "$HTTP_BODY_FILE")
}

# mc_need_fuse: skip (exit 77) on a machine without /dev/fuse.
mc_need_fuse() {
	[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
}

# err CMD...: CMD's stderr (its stdout dropped), as a failing tree
# operation's message.
err() { "$@" 2>&1 >/dev/null; }

# addr_in JSON: the first buffer_address_ in a replica or put_start answer.
addr_in() {
	printf '%s' "$1" | grep -o '"buffer_address_": *[0-9]*' | head -n1 |
		grep -o '[0-9]*$'
}

# The transfer port's test client (tests/xfer_client_main.c).
XC=${XFER_CLIENT:-${top_builddir:-.}/tests/xfer_client}

# mc_done: print the closing line and exit non-zero on any failure.
mc_done() {
	echo "$MC_PASS passed, $MC_FAIL failed"
	[ "$MC_FAIL" = 0 ]
	exit $?
}
