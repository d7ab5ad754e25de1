#!/usr/bin/env bash
# cluster_partition.sh - a network partition (mooncake-cluster(7),
# Partitions): three real nodes, each in its own network namespace joined
# by veth pairs to a bridge where a real etcd listens, node TTL $CL_TTL.
# The leader's link is cut:
#  - the old leader, cut off from etcd, answers metadata operations with
#    503 NO_LEADER within the TTL, and the last one it answered 200 came
#    before the first the new leader answered: never two leaders acting;
#  - the majority elects a new leader within 2x the TTL, drops the old
#    leader's segment, and every value (two replicas on two nodes) reads
#    back byte for byte through both of its nodes, while clients of the
#    history checker put, get and remove through them (never a torn,
#    foreign or stale value);
# after the link is back there is one leader, which every node names,
# the old leader's memory is listed again, and it serves reads and puts.
# Needs root and `ip netns`; exits 77 when the machine cannot make them.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"
H=${HISTORY:-${top_builddir:-.}/tests/history/history}

ms() { date +%s%3N; }
# lt A B / le A B: both numbers, A < B (A <= B)
lt() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -lt "$2" ]; }
le() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -le "$2" ]; }

[ "$(id -u)" = 0 ] || { echo "network namespaces need root"; exit 77; }
command -v ip >/dev/null || { echo "no ip(8) (iproute2)"; exit 77; }

# Names and a subnet of this run's own (parallel runs do not meet).
P=$$
NS=mcp$P
BR=mcb$P
NET=10.$((200 + P % 50)).$(((P / 50) % 250))
net_cleanup() {
	local k
	for k in 1 2 3; do
		ip netns del "$NS$k" 2>/dev/null
	done
	ip link del "$BR" 2>/dev/null
}
trap 'cl_cleanup; net_cleanup' EXIT
if ! ip link add "$BR" type bridge 2>"$MC_TMP/ip.err"; then
	echo "cannot make a bridge: $(cat "$MC_TMP/ip.err")"
	exit 77
fi
ip addr add "$NET.1/24" dev "$BR" && ip link set "$BR" up || exit 1
for k in 1 2 3; do
	if ! ip netns add "$NS$k" 2>"$MC_TMP/ip.err"; then
		echo "cannot make a network namespace: $(cat "$MC_TMP/ip.err")"
		exit 77
	fi
	ip -n "$NS$k" link set lo up &&
		ip link add "v$P$k" type veth peer name "w$P$k" &&
		ip link set "w$P$k" netns "$NS$k" &&
		ip link set "v$P$k" master "$BR" up &&
		ip -n "$NS$k" addr add "$NET.1$k/24" dev "w$P$k" &&
		ip -n "$NS$k" link set "w$P$k" up || exit 1
	CL_NS[$k]=$NS$k
	CL_HOST[$k]=$NET.1$k
done
cut_link() { ip link set "v$P$1" down; }
heal_link() { ip link set "v$P$1" up; }
# in_ns I CMD...: CMD inside node I's namespace
in_ns() {
	local k=$1
	shift
	ip netns exec "$NS$k" "$@"
}

ETCD_HOST=$NET.1 etcd_start || { echo "etcd did not start" >&2; exit 1; }
for k in 1 2 3; do
	in_ns "$k" curl -sf -m 2 -o /dev/null "$ETCD_URL/v3/kv/range" -d '{"key":"AA=="}' || {
		echo "namespace $k cannot reach etcd at $ETCD_URL" >&2
		exit 1
	}
done
# node 1 campaigns alone first, so it leads
cl_node_start 1 --replicas 2 --segment-size 256M
cl_wait_leader 15000 >/dev/null || { echo "node 1 does not lead" >&2; exit 1; }
cl_node_start 2 --replicas 2 --segment-size 256M
cl_node_start 3 --replicas 2 --segment-size 256M
cl_wait_all 15000 >/dev/null || { echo "the three do not agree" >&2; exit 1; }
expect_eq "node 1 leads" "$(cl_leader)" 1
for i in $(seq 12); do
	head -c $((3000 + 911 * i)) /dev/urandom >"$MC_TMP/v$i"
	expect_eq "put v$i through node $((i % 3 + 1))" "$(curl -s -o /dev/null -w '%{http_code}' \
		-X PUT --data-binary @"$MC_TMP/v$i" "$(cl_url $((i % 3 + 1)))/api/put/v$i")" 200
done
term0=$(cl_json "$(cl_url 2)/api/cluster" term)

# --- the cut. Inside node 1's namespace a loop asks the old leader; from
# outside another asks nodes 2 and 3, each line "MS CODE" (MS when the
# request began, for the first 200; when it ended, for the last).
old_loop() {
	local a b c
	while :; do
		a=$(ms)
		c=$(in_ns 1 curl -s -m 1 -o /dev/null -w '%{http_code}' "$(cl_url 1)/api/exist/v1")
		b=$(ms)
		echo "$a $b $c"
		sleep 0.02
	done
}
new_loop() {
	local a b c i
	while :; do
		for i in 2 3; do
			a=$(ms)
			c=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$(cl_url $i)/api/exist/v1")
			b=$(ms)
			echo "$a $b $c $i"
		done
		sleep 0.02
	done
}
"$H" --url "$(cl_url 2)" --url "$(cl_url 3)" --clients 4 --seconds 8 --steady-only \
	>"$MC_TMP/history.out" 2>&1 &
HP=$!
sleep 1.5
old_loop >"$MC_TMP/old" 2>/dev/null &
OLP=$!
new_loop >"$MC_TMP/new" 2>/dev/null &
NLP=$!
sleep 0.3
t0=$(ms)
cut_link 1
new=""
while [ $(($(ms) - t0)) -lt "$(mc_ms $((4 * CL_TTL)))" ]; do
	for i in 2 3; do
		id=$(cl_json "$(cl_url $i)/api/cluster" leader)
		if [ "$(cl_json "$(cl_url $i)/api/cluster" serving)" = true ] &&
			[ -n "$id" ] && [ "$id" = "${CL_ID[$i]}" ]; then
			new=$i
			break 2
		fi
	done
	sleep 0.05
done
took=$(($(ms) - t0))
# The loops go on until the majority has answered a 200 (a sanitized
# build on a loaded machine may take more than a moment after the
# election), bounded, and at least half a second, so the old leader's
# loop sees its 503s.
sleep 0.5
t1=$(ms)
while [ -z "$(awk -v t="$t0" '$3 == 200 && $1 > t' "$MC_TMP/new")" ] &&
	[ $(($(ms) - t1)) -lt "$(mc_ms $((2 * CL_TTL)))" ]; do
	sleep 0.1
done
kill "$OLP" "$NLP" 2>/dev/null
wait "$OLP" "$NLP" 2>/dev/null
echo "node 1 cut off: node $new serves after $took ms (TTL $CL_TTL ms)"
check "the majority elects a new leader" [ -n "$new" ]
check "... within 2x the TTL" le "$took" "$(mc_ms $((2 * CL_TTL)))"
last200=$(awk -v t="$t0" '$3 == 200 && $2 > t { v = $2 } END { printf "%.0f\n", v }' "$MC_TMP/old")
first503=$(awk -v t="$t0" '$3 == 503 && $1 > t { print $1; exit }' "$MC_TMP/old")
first_new=$(awk -v t="$t0" '$3 == 200 && $1 > t { print $1; exit }' "$MC_TMP/new")
echo "old leader: last 200 at +$((last200 > t0 ? last200 - t0 : 0)) ms," \
	"first 503 at +$((${first503:-t0} - t0)) ms; first 200 through the majority at +$((${first_new:-t0} - t0)) ms"
check "the old leader answers 503 once cut off" [ -n "$first503" ]
d503=""
[ -n "$first503" ] && d503=$((first503 - t0))
check "... within the TTL" le "$d503" "$(mc_ms "$CL_TTL")"
check "the majority answers again" [ -n "$first_new" ]
check "the old leader's last 200 came before the new leader's first" \
	lt "$last200" "$first_new"
check "no 200 from the old leader after its first 503" \
	[ -z "$(awk -v f="${first503:-0}" '$1 > f && $3 == 200' "$MC_TMP/old")" ]
code=$(in_ns 1 curl -s -o "$MC_TMP/b" -D "$MC_TMP/h" -w '%{http_code}' -X PUT --data-binary x \
	"$(cl_url 1)/api/put/cutoff")
expect_eq "a put through the old leader: 503" "$code" 503
check "... with Retry-After" grep -qi '^Retry-After: 1' "$MC_TMP/h"
for i in 2 3; do
	expect_eq "node $i lists the majority's segments" "$(curl -s "$(cl_url $i)/get_all_segments")" \
		"$(printf 'node2\nnode3')"
	for k in $(seq 12); do
		cl_get "$(cl_url $i)/api/get/v$k" "$MC_TMP/got" >/dev/null
		check "v$k reads back through node $i" cmp -s "$MC_TMP/got" "$MC_TMP/v$k"
	done
done
wait $HP
hrc=$?
cat "$MC_TMP/history.out"
expect_eq "history across the partition: no anomaly" "$hrc" 0

# --- the heal
heal_link 1
t0=$(ms)
one=""
while [ $(($(ms) - t0)) -lt "$(mc_ms $((5 * CL_TTL)))" ]; do
	one=1
	for i in 1 2 3; do
		[ "$(cl_json "$(cl_url $i)/api/cluster" leader)" = "${CL_ID[$new]}" ] || one=""
		[ "$(curl -s "$(cl_url $i)/get_all_segments")" = "$(printf 'node1\nnode2\nnode3')" ] || one=""
	done
	[ -n "$one" ] && break
	sleep 0.1
done
echo "healed: every node agrees after $(($(ms) - t0)) ms"
check "after the heal every node names the new leader and lists three segments" [ -n "$one" ]
if [ -z "$one" ]; then
	for i in 1 2 3; do
		echo "node $i: $(curl -s -m 2 "$(cl_url $i)/api/cluster")"
		echo "  segments: $(curl -s -m 2 "$(cl_url $i)/get_all_segments" | tr '\n' ' ')"
		tail -n 15 "${CL_ERR[$i]}"
	done
fi
m=""
for i in 1 2 3; do
	m="$m$(curl -s "$(cl_url $i)/metrics")"$'\n'
done
expect_eq "one node says it leads" \
	"$(printf '%s' "$m" | awk '$1 == "mooncake_cluster_is_leader" {s += $2} END {print s}')" 1
check "in a newer term" [ "$(cl_json "$(cl_url 1)/api/cluster" term)" -gt "$term0" ]
for k in $(seq 12); do
	curl -s -o "$MC_TMP/got" "$(cl_url 1)/api/get/v$k"
	check "v$k reads back through the old leader" cmp -s "$MC_TMP/got" "$MC_TMP/v$k"
done
expect_eq "the refused put never happened" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url 2)/api/get/cutoff")" 404
head -c 70000 /dev/urandom >"$MC_TMP/after"
expect_eq "a put through the old leader works again" "$(curl -s -o /dev/null -w '%{http_code}' \
	-X PUT --data-binary @"$MC_TMP/after" "$(cl_url 1)/api/put/after")" 200
for i in 1 2 3; do
	curl -s -o "$MC_TMP/got" "$(cl_url $i)/api/get/after"
	check "... and reads back through node $i" cmp -s "$MC_TMP/got" "$MC_TMP/after"
done
for i in 1 2 3; do
	cl_stop "$i"
done
mc_done
