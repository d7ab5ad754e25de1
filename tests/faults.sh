#!/bin/bash
# faults.sh - fault injection: a misbehaving TCP proxy in front of the
# HTTP and transfer ports (tests/fault/proxy.c), failing system calls and
# malloc inside the daemon (tests/fault/inject.so, LD_PRELOAD), and
# SIGKILL in the middle of a put, a read and a mount followed by a
# restart on the same mount point. What must hold: the daemon never
# crashes, nothing acknowledged is lost while it lives, and every failure
# reaches the client as a clear error (a status with a message, an errno,
# or a closed connection), never a partial value.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
B=${top_builddir:-.}
PROXY=$B/tests/fault/proxy
SHIM=$B/tests/fault/inject.so
XC=$B/tests/xfer_client

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "no /dev/fuse or fusermount3: FUSE cannot be tested here"
	exit 77
fi

PX_PID=""
# proxy MODE TARGET [ARG]: start the proxy, set PX_PORT.
proxy() {
	stop_proxy
	rm -f "$MC_TMP/px" # not the last proxy's port
	"$PROXY" "$1" "$2" "${3:-0}" >"$MC_TMP/px" &
	PX_PID=$!
	for _ in $(seq 50); do [ -s "$MC_TMP/px" ] && break; sleep 0.02; done
	PX_PORT=$(head -n1 "$MC_TMP/px")
}
stop_proxy() {
	[ -n "$PX_PID" ] && { mc_signal TERM "$PX_PID"; wait "$PX_PID" 2>/dev/null; }
	PX_PID=""
}
trap 'mc_rc=$?; stop_proxy; mc_cleanup "$mc_rc"' EXIT

alive() {
	check "$1: the daemon lives" kill -0 "$MC_PID"
	http GET /health
	expect_eq "$1: the daemon answers" "$HTTP_CODE" 200
}
addr_in() { printf '%s' "$1" | grep -o '"buffer_address_": *[0-9]*' | head -n1 | grep -o '[0-9]*$'; }
INJECTED=0
FAULTS_SURVIVED=0

mc_start --fuse --lease-ttl 200
head -c 300000 /dev/urandom >"$MC_TMP/big"
head -c 1500 /dev/urandom >"$MC_TMP/small"

# --- 1. the proxy in front of the HTTP port ---------------------------------
for spec in "pass" "delay 20" "bytewise"; do
	set -- $spec
	proxy "$1" "$MC_PORT" "${2:-0}"
	f=$MC_TMP/big
	[ "$1" = bytewise ] && f=$MC_TMP/small
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PUT \
		--data-binary @"$f" "http://127.0.0.1:$PX_PORT/api/put/px-$1")
	expect_eq "http via $spec: put acknowledged" "$code" 200
	curl -s --max-time 20 "http://127.0.0.1:$PX_PORT/api/get/px-$1" >"$MC_TMP/got"
	check "http via $spec: the value reads back whole" cmp -s "$MC_TMP/got" "$f"
	FAULTS_SURVIVED=$((FAULTS_SURVIVED + 1))
done
# A request cut (or stalled, or reset) in its line, its headers or its
# body: the client hears of it, and no part of the value is stored.
for spec in "drop 10" "drop 150" "drop 100000" "reset 10" "reset 150" \
	"reset 100000" "halfclose 10" "halfclose 150" "halfclose 100000"; do
	set -- $spec
	proxy "$1" "$MC_PORT" "$2"
	key="cut-$1-$2"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X PUT \
		-H 'Expect:' --data-binary @"$MC_TMP/big" \
		"http://127.0.0.1:$PX_PORT/api/put/$key")
	check "http $spec: not acknowledged (got $code)" [ "$code" != 200 ]
	http GET "/api/get/$key"
	expect_eq "http $spec: nothing of the value stored" "$HTTP_CODE" 404
	alive "http $spec"
	FAULTS_SURVIVED=$((FAULTS_SURVIVED + 1))
done
stop_proxy

echo "faults: ${SECONDS}s"
# --- 2. the proxy in front of the transfer port -----------------------------
curl -s -X PUT --data-binary @"$MC_TMP/big" "$MC_URL/api/put/xr" >/dev/null
http GET '/query_key?key=xr'
ra=$(addr_in "$HTTP_BODY")
for spec in "pass" "delay 20" "bytewise" "halfclose 24"; do
	set -- $spec
	proxy "$1" "$MC_XPORT" "${2:-0}"
	timeout 20 "$XC" 127.0.0.1 "$PX_PORT" read "$ra" 300000 v2 >"$MC_TMP/got"
	expect_eq "xfer READ via $spec: done" "$?" 0
	check "xfer READ via $spec: exact bytes" cmp -s "$MC_TMP/got" "$MC_TMP/big"
	FAULTS_SURVIVED=$((FAULTS_SURVIVED + 1))
done
for spec in "reset 1000" "halfclose 1000" "reset 10"; do
	set -- $spec
	http POST /api/v1/put_start -d '{"key":"xw","size":300000}'
	expect_eq "xfer WRITE $spec: put_start" "$HTTP_CODE" 200
	wa=$(addr_in "$HTTP_BODY")
	proxy "$1" "$MC_XPORT" "$2"
	timeout 10 "$XC" 127.0.0.1 "$PX_PORT" write "$wa" 300000 v2 <"$MC_TMP/big" 2>/dev/null
	rc=$?
	check "xfer WRITE $spec: the client hears of it (exit $rc)" [ "$rc" != 0 ]
	http POST /api/v1/put_revoke -d '{"key":"xw"}'
	expect_eq "xfer WRITE $spec: the put can be revoked" "$HTTP_CODE" 200
	http GET /api/get/xw
	expect_eq "xfer WRITE $spec: nothing published" "$HTTP_CODE" 404
	alive "xfer $spec"
	FAULTS_SURVIVED=$((FAULTS_SURVIVED + 1))
done
# A stalled header does not hold the port: others are served meanwhile.
proxy drop "$MC_XPORT" 10
head -c 24 /dev/zero | timeout 3 "$XC" 127.0.0.1 "$PX_PORT" read "$ra" 1000 v2 >/dev/null 2>&1 &
sp=$!
sleep 0.3
timeout 5 "$XC" 127.0.0.1 "$MC_XPORT" read "$ra" 300000 v2 >"$MC_TMP/got"
check "xfer: a stalled client holds no one up" cmp -s "$MC_TMP/got" "$MC_TMP/big"
wait $sp 2>/dev/null
stop_proxy
mc_stop

echo "faults: ${SECONDS}s"
# --- 3. failing calls inside the daemon --------------------------------------
# shim_run CALL: a daemon whose CALL fails every 3rd time while the arm
# file exists; a workload over HTTP, FUSE and the transfer port; then,
# unarmed, every acknowledged put must read back whole.
asan_opts=${ASAN_OPTIONS:-}
calls="read write accept mmap malloc"
if ldd "$MOONCAKED" 2>/dev/null | grep -q libasan; then
	# ASan wants to come first; the shim only puts calls in front of it,
	# and none in front of ASan's allocator: malloc failures are tried
	# on the normal build (make check).
	asan_opts="$asan_opts:verify_asan_link_order=0"
	SHIM=$B/tests/fault/inject-nomalloc.so
	calls="read write accept mmap"
	echo "an ASan daemon: malloc is not failed in this run"
fi
shim_run() {
	local call=$1 arm=$MC_TMP/arm log=$MC_TMP/faults.$1 acked=() i code st
	rm -f "$arm" "$log"
	MC_FAULT="$call" MC_FAULT_EVERY=3 MC_FAULT_ARM="$arm" MC_FAULT_LOG="$log" \
		MC_FAULT_MALLOC_MIN=4096 LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="$asan_opts" \
		mc_start --fuse --lease-ttl 200
	touch "$arm"
	sleep 0.05
	for i in $(seq 1 24); do
		head -c $((i * 4000)) "$MC_TMP/big" >"$MC_TMP/v$i"
		case $((i % 3)) in
		0) code=$(curl -s -o "$MC_TMP/e" -w '%{http_code}' --max-time 2 -X PUT \
			--data-binary @"$MC_TMP/v$i" "$MC_URL/api/put/s$i")
		   [ "$code" = 200 ] && acked+=("$i")
		   # a refusal names its reason
		   if [ "$code" != 200 ] && [ "$code" != 000 ]; then
			check "$call: a refusal ($code) says why" grep -q '"error"' "$MC_TMP/e"
			check "$call: no internal error" [ "$code" != 500 ]
		   fi ;;
		1) if cp "$MC_TMP/v$i" "$MC_MNT/keys/s$i" 2>"$MC_TMP/e"; then
			acked+=("$i")
		   else
			check "$call: cp fails with an errno" grep -q 'cp:' "$MC_TMP/e"
		   fi ;;
		2) st=$(curl -s --max-time 2 -X POST "$MC_URL/api/v1/put_start" \
			-d "{\"key\":\"s$i\",\"size\":$((i * 4000))}")
		   a=$(addr_in "$st")
		   if [ -n "$a" ] && timeout 5 "$XC" 127.0.0.1 "$MC_XPORT" write "$a" \
			$((i * 4000)) v2 <"$MC_TMP/v$i" 2>/dev/null &&
			[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
				"$MC_URL/api/v1/put_end" -d "{\"key\":\"s$i\"}")" = 200 ]; then
			acked+=("$i")
		   else
			curl -s -o /dev/null --max-time 2 -X POST "$MC_URL/api/v1/put_revoke" \
				-d "{\"key\":\"s$i\"}"
		   fi ;;
		esac
		curl -s -o /dev/null --max-time 2 "$MC_URL/api/get/s$i"
		cat "$MC_MNT/keys/s$i" >/dev/null 2>&1
	done
	# mounts: over HTTP and ctl/mount
	for i in 1 2 3; do
		code=$(curl -s -o "$MC_TMP/e" -w '%{http_code}' --max-time 2 -X POST \
			"$MC_URL/api/mount" -d '{"size":16777216}')
		if [ "$code" != 200 ] && [ "$code" != 000 ]; then
			check "$call: a refused mount ($code) says why" grep -q '"error"' "$MC_TMP/e"
		fi
		echo 'size=16M' >"$MC_MNT/ctl/mount" 2>"$MC_TMP/e" ||
			check "$call: a refused ctl/mount names its errno" grep -qi 'error\|space\|invalid' "$MC_TMP/e"
	done
	rm -f "$arm"
	sleep 0.1
	local n=0
	[ -f "$log" ] && n=$(wc -l <"$log")
	check "$call: faults were injected ($n)" [ "$n" -gt 0 ]
	INJECTED=$((INJECTED + n))
	alive "$call faults"
	local lost=0
	for i in "${acked[@]}"; do
		curl -s --max-time 2 "$MC_URL/api/get/s$i" >"$MC_TMP/got"
		cmp -s "$MC_TMP/got" "$MC_TMP/v$i" || { lost=$((lost + 1)); echo "lost: s$i" >&2; }
	done
	expect_eq "$call: all ${#acked[@]} acknowledged puts read back whole" "$lost" 0
	mc_stop
	FAULTS_SURVIVED=$((FAULTS_SURVIVED + n))
}
for call in $calls; do
	shim_run "$call"
	echo "faults: $call done at ${SECONDS}s"
done
# An answer that cannot be written ends its connection at once: the
# client learns of it then, not after the keep-alive timeout (5 s).
touch "$MC_TMP/arm"
MC_FAULT=write MC_FAULT_EVERY=1 MC_FAULT_ARM="$MC_TMP/arm" LD_PRELOAD="$SHIM" \
	ASAN_OPTIONS="$asan_opts" mc_start
t0=$(date +%s%N)
curl -s -o /dev/null --max-time 8 "$MC_URL/health"
rc=$?
t1=$(date +%s%N)
expect_eq "a failed answer: the client sees the connection end" "$rc" 52
check "before the keep-alive timeout ($(((t1 - t0) / 1000000)) ms)" [ $(((t1 - t0) / 1000000)) -lt 4000 ]
rm -f "$MC_TMP/arm"
mc_stop

# ftruncate: the daemon never calls it (it maps shm objects others size),
# so a failing ftruncate has nothing to fail; nothing to test.

echo "faults: ${SECONDS}s"
# --- 4. SIGKILL mid-put, mid-read, mid-mount; restart on the same mount ------
kill9() { kill -KILL "$MC_PID"; wait "$MC_PID" 2>/dev/null; MC_PID=""; }
head -c 5000000 /dev/urandom >"$MC_TMP/huge"

mc_start --fuse
curl -s -o /dev/null --limit-rate 200K -X PUT -H 'Expect:' \
	--data-binary @"$MC_TMP/huge" "$MC_URL/api/put/mid" &
cp_pid=$!
sleep 0.5
kill9
wait $cp_pid 2>/dev/null
check "kill -9 mid-put: the client's put failed" [ $? != 0 ]
mc_start --fuse
expect_eq "kill -9 mid-put: restart on the same mount point" "$(cat "$MC_MNT/health")" OK
check "kill -9 mid-put: a fresh store, nothing half-put" [ ! -e "$MC_MNT/keys/mid" ]

cp "$MC_TMP/huge" "$MC_MNT/keys/big"
curl -s -o "$MC_TMP/got" --limit-rate 200K "$MC_URL/api/get/big" &
cp_pid=$!
exec 3<"$MC_MNT/keys/big"
head -c 4096 <&3 >/dev/null
sleep 0.5
kill9
wait $cp_pid
rc=$?
# The bytes already sent may all arrive; what may not is a cut value
# taken for a whole one (curl checks Content-Length: exit 18).
check "kill -9 mid-read: the HTTP reader gets the whole value or a failure ($rc)" \
	bash -c "[ $rc != 0 ] || cmp -s '$MC_TMP/got' '$MC_TMP/huge'"
check "kill -9 mid-read: the FUSE reader gets an error, not a hang" \
	bash -c '! timeout 5 cat <&3 >/dev/null 2>&1'
exec 3<&-
mc_start --fuse
expect_eq "kill -9 mid-read: restart on the same mount point" "$(cat "$MC_MNT/health")" OK

(echo 'size=2G' >"$MC_MNT/ctl/mount") 2>/dev/null &
mp=$!
kill9
wait $mp 2>/dev/null
mc_start --fuse
expect_eq "kill -9 mid-mount: restart on the same mount point" "$(cat "$MC_MNT/health")" OK
echo v >"$MC_MNT/keys/after"
expect_eq "kill -9 mid-mount: the new daemon serves" "$(cat "$MC_MNT/keys/after")" v
mc_stop
FAULTS_SURVIVED=$((FAULTS_SURVIVED + 3))

echo "faults: $INJECTED calls failed inside the daemon, $FAULTS_SURVIVED faults survived in all"
mc_done
