#!/bin/bash
# xfer_te.sh - mooncaked as an unmodified Mooncake Transfer Engine sees it
# (mooncake-transfer(7), TRANSFER ENGINE CLIENTS): tests/te_client does
# what TE does (its own location and segment in /metadata, openSegment of
# the endpoint /query_key names, a descriptor validated as TE validates
# it, READ and WRITE on the data port it names) with v2 and v1 framing,
# one connection per request and pooled, under a cluster id, and fails to
# initialize without a metadata server, as TE does.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

TE=${TE_CLIENT:-${top_builddir:-.}/tests/te_client}

# te DESC ARGS...: one run of the client, which must pass.
te() {
	local desc=$1
	shift
	"$TE" "$MC_URL" "$@" >"$MC_TMP/te.out" 2>&1
	local rc=$?
	expect_eq "$desc" "$rc" 0
	[ "$rc" = 0 ] || cat "$MC_TMP/te.out" >&2
}

mc_start
te "v2 framing, a connection per request"
check "it found the port through the metadata server" \
	grep -q "port $MC_XPORT, tcp_proto_version 2" "$MC_TMP/te.out"
te "v1 framing (MC_TCP_PROTO=1)" v1
check "v1 it was" grep -q "tcp_proto_version 1" "$MC_TMP/te.out"
te "v2, pooled connections" pool
te "v1, pooled connections" v1 pool
http GET "/metadata?key=mooncake%2Fram%2F127.0.0.1%3A17777"
expect_eq "the client's keys went with it" "$HTTP_CODE" 404
expect_match "reads and writes went through the port" \
	"$(curl -s "$MC_URL/metrics" | sed -n 's/^mooncake_transfer_requests_total{direction="write"} //p')" '^[1-9]'
mc_stop

mc_start --metadata-cluster-id c1
te "a cluster id, as MC_METADATA_CLUSTER_ID" cluster=c1
"$TE" "$MC_URL" >"$MC_TMP/te.out" 2>&1
check "without the cluster id the client finds nothing" [ $? != 0 ]
check "at openSegment" grep -q "openSegment: no metadata key 'mooncake/ram/" "$MC_TMP/te.out"
mc_stop

mc_start --no-http-metadata
"$TE" "$MC_URL" >"$MC_TMP/te.out" 2>&1
check "without a metadata server TE cannot initialize" [ $? = 1 ]
check "(its first PUT fails)" grep -q "^te_client: init:" "$MC_TMP/te.out"
mc_stop

mc_done
