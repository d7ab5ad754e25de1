#!/usr/bin/env bash
# cluster_ttl.sh - a --node-ttl shorter than the shortest lease etcd grants
# (mooncaked(8), --node-ttl): an etcd with its own default timing grants
# no lease under 2 s, and a node asking for 1 s says so in its log; one
# asking for 3 s says nothing.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"

ETCD_ELECTION_MS=1000 etcd_start || { echo "etcd did not start" >&2; exit 1; }
LINE="etcd granted a lease of 2 s for --node-ttl 1000 (its minimum)"

CL_TTL=1000 cl_node_start 1
for _ in $(seq 100); do
	grep -qF "$LINE" "${CL_ERR[1]}" && break
	sleep 0.05
done
expect_eq "--node-ttl 1000: the longer lease is logged" \
	"$(grep -F 'etcd granted' "${CL_ERR[1]}")" "WARN cluster: $LINE: a node that stops renewing is gone after 2 s"
expect_eq "... once" "$(grep -cF 'etcd granted' "${CL_ERR[1]}")" 1
cl_stop 1

CL_TTL=3000 cl_node_start 2
cl_wait_leader 15000 >/dev/null
expect_eq "--node-ttl 3000: a leader serves" "$?" 0
expect_eq "... and nothing is logged about the lease" \
	"$(grep -cF 'etcd granted' "${CL_ERR[2]}")" 0
cl_stop 2
mc_done
