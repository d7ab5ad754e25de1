#!/usr/bin/env bash
# cluster_stall.sh - a live node that does not answer during an election
# (mooncake-cluster(7), Failover): the new leader serves only once it
# has that node's report, so the acknowledged puts whose surviving
# replica is there are never lost, and a put refused meanwhile never
# shows up later. Three real nodes and a real etcd:
#  - node 1 leads and holds memory, node 2 holds none, node 3 holds
#    memory and keeps a long lease (--node-ttl 15 s, the others 2 s);
#  - puts through node 3 land on nodes 3 and 1;
#  - node 1 is killed and node 3 stopped (SIGSTOP) at once: its lease
#    lives on, node 2 is elected and must wait for node 3's report
#    (503 NO_LEADER meanwhile), longer than twice the TTL;
#  - node 3 continues (SIGCONT): node 2 serves, every acknowledged put
#    reads back through nodes 2 and 3, and a put refused (503) through
#    node 2 during the stall is not there; the history checker runs
#    through node 2 across it all.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"
H=${HISTORY:-${top_builddir:-.}/tests/history/history}

ms() { date +%s%3N; }
# node 3's lease (15 s) must outlive the stall with room to spare on a
# loaded machine; twice node 2's TTL (2 s) it must exceed
STALL_MS=8000
code() { curl -s -m 3 -o /dev/null -w '%{http_code}' "$@"; }
# put_retry ARGS...: a PUT, asked again for up to 10 s while it answers
# 503 (a leader change on a loaded machine: nothing happened)
put_retry() {
	local end=$(($(ms) + 10000)) c
	while :; do
		c=$(code -X PUT "$@")
		[ "$c" = 503 ] && [ "$(ms)" -lt "$end" ] || break
		sleep 0.2
	done
	echo "$c"
}

cl_start_three 2
expect_eq "node 1 leads" "$(cl_leader)" 1
for i in $(seq 16); do
	head -c $((2000 + 613 * i)) /dev/urandom >"$MC_TMP/v$i"
	expect_eq "put v$i through node 3" "$(put_retry --data-binary @"$MC_TMP/v$i" \
		"$(cl_url 3)/api/put/v$i")" 200
done
q=$(curl -s "$(cl_url 1)/query_key?key=v1")
expect_match "v1 has a replica on node 1" "$q" "\"transport_endpoint_\":\"127.0.0.1:${CL_XPORT[1]}\""
expect_match "... and one on node 3" "$q" "\"transport_endpoint_\":\"127.0.0.1:${CL_XPORT[3]}\""

"$H" --url "$(cl_url 2)" --clients 3 --seconds 14 --steady-only \
	>"$MC_TMP/history.out" 2>&1 &
HP=$!
sleep 1.5
t0=$(ms)
kill -STOP "${CL_PID[3]}"
cl_kill 1
# while node 3 stalls: node 2 is elected but does not serve
refused="" served=""
# (each round at most ~2.2 s: the last one ends near STALL_MS)
while [ $(($(ms) - t0)) -lt $((STALL_MS - 2000)) ]; do
	c=$(code -m 1 -X PUT --data-binary "refused during the stall" "$(cl_url 2)/api/put/stall")
	[ "$c" = 503 ] && refused=1
	[ "$c" = 200 ] && served=$(($(ms) - t0))
	a=$(curl -s -m 1 "$(cl_url 2)/api/cluster")
	case $a in
	*"\"leader\":\"${CL_ID[2]}\""*"\"serving\":true"* | \
		*"\"serving\":true"*"\"leader\":\"${CL_ID[2]}\""*) served=$(($(ms) - t0)) ;;
	esac
	[ -n "$served" ] && break
	sleep 0.2
done
echo "node 3 stopped for $(($(ms) - t0)) ms; node 2 served during it: ${served:-no}"
check "node 2 does not serve without node 3's report" [ -z "$served" ]
check "a put through node 2 was refused (503) meanwhile" [ -n "$refused" ]
expect_match "node 2 leads (elected, waiting)" \
	"$(cl_json "$(cl_url 2)/api/cluster" leader)" "^${CL_ID[2]}$"
kill -CONT "${CL_PID[3]}"
new=$(cl_wait_leader 15000)
echo "node 3 continued: node ${new:-none} serves after $(($(ms) - t0)) ms"
expect_eq "node 2 serves" "$new" 2
check "its log says it waited for node 3" grep -q "waits for node '${CL_ID[3]}'" "${CL_ERR[2]}"
wait $HP
hrc=$?
cat "$MC_TMP/history.out"
expect_eq "history across the stall: no anomaly" "$hrc" 0
for n in 2 3; do
	expect_eq "node $n lists node 3's memory" "$(curl -s "$(cl_url $n)/get_all_segments")" node3
	for i in $(seq 16); do
		cl_get "$(cl_url $n)/api/get/v$i" "$MC_TMP/got" >/dev/null
		check "v$i reads back through node $n" cmp -s "$MC_TMP/got" "$MC_TMP/v$i"
	done
	expect_eq "the refused put is not there (node $n)" "$(code "$(cl_url $n)/api/get/stall")" 404
done
mc_done
