#!/usr/bin/env bash
# cluster_rpc.sh - a Mooncake client in cluster mode (mooncake-rpc(7),
# mooncake-cluster(7)): tests/rpc_life plays a client attached to node
# 2 (its master RPC and its /metadata, as the client's TE was told), puts
# a value into its own memory, and reads it back through node 2 and
# through node 1, which must find the client's data port too: every node
# answers with the cluster's view.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"

LIFE=${top_builddir:-.}/tests/rpc_life
port=$("$LIFE" free-port)

cl_start 1
# node 2 holds no memory: every value put through the cluster is node 1's
cl_node_start 2 --rpc-port "$port" --segment-size 0
cl_wait_all 15000 >/dev/null && cl_wait_segments 1 15000 || {
	echo "the two nodes do not serve" >&2
	exit 1
}
check "a client on node 2, its value read through node 1" \
	"$LIFE" cluster "$port" "${CL_PORT[2]}" "${CL_PORT[1]}"
check "a client's data port that is node 1's transfer port is not read" \
	"$LIFE" foreign "$port" "${CL_PORT[2]}" "${CL_PORT[1]}"

# while no leader serves, the calls say so (UNAVAILABLE_IN_CURRENT_STATUS)
etcd_pause
for _ in $(seq 100); do
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$(cl_url 2)/api/exist/x")" = 503 ] && break
	sleep 0.1
done
check "node 2 knows no leader" \
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$(cl_url 2)/api/exist/x")" = 503 ]
check "the RPC says no leader, not a bad key or a count" "$LIFE" noleader "$port"
etcd_resume
cl_wait_all 15000 >/dev/null
for i in 1 2; do
	cl_stop "$i"
done
mc_done
