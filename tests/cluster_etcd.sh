#!/usr/bin/env bash
# cluster_etcd.sh - etcd itself goes away (mooncake-cluster(7), While no leader serves):
# the leader steps down once it cannot renew its lease, every node then
# answers metadata operations with 503 NO_LEADER and Retry-After, and a
# put refused meanwhile never shows up later; when etcd is back a leader
# is elected, rebuilds the index, and every value the nodes still hold
# reads back byte for byte through every node. Meanwhile the tree's
# files fail at once with EAGAIN (never hang, never say ENOENT of a key
# that exists), JSON bodies say NO_LEADER, and /metrics keeps the
# master's families.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"

ms() { date +%s%3N; }

# eagain DESC CMD...: CMD fails with EAGAIN. A tree operation that
# waits for a leader cannot even be killed (the kernel waits for the
# daemon's answer), so one still running after 30 s is a failure and
# is left to end when etcd is back.
eagain() {
	local what=$1 pid rc
	shift
	"$@" >/dev/null 2>"$MC_TMP/eagain" &
	pid=$!
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		check "$what: answers while no leader serves (it hangs)" false
		return
	fi
	wait "$pid"
	rc=$?
	check "$what: fails" [ "$rc" != 0 ]
	expect_match "$what: ... with EAGAIN" "$(cat "$MC_TMP/eagain")" \
		'Resource temporarily unavailable'
}

# logged FILE RE: a line of FILE matches RE within 5 s (the door logs a
# request after its answer has left).
logged() {
	for _ in $(seq 50); do
		grep -q "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

mc_need_fuse
cl_start 3 --fuse
for i in 1 2 3; do
	for k in a b c; do
		head -c $((2000 + RANDOM)) /dev/urandom >"$MC_TMP/$k$i"
		expect_eq "put $k$i through node $i" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
			--data-binary @"$MC_TMP/$k$i" "$(cl_url $i)/api/put/$k$i")" 200
	done
done
term0=$(cl_json "$(cl_url 1)/api/cluster" term)
# A node keeps the master's text of its last scrape a leader answered,
# and the summary line likewise (node 3 is never asked for one: zeros).
for i in 1 2 3; do
	curl -s -o "$MC_TMP/m0.$i" "$(cl_url $i)/metrics"
done
for i in 1 2; do
	curl -s -o "$MC_TMP/s0.$i" "$(cl_url $i)/metrics/summary"
	check "node $i: the summary counts the 9 keys" grep -q '| Keys: 9 ' "$MC_TMP/s0.$i"
done

l0=$(cl_leader)
t0=$(ms)
etcd_stop
# The leader stops acting before its lease can end (its fence: TTL -
# TTL/3 after its last renewal began, which was before etcd stopped):
# the end of its first 503 bounds when it stopped, and must come within
# the TTL. Then every node, every metadata route: 503 NO_LEADER.
took=""
while [ $(($(ms) - t0)) -lt "$(mc_ms $((3 * CL_TTL)))" ]; do
	c=$(curl -s -o /dev/null -w '%{http_code}' -m 1 "$(cl_url "$l0")/api/get/a1")
	if [ "$c" = 503 ]; then
		took=$(($(ms) - t0))
		break
	fi
done
echo "the leader (node $l0) answers 503 $took ms after etcd stopped (TTL $CL_TTL ms)"
check "the leader answers 503 once etcd is gone" [ -n "$took" ]
check "... within the TTL" [ "${took:-999999}" -le "$(mc_ms "$CL_TTL")" ]
all503() {
	local i
	for i in 1 2 3; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -m 3 "$(cl_url $i)/api/get/a1")" = 503 ] || return 1
	done
}
for _ in $(seq 30); do all503 && break; sleep 0.1; done
check "every node answers 503 while etcd is down" all503
for i in 1 2 3; do
	u=$(cl_url $i)
	code=$(curl -s -o "$MC_TMP/b" -D "$MC_TMP/h" -w '%{http_code}' -X PUT --data-binary x "$u/api/put/during$i")
	expect_eq "node $i: a put is refused" "$code" 503
	check "node $i: ... with Retry-After" grep -qi '^Retry-After: 1' "$MC_TMP/h"
	expect_eq "node $i: ... NO_LEADER" "$(cat "$MC_TMP/b")" '{"error":"NO_LEADER"}'
	expect_eq "node $i: /api/get says NO_LEADER" "$(curl -s "$u/api/get/a1")" '{"error":"NO_LEADER"}'
	expect_eq "node $i: HEAD /api/get" "$(curl -s -I -o /dev/null -w '%{http_code}' "$u/api/get/a1")" 503
	# The access log names the same reason as the body, not the route's
	# generic failure ("Get failed").
	check "node $i: ... the log says NO_LEADER for GET" \
		logged "${CL_ERR[$i]}" 'http: 503 GET /api/get/a1 from [^ ]*: NO_LEADER$'
	check "node $i: ... and for HEAD" \
		logged "${CL_ERR[$i]}" 'http: 503 HEAD /api/get/a1 from [^ ]*: NO_LEADER$'
	expect_eq "node $i: ... never the route's generic reason" \
		"$(grep -c 'Get failed' "${CL_ERR[$i]}")" 0
	expect_eq "node $i: /api/exist says NO_LEADER" "$(curl -s "$u/api/exist/a1")" '{"error":"NO_LEADER"}'
	expect_eq "node $i: /api/remove_all says NO_LEADER" \
		"$(curl -s -X DELETE "$u/api/remove_all")" '{"error":"NO_LEADER"}'
	expect_eq "node $i: /api/v1/put_start says NO_LEADER" \
		"$(curl -s -X POST -d '{"key":"ps","size":3}' "$u/api/v1/put_start")" '{"error":"NO_LEADER"}'
	expect_eq "node $i: /batch_query_keys says NO_LEADER" \
		"$(curl -s "$u/batch_query_keys?keys=a1")" '{"success":false,"error":"NO_LEADER"}'
	expect_eq "node $i: /query_key" "$(curl -s -w '%{http_code}' "$u/query_key?key=a1")" NO_LEADER503
	expect_eq "node $i: /get_all_keys" "$(curl -s -o /dev/null -w '%{http_code}' "$u/get_all_keys")" 503
	expect_eq "node $i: /get_all_segments" "$(curl -s -o /dev/null -w '%{http_code}' "$u/get_all_segments")" 503
	expect_eq "node $i: /metrics/summary still 200" \
		"$(curl -s -o "$MC_TMP/s" -w '%{http_code}' "$u/metrics/summary")" 200
	if [ "$i" = 3 ]; then
		check "node 3: ... a line of zeros (no summary seen yet)" \
			grep -q '^Mem Storage: 0 B / 0 B | Keys: 0 (soft-pinned: 0) | Clients: 0 | .*PutStart=0/0' "$MC_TMP/s"
	else
		expect_eq "node $i: ... the leader's last line" "$(cat "$MC_TMP/s")" "$(cat "$MC_TMP/s0.$i")"
	fi
	expect_eq "node $i: the tree's summary is the same line" \
		"$(cat "${CL_MNT[$i]}/summary")" "$(cat "$MC_TMP/s")"
	expect_eq "node $i: /api/exist" "$(curl -s -o /dev/null -w '%{http_code}' "$u/api/exist/a1")" 503
	expect_eq "node $i: remove" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$u/api/remove/a1")" 503
	expect_eq "node $i: mount" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$u/api/mount" \
		-d '{"size":16777216}')" 503
	expect_eq "node $i: /health still 200" "$(curl -s -o /dev/null -w '%{http_code}' "$u/health")" 200
	expect_eq "node $i: /metrics still 200" "$(curl -s -o "$MC_TMP/m" -w '%{http_code}' "$u/metrics")" 200
	check "node $i: ... and says it does not lead" grep -q '^mooncake_cluster_is_leader 0$' "$MC_TMP/m"
	# The master's families stay, at the last values the leader gave.
	check "node $i: ... with the master's families" grep -q '^# TYPE master_put_start_requests_total counter' "$MC_TMP/m"
	check "node $i: ... at their last values" grep -q '^master_key_count 9$' "$MC_TMP/m"
	check "node $i: ... counters not reset" \
		awk '/^master_put_start_requests_total / { n = $2 } END { exit !(n >= 9) }' "$MC_TMP/m"
	expect_eq "node $i: ... every family once" \
		"$(grep -c '^# TYPE master_' "$MC_TMP/m")" "$(grep -c '^# TYPE master_' "$MC_TMP/m0.$i")"
	expect_eq "node $i: no leader in /api/cluster" "$(cl_json "$u/api/cluster" leader)" ""
	m=${CL_MNT[$i]}
	eagain "node $i: ls keys/" ls "$m/keys"
	eagain "node $i: ls replicas/" ls "$m/replicas"
	eagain "node $i: ls segments/" ls "$m/segments"
	eagain "node $i: cat keys/a1" cat "$m/keys/a1"
	eagain "node $i: stat keys/a1" stat "$m/keys/a1"
	eagain "node $i: cat replicas/a1" cat "$m/replicas/a1"
	eagain "node $i: cat segments/node1/used" cat "$m/segments/node1/used"
	eagain "node $i: rm keys/a1" rm "$m/keys/a1"
	eagain "node $i: a write to keys/a1" sh -c "echo x >>'$m/keys/a1'"
	expect_eq "node $i: cluster/term still reads" "$(cat "$m/cluster/term")" 0
done

etcd_restart || { echo "etcd did not come back" >&2; exit 1; }
t0=$(ms)
l=$(cl_wait_leader 20000)
echo "node $l serves $(($(ms) - t0)) ms after etcd came back"
# the leader every node agrees on: the first to serve may have lost its
# term again to another node's campaign, which then rebuilt
l2=$(cl_wait_all 10000)
check "... and every node knows it" [ $? = 0 ]
check "a leader serves again" [ -n "$l" ]
l=${l2:-$l}
term1=$(cl_json "$(cl_url 1)/api/cluster" term)
check "in a new term" [ "$term1" -gt "$term0" ]
for i in 1 2 3; do
	for k in a b c; do
		for n in 1 2 3; do
			curl -s -o "$MC_TMP/got" "$(cl_url $n)/api/get/$k$i"
			check "$k$i reads back through node $n" cmp -s "$MC_TMP/got" "$MC_TMP/$k$i"
		done
	done
	expect_eq "the refused put during$i never happened" \
		"$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url 1)/api/get/during$i")" 404
done
expect_eq "nine keys" "$(curl -s "$(cl_url 2)/get_all_keys" | wc -l)" 9
check "the leader said it rebuilt" grep -q 'index rebuilt: 9 values' "${CL_ERR[$l]}"
grep -q 'index rebuilt: 9 values' "${CL_ERR[$l]}" ||
	for i in 1 2 3; do grep -H 'cluster: .*\(leader\|rebuil\|term\)' "${CL_ERR[$i]}"; done

expect_eq "a put works again" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary y \
	"$(cl_url 3)/api/put/after")" 200
for i in 1 2 3; do
	cl_stop "$i"
done
mc_done
