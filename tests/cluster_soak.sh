#!/usr/bin/env bash
# cluster_soak.sh - (make check-all) three real nodes and a real etcd,
# the history checker's clients putting, getting and removing through
# every door of every node (HTTP, FUSE, the transfer port) for
# $SOAK_SECONDS (default 60) while, every couple of seconds, a node is
# killed with SIGKILL (the leader every other time) and started again
# (mooncake-cluster(7), Failover). After every kill a leader serves
# within 2x the TTL; the checker finds no torn, foreign, phantom, stale
# or resurrected value and no status but 2xx, 404 and 503 NO_LEADER
# (values held only by dead nodes may go: --nodes-die); at the end every
# node names one leader and lists three segments.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"
mc_need_fuse
H=${HISTORY:-${top_builddir:-.}/tests/history/history}
SECS=${SOAK_SECONDS:-60}
ARGS=(--fuse --replicas 2 --segment-size 128M)

ms() { date +%s%3N; }

cl_start 3 "${ARGS[@]}"
"$H" --url "$(cl_url 1)" --url "$(cl_url 2)" --url "$(cl_url 3)" \
	--mnt "${CL_MNT[1]}" --mnt "${CL_MNT[2]}" --mnt "${CL_MNT[3]}" \
	--clients 6 --seconds "$SECS" --steady-only --nodes-die \
	>"$MC_TMP/history.out" 2>&1 &
HP=$!
end=$(($(date +%s) + SECS - 6))
kills=0
worst=0
while [ "$(date +%s)" -lt "$end" ]; do
	sleep 2
	l=$(cl_leader) || l=1
	v=$l
	[ $((kills % 2)) = 1 ] && v=$((l % 3 + 1))
	t0=$(ms)
	cl_kill "$v"
	kills=$((kills + 1))
	cl_wait_leader "$(mc_ms $((4 * CL_TTL)))" >/dev/null
	ok=$?
	took=$(($(ms) - t0))
	[ "$took" -gt "$worst" ] && worst=$took
	check "kill $kills (node $v$([ "$v" = "$l" ] && echo ", the leader")): a leader serves" [ $ok = 0 ]
	[ "$v" = "$l" ] && check "... within 2x the TTL ($took ms)" [ "$took" -le "$(mc_ms $((2 * CL_TTL)))" ]
	cl_node_start "$v" "${ARGS[@]}"
done
wait $HP
hrc=$?
cat "$MC_TMP/history.out"
echo "$kills kills in $SECS s; a leader served again after $worst ms at worst (TTL $CL_TTL ms)"
expect_eq "history across $kills kills: no anomaly" "$hrc" 0
check "at least three kills" [ "$kills" -ge 3 ]
cl_wait_all 10000 >/dev/null
check "every node names the same serving leader at the end" [ $? = 0 ]
three() {
	local i
	for i in 1 2 3; do
		[ "$(curl -s "$(cl_url $i)/get_all_segments")" = "$(printf 'node1\nnode2\nnode3')" ] ||
			return 1
	done
}
for _ in $(seq 100); do three && break; sleep 0.1; done
check "every node lists the three nodes' segments" three
for i in 1 2 3; do
	cl_stop "$i"
done
mc_done
