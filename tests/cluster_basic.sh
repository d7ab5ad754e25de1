#!/usr/bin/env bash
# cluster_basic.sh - three real nodes and a real etcd on loopback
# (mooncake-cluster(7)): every node lists every node's segments; a value
# put through any node (HTTP, FUSE, a two-phase put over the transfer
# port) reads back byte for byte through every node over HTTP, FUSE and
# the transfer port; with --replicas 2 each value lands on two nodes;
# the cluster's views (/api/cluster, cluster/ in the tree, the metric
# families, the status page); mounts and unmounts through any node; the
# internal API wants the bearer token and refuses bytes that are no
# request; any node's /metadata answers every node's descriptors and what
# clients put into another node's.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/cluster_lib.sh"
mc_need_fuse

TOKEN="$MC_TMP/token"
echo "s3cret-cluster-token" >"$TOKEN"
AUTH=(-H "Authorization: Bearer s3cret-cluster-token")
cl_start 3 --fuse --replicas 2 --auth-token-file "$TOKEN"

# --- the cluster as every node sees it
leader=$(cl_leader)
check "a leader serves" [ -n "$leader" ]
for i in 1 2 3; do
	expect_eq "node $i: cluster name" "$(cl_json "$(cl_url $i)/api/cluster" cluster)" "$CL_NAME"
	expect_eq "node $i: the same leader" "$(cl_json "$(cl_url $i)/api/cluster" leader)" "${CL_ID[$leader]}"
	body=$(curl -s "$(cl_url $i)/api/cluster")
	expect_eq "node $i: three nodes" "$(printf '%s' "$body" | grep -o '"role":' | wc -l)" 3
	expect_eq "node $i: one leader" "$(printf '%s' "$body" | grep -o '"role":"leader"' | wc -l)" 1
	expect_match "node $i: each node with its segment" "$body" '"segments":1'
	expect_eq "node $i: segments of all three" \
		"$(curl -s "$(cl_url $i)/get_all_segments")" "$(printf 'node1\nnode2\nnode3')"
	expect_eq "node $i: cluster/leader" "$(cat "${CL_MNT[$i]}/cluster/leader")" "${CL_ID[$leader]}"
	expect_eq "node $i: cluster/term" "$(cat "${CL_MNT[$i]}/cluster/term")" \
		"$(cl_json "$(cl_url $i)/api/cluster" term)"
	expect_eq "node $i: cluster/nodes/" "$(ls "${CL_MNT[$i]}/cluster/nodes" | sort)" \
		"$(printf '%s\n' "${CL_ID[1]}" "${CL_ID[2]}" "${CL_ID[3]}" | sort)"
	expect_eq "node $i: its own http" "$(cat "${CL_MNT[$i]}/cluster/nodes/${CL_ID[$i]}/http")" \
		"127.0.0.1:${CL_PORT[$i]}"
	expect_eq "node $i: its own transfer" \
		"$(cat "${CL_MNT[$i]}/cluster/nodes/${CL_ID[$i]}/transfer")" "127.0.0.1:${CL_XPORT[$i]}"
	expect_eq "node $i: the leader's role" \
		"$(cat "${CL_MNT[$i]}/cluster/nodes/${CL_ID[$leader]}/role")" leader
	expect_eq "node $i: segments in the tree" "$(ls "${CL_MNT[$i]}/segments" | sort)" \
		"$(printf 'node1\nnode2\nnode3')"
done
m=""
for i in 1 2 3; do
	m="$m$(curl -s "$(cl_url $i)/metrics")"$'\n'
done
expect_eq "one node says it leads" \
	"$(printf '%s' "$m" | awk '$1 == "mooncake_cluster_is_leader" {s += $2} END {print s}')" 1
expect_eq "every node counts three nodes" \
	"$(printf '%s' "$m" | grep -c '^mooncake_cluster_nodes 3$')" 3
expect_eq "every node has seen an election" \
	"$(printf '%s' "$m" | grep -c '^mooncake_cluster_elections_total [1-9]')" 3
expect_eq "the master's capacity on every node" \
	"$(printf '%s' "$m" | grep -c '^master_total_capacity_bytes 100663296$')" 3
page=$(curl -s "$(cl_url 2)/")
expect_match "the status page lists the nodes" "$page" 'id="cluster"'
expect_eq "... all three" "$(printf '%s' "$page" | grep -o 'class="node"' | wc -l)" 3

# --- values through every door of every node
for i in 1 2 3; do
	head -c $((100000 + i * 777)) /dev/urandom >"$MC_TMP/v$i"
	code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X PUT \
		--data-binary @"$MC_TMP/v$i" "$(cl_url $i)/api/put/http$i")
	expect_eq "HTTP put through node $i" "$code" 200
	cp "$MC_TMP/v$i" "${CL_MNT[$i]}/keys/fuse$i"
	check "FUSE put through node $i" [ $? = 0 ]
done
# a two-phase put: descriptors from node 1, bytes to each owner, end at node 2
head -c 65536 /dev/urandom >"$MC_TMP/tp"
ans=$(curl -s "${AUTH[@]}" -X POST "$(cl_url 1)/api/v1/put_start" -d '{"key":"twophase","size":65536}')
n=0
for d in $(printf '%s' "$ans" | grep -o '"buffer_address_":[0-9]*,"protocol_":"tcp","transport_endpoint_":"[^"]*"' |
	sed 's/"buffer_address_":\([0-9]*\),.*"transport_endpoint_":"\([^"]*\)"/\1@\2/'); do
	addr=${d%@*} ep=${d#*@}
	"$XC" "${ep%:*}" "${ep##*:}" write "$addr" 65536 v2 <"$MC_TMP/tp"
	expect_eq "two-phase WRITE to $ep" "$?" 0
	n=$((n + 1))
done
expect_eq "two descriptors (--replicas 2)" "$n" 2
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X POST "$(cl_url 2)/api/v1/put_end" -d '{"key":"twophase"}')
expect_eq "put_end through another node" "$code" 200

# read every value through every node: HTTP, FUSE, the transfer port
for k in http1 http2 http3 fuse1 fuse2 fuse3 twophase; do
	case $k in
	twophase) want="$MC_TMP/tp" ;;
	*) want="$MC_TMP/v${k: -1}" ;;
	esac
	for i in 1 2 3; do
		curl -s -o "$MC_TMP/got" "$(cl_url $i)/api/get/$k"
		check "$k read over HTTP through node $i" cmp -s "$MC_TMP/got" "$want"
		check "$k read over FUSE through node $i" cmp -s "${CL_MNT[$i]}/keys/$k" "$want"
		q=$(curl -s "$(cl_url $i)/query_key?key=$k")
		expect_eq "$k: two replicas (node $i)" "$(printf '%s\n' "$q" | grep -c transport_endpoint_)" 2
		eps=$(printf '%s\n' "$q" | sed -n 's/^{"transport_endpoint_":"\([^"]*\)".*/\1/p' | sort -u | wc -l)
		expect_eq "$k: on two nodes (node $i)" "$eps" 2
		line=$(printf '%s\n' "$q" | head -n1)
		addr=$(addr_in "$line")
		ep=$(printf '%s' "$line" | sed -n 's/^{"transport_endpoint_":"\([^"]*\)".*/\1/p')
		"$XC" "${ep%:*}" "${ep##*:}" read "$addr" "$(stat -c %s "$want")" v2 >"$MC_TMP/got"
		check "$k read over the transfer port at $ep (from node $i)" cmp -s "$MC_TMP/got" "$want"
	done
done
expect_eq "every node lists every key" \
	"$(curl -s "$(cl_url 3)/get_all_keys" | sort | tr '\n' ' ')" \
	"fuse1 fuse2 fuse3 http1 http2 http3 twophase "
expect_eq "... and the tree" "$(ls "${CL_MNT[1]}/keys" | sort | tr '\n' ' ')" \
	"fuse1 fuse2 fuse3 http1 http2 http3 twophase "
expect_match "the summary is the cluster's" "$(curl -s "$(cl_url 2)/metrics/summary")" 'Keys: 7 '
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X DELETE "$(cl_url 3)/api/remove/http1?force=true")
expect_eq "remove through node 3" "$code" 200
expect_eq "... gone on node 1" "$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url 1)/api/get/http1")" 404

# --- segments through any node
ans=$(curl -s "${AUTH[@]}" -X POST "$(cl_url 3)/api/mount" -d '{"size":16777216,"name":"extra"}')
id=$(printf '%s' "$ans" | grep -o '"[0-9a-f-]\{36\}"' | tr -d '"')
check "mount through node 3" [ -n "$id" ]
expect_match "listed on node 1" "$(curl -s "$(cl_url 1)/get_all_segments")" extra
expect_eq "its endpoint is node 3's transfer port" \
	"$(cat "${CL_MNT[1]}/segments/extra/$id/endpoint")" "127.0.0.1:${CL_XPORT[3]}"
expect_eq "its source is node 3's own" "$(cat "${CL_MNT[2]}/segments/extra/$id/source")" alloc
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X POST "$(cl_url 1)/api/unmount" \
	-d "{\"segment_ids\":[\"$id\"]}")
expect_eq "unmount through node 1" "$code" 200
expect_eq "gone everywhere" "$(curl -s "$(cl_url 2)/get_all_segments")" "$(printf 'node1\nnode2\nnode3')"
check "... and from node 3's own memory" grep -q "unmounted '$id'" "${CL_ERR[3]}"
echo "size=16M name=viafuse" >"${CL_MNT[2]}/ctl/mount"
check "ctl/mount through node 2" [ $? = 0 ]
expect_match "listed on node 3" "$(curl -s "$(cl_url 3)/get_all_segments")" viafuse

# --- /metadata: a Transfer Engine told any node's finds every node's
# memory (the descriptor of a replica's endpoint) and what clients put
# into another node's; writes stay the node's own
strip_ts() { sed 's/"timestamp":"[^"]*"//'; }
for i in 1 2 3; do
	ep="127.0.0.1:${CL_XPORT[$i]}"
	own=$(curl -s "$(cl_url $i)/metadata?key=mooncake/ram/$ep" | strip_ts)
	expect_match "node $i publishes its own descriptor" "$own" "\"tcp_data_port\":${CL_XPORT[$i]}"
	for j in 1 2 3; do
		[ "$j" = "$i" ] && continue
		expect_eq "node $j answers node $i's descriptor as node $i does" \
			"$(curl -s "$(cl_url $j)/metadata?key=mooncake/ram/$ep" | strip_ts)" "$own"
		expect_eq "... and its rpc_meta" \
			"$(curl -s "$(cl_url $j)/metadata?key=mooncake/rpc_meta/$ep")" \
			"$(curl -s "$(cl_url $i)/metadata?key=mooncake/rpc_meta/$ep")"
	done
done
# another node's published keys are its own: refused here as this
# node's are, so no node holds a forged copy to answer with
for i in 1 2 3; do
	j=$((i % 3 + 1))
	ep="127.0.0.1:${CL_XPORT[$j]}"
	for kind in ram rpc_meta; do
		expect_eq "node $i refuses a PUT of node $j's $kind key: 403" \
			"$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"forged":1}' \
			"$(cl_url $i)/metadata?key=mooncake/$kind/$ep")" 403
		expect_eq "... and a DELETE: 403" \
			"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE \
			"$(cl_url $i)/metadata?key=mooncake/$kind/$ep")" 403
	done
	expect_match "node $i still answers node $j's own descriptor" \
		"$(curl -s "$(cl_url $i)/metadata?key=mooncake/ram/$ep")" "\"tcp_data_port\":${CL_XPORT[$j]}"
done
expect_eq "a client's key put into node 1" "$(curl -s -X PUT -d '{"c":1}' \
	"$(cl_url 1)/metadata?key=mooncake/ram/client9:1")" "metadata updated"
expect_eq "... is found through node 3" "$(curl -s "$(cl_url 3)/metadata?key=mooncake/ram/client9:1")" '{"c":1}'
code=$(curl -s -o "$MC_TMP/b" -w '%{http_code}' "$(cl_url 2)/metadata?key=mooncake/ram/nobody:1")
expect_eq "a key no node has: 404" "$code" 404
expect_eq "... metadata not found" "$(cat "$MC_TMP/b")" 'metadata not found'
expect_eq "a delete through another node is that node's own: 404" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$(cl_url 3)/metadata?key=mooncake/ram/client9:1")" 404
expect_eq "... and node 1 still has it" "$(curl -s "$(cl_url 1)/metadata?key=mooncake/ram/client9:1")" '{"c":1}'
expect_eq "the nodes' lookup wants the token: 401" "$(curl -s -o /dev/null -w '%{http_code}' \
	-X POST --data-binary mooncake/ram/client9:1 "$(cl_url 1)/internal/v1/meta")" 401
expect_eq "... answers a node's own key" "$(curl -s "${AUTH[@]}" -X POST \
	--data-binary mooncake/ram/client9:1 "$(cl_url 1)/internal/v1/meta")" '{"c":1}'
expect_eq "... and never another's: 404" "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" \
	-X POST --data-binary mooncake/ram/client9:1 "$(cl_url 2)/internal/v1/meta")" 404
printf 'a\0b' >"$MC_TMP/nulkey"
head -c 5000 /dev/zero | tr '\0' k >"$MC_TMP/longkey"
for f in nulkey longkey; do
	expect_eq "... a $f: 400" "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" \
		-X POST --data-binary @"$MC_TMP/$f" "$(cl_url 2)/internal/v1/meta")" 400
done
expect_eq "... an empty one: 400" "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" \
	-X POST "$(cl_url 2)/internal/v1/meta")" 400

# --- the internal API
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary junk "$(cl_url 1)/internal/v1/master")
expect_eq "internal API without the token: 401" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X POST --data-binary junk \
	"$(cl_url "$leader")/internal/v1/master")
expect_eq "bytes that are no request: 400" "$code" 400
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X POST --data-binary junk \
	"$(cl_url "$leader")/internal/v1/owner")
expect_eq "... to the owner side too" "$code" 400
f=$(( leader % 3 + 1 ))
code=$(curl -s -o "$MC_TMP/b" -D "$MC_TMP/h" -w '%{http_code}' "${AUTH[@]}" -X POST \
	--data-binary "$(printf 'MCM1\013\000\000\000')" "$(cl_url $f)/internal/v1/master")
expect_eq "a follower's master side: 503" "$code" 503
check "... with Retry-After" grep -qi '^Retry-After: 1' "$MC_TMP/h"
expect_eq "GET on an internal route: 405" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$(cl_url 1)/internal/v1/master")" 405

for i in 1 2 3; do
	cl_stop "$i"
done
mc_done
