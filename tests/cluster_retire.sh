#!/usr/bin/env bash
# cluster_retire.sh - a remove is acknowledged only once every node
# retired the key's records (mooncake-cluster(7), Owner records). Three
# real nodes and a real etcd:
#  - node 1 leads, node 2 holds no memory, node 3 holds memory and keeps
#    a long lease (--node-ttl 15 s, the others 2 s);
#  - values put through node 3 live in node 3's memory only (the remove
#    forces past the read lease of the /query_key that says so);
#  - with every node answering, a remove is acknowledged (200);
#  - node 3 is killed, its lease lives on: the leader cannot tell it to
#    retire the record, which a rebuild would find while the lease
#    lives, so a remove is not acknowledged - the connection closes
#    without an answer (the old leader answered 200 at once).
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"

code() { curl -s -m 20 -o /dev/null -w '%{http_code}' "$@"; }
ms() { date +%s%3N; }

cl_start_three 1
expect_eq "node 1 leads" "$(cl_leader)" 1
head -c 5000 /dev/urandom >"$MC_TMP/v"
for k in k1 k2; do
	expect_eq "put $k through node 3" "$(code -X PUT --data-binary @"$MC_TMP/v" \
		"$(cl_url 3)/api/put/$k")" 200
done
q=$(curl -s "$(cl_url 1)/query_key?key=k1")
expect_eq "k1 has one replica" "$(printf '%s\n' "$q" | grep -c transport_endpoint_)" 1
expect_match "... on node 3" "$q" "\"transport_endpoint_\":\"127.0.0.1:${CL_XPORT[3]}\""

expect_eq "a remove every node retired is acknowledged" \
	"$(code -X DELETE "$(cl_url 2)/api/remove/k2")" 200
expect_eq "k2 is gone" "$(code "$(cl_url 3)/api/get/k2")" 404

cl_kill 3
t0=$(ms)
c=$(code -X DELETE "$(cl_url 2)/api/remove/k1?force=true")
echo "the remove with node 3 dead (its lease alive) answered $c after $(($(ms) - t0)) ms"
expect_eq "a remove node 3 could not retire is not acknowledged" "$c" 000
expect_match "the leader says why" "$(cat "${CL_ERR[1]}")" \
	"node '${CL_ID[3]}' could not be told to retire"
mc_done
