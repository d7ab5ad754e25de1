#!/usr/bin/env bash
# cluster_failover.sh - nodes that die (mooncake-cluster(7), Failover),
# three real nodes and a real etcd, node TTL $CL_TTL (2 s):
#  - kill -9 of a follower: its segments go within the TTL + 1 s; values
#    with a replica elsewhere stay readable through every node, values
#    held only there are gone;
#  - kill -9 of the leader while clients put, get and remove through
#    every node (the history checker, HTTP and the transfer port): a new
#    leader serves within 2x the TTL, clients saw 2xx, 503 NO_LEADER or
#    a broken connection and never a torn or foreign value, and every
#    acknowledged put (two replicas: one lives) reads back byte for byte;
#  - a two-phase put open at the leader when it dies ends there: its
#    put_end fails, the key is not there, no put is left pending, and a
#    new put of the key starts.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"
H=${HISTORY:-${top_builddir:-.}/tests/history/history}

ms() { date +%s%3N; }

# --- a follower dies. Node 1 campaigns alone first, so it leads; node 3
# keeps one replica per value (its own memory), the others two.
etcd_start || { echo "etcd did not start" >&2; exit 1; }
cl_node_start 1 --replicas 2 --segment-size 128M
cl_wait_leader 15000 >/dev/null || { echo "node 1 does not lead" >&2; exit 1; }
cl_node_start 2 --replicas 2 --segment-size 128M
cl_node_start 3 --replicas 1 --segment-size 128M
cl_wait_all 15000 >/dev/null && cl_wait_segments 3 15000 ||
	{ echo "the three nodes do not list three segments" >&2; exit 1; }
expect_eq "node 1 leads" "$(cl_leader)" 1
for i in 1 2 3 4 5; do
	head -c $((3000 * i)) /dev/urandom >"$MC_TMP/only$i"
	head -c $((5000 * i)) /dev/urandom >"$MC_TMP/both$i"
	expect_eq "put only$i through node 3" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
		--data-binary @"$MC_TMP/only$i" "$(cl_url 3)/api/put/only$i")" 200
	expect_eq "put both$i through node 2" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
		--data-binary @"$MC_TMP/both$i" "$(cl_url 2)/api/put/both$i")" 200
done
q=$(curl -s "$(cl_url 1)/query_key?key=only1")
expect_eq "only1 has one replica" "$(printf '%s\n' "$q" | grep -c transport_endpoint_)" 1
expect_match "... on node 3" "$q" "\"transport_endpoint_\":\"127.0.0.1:${CL_XPORT[3]}\""
t0=$(ms)
cl_kill 3
gone=""
while [ $(($(ms) - t0)) -lt $((CL_TTL + $(mc_ms 3000))) ]; do
	if ! curl -s "$(cl_url 1)/get_all_segments" | grep -q node3; then
		gone=$(($(ms) - t0))
		break
	fi
	sleep 0.05
done
echo "node 3's segment went $gone ms after kill -9 (TTL $CL_TTL ms)"
check "its segment went" [ -n "$gone" ]
# (etcd ends the lease on time; the 1 s for the leader to act on it is
# what a sanitized build stretches)
[ -n "$gone" ] && [ "$gone" -le $((CL_TTL + $(mc_ms 1000))) ]
check "... within the TTL + 1 s" [ $? = 0 ]
for n in 1 2; do
	expect_eq "node $n lists two segments" "$(curl -s "$(cl_url $n)/get_all_segments")" \
		"$(printf 'node1\nnode2')"
	for i in 1 2 3 4 5; do
		cl_get "$(cl_url $n)/api/get/both$i" "$MC_TMP/got" >/dev/null
		check "both$i still reads through node $n" cmp -s "$MC_TMP/got" "$MC_TMP/both$i"
		expect_eq "only$i is gone (node $n)" \
			"$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url $n)/api/get/only$i")" 404
	done
done
expect_match "the log says the node went" "$(cat "${CL_ERR[1]}")" "node '${CL_ID[3]}' is gone"

# --- the leader dies under load
cl_node_start 3 --replicas 2 --segment-size 128M
cl_wait_all 15000 >/dev/null && cl_wait_segments 3 15000 ||
	{ echo "node 3 did not come back" >&2; exit 1; }
for i in $(seq 20); do
	head -c $((1000 + 997 * i)) /dev/urandom >"$MC_TMP/acked$i"
	expect_eq "put acked$i" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
		--data-binary @"$MC_TMP/acked$i" "$(cl_url $((i % 3 + 1)))/api/put/acked$i")" 200
done
"$H" --url "$(cl_url 1)" --url "$(cl_url 2)" --url "$(cl_url 3)" --clients 6 \
	--seconds 8 --steady-only >"$MC_TMP/history.out" 2>&1 &
HP=$!
sleep 3
leader=$(cl_leader)
check "a leader before the kill" [ -n "$leader" ]
t0=$(ms)
cl_kill "$leader"
new=$(cl_wait_leader "$(mc_ms $((4 * CL_TTL)))")
took=$(($(ms) - t0))
echo "leader node $leader killed: node $new serves after $took ms (TTL $CL_TTL ms)"
check "a new leader serves" [ -n "$new" ]
check "... within 2x the TTL" [ "$took" -le "$(mc_ms $((2 * CL_TTL)))" ]
wait $HP
hrc=$?
cl_wait_all 10000 >/dev/null
check "every live node knows the new leader" [ $? = 0 ]
cat "$MC_TMP/history.out"
expect_eq "history across the failover: no anomaly" "$hrc" 0
for i in $(seq 20); do
	for n in 1 2 3; do
		[ -n "${CL_PID[$n]}" ] || continue
		cl_get "$(cl_url $n)/api/get/acked$i" "$MC_TMP/got" >/dev/null
		check "acked$i reads back through node $n" cmp -s "$MC_TMP/got" "$MC_TMP/acked$i"
	done
done

# --- a put open at the leader when it dies
metric() { curl -s "$(cl_url "$1")/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }
cl_node_start "$leader" --replicas 2 --segment-size 128M
cl_wait_all 10000 >/dev/null || { echo "node $leader did not come back" >&2; exit 1; }
leader=$(cl_leader)
f=$((leader % 3 + 1))
# a history client's put_start that the leader opened but whose answer
# the client lost stays pending until its put timeout: count from here
p0=$(metric $f mooncake_pending_puts)
ans=$(curl -s -X POST "$(cl_url $f)/api/v1/put_start" -d '{"key":"open1","size":1048576}')
expect_match "put_start through node $f" "$ans" buffer_address_
expect_eq "one more put pending" "$(metric $f mooncake_pending_puts)" $((p0 + 1))
cl_kill "$leader"
cl_wait_all $((4 * CL_TTL)) >/dev/null
check "a new leader after the kill" [ $? = 0 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(cl_url $f)/api/v1/put_end" -d '{"key":"open1"}')
echo "put_end of the put open at the dead leader: HTTP $code"
check "put_end of the open put fails ($code)" test "$code" -ge 400 -a "$code" != 503
expect_eq "... and open1 is not there" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url $f)/api/get/open1")" 404
expect_eq "no put pending at the new leader" "$(metric $f mooncake_pending_puts)" 0
ans=$(curl -s -X POST "$(cl_url $f)/api/v1/put_start" -d '{"key":"open1","size":1048576}')
expect_match "a new put of open1 starts" "$ans" buffer_address_
expect_eq "... and revokes" "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	"$(cl_url $f)/api/v1/put_revoke" -d '{"key":"open1"}')" 200

# --- a drain outlives the leader: the new one drains the segment on for
# the rest of its grace period, not a moment less or more
cl_node_start "$leader" --replicas 2 --segment-size 128M
cl_wait_all 10000 >/dev/null || { echo "node $leader did not come back" >&2; exit 1; }
leader=$(cl_leader)
f=$((leader % 3 + 1))
ans=$(curl -s -X POST "$(cl_url $f)/api/mount" -d '{"size":16777216,"name":"drains"}')
id=$(printf '%s' "$ans" | grep -o '"[0-9a-f-]\{36\}"' | tr -d '"')
check "a segment mounted through node $f" [ -n "$id" ]
t0=$(ms)
expect_eq "... unmounted with a 12 s grace period" "$(curl -s -o /dev/null -w '%{http_code}' \
	-X POST "$(cl_url $f)/api/unmount" -d "{\"segment_ids\":[\"$id\"],\"grace_period_seconds\":12}")" 200
cl_kill "$leader"
new=$(cl_wait_leader "$(mc_ms $((4 * CL_TTL)))")
check "a new leader after the kill" [ -n "$new" ]
listed=$(curl -s "$(cl_url "$new")/get_all_segments")
echo "$(($(ms) - t0)) ms after the unmount, node $new leads and lists: $(echo $listed)"
expect_match "the new leader still lists the draining segment" "$listed" drains
check "... and says it drains on" grep -q "segment '$id' drains [0-9]* s more" "${CL_ERR[$new]}"
gone=""
while [ $(($(ms) - t0)) -lt 20000 ]; do
	if ! curl -s "$(cl_url "$new")/get_all_segments" | grep -q drains; then
		gone=$(($(ms) - t0))
		break
	fi
	sleep 0.1
done
echo "the draining segment went $gone ms after its unmount (grace 12 s)"
check "it goes at the end of its grace period" test -n "$gone" -a "${gone:-0}" -ge 10000
mc_done
