#!/bin/bash
# web_metadata.sh - the Transfer Engine metadata server (mooncake-http(7),
# TRANSFER ENGINE METADATA) on the real daemon, driven with curl as a TE
# client's libcurl drives it: every route and status, the rpc_meta rule,
# escaped keys, bodies up to 1 MiB and Expect: 100-continue, the bearer
# token exemption, the published keys following mounts and unmounts, the
# cluster-id prefix, metadata/ in the tree, --no-http-metadata, and the
# start-up line about an endpoint that does not reach the transfer port.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

FUSE=--fuse
[ -e /dev/fuse ] || FUSE=

# not CMD...: CMD fails (for check)
not() { ! "$@"; }

# esc KEY: the key as TE sends it (curl_easy_escape: all but [A-Za-z0-9-._~])
esc() {
	local s=$1 i c out=""
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# meta METHOD KEY [curl args...]: one request on /metadata?key=esc(KEY)
meta() {
	local m=$1 k=$2
	shift 2
	http "$m" "/metadata?key=$(esc "$k")" -D "$MC_TMP/hdr" "$@"
}

printf 'tok3n\n' >"$MC_TMP/token"
mc_start $FUSE --hostname 127.0.0.1 --auth-token-file "$MC_TMP/token"
wait_healthy
EP=$(sed -n 's|^mooncaked: transfer ||p' "$MC_OUT")
expect_eq "the endpoint is the host name and the transfer port" "$EP" "127.0.0.1:$MC_XPORT"
check "no warning about the endpoint" not grep -q 'advertised endpoint' "$MC_ERR"

# --- every route and status, as upstream's server answers them --------------
# METHOD | KEY (escaped like TE, or raw when it starts with ?) | BODY | STATUS | ANSWER
while IFS='|' read -r m k b st want; do
	[ -n "$m" ] || continue
	case $k in
	\?*) q=${k#\?} ;;
	*) q="key=$(esc "$k")" ;;
	esac
	if [ "$b" = - ]; then
		http "$m" "/metadata?$q" -D "$MC_TMP/hdr"
	else
		http "$m" "/metadata?$q" -D "$MC_TMP/hdr" --data-binary "$b"
	fi
	expect_eq "$m $q status" "$HTTP_CODE" "$st"
	[ "$want" = '*' ] || expect_eq "$m $q answer" "$HTTP_BODY" "$want"
done <<'EOF'
GET|?|-|400|Missing key parameter
PUT|?|x|400|Missing key parameter
DELETE|?|-|400|Missing key parameter
GET|?key=|-|400|Missing key parameter
PUT|?key=|x|400|Missing key parameter
GET|?k=1|-|400|Missing key parameter
GET|?key=%4|-|400|Invalid key parameter, bad percent-encoding
PUT|?key=a%00b|x|400|metadata key holds a NUL byte
GET|no/such|-|404|metadata not found
DELETE|no/such|-|404|metadata not found
PUT|mooncake/ram/10.0.0.9:1|{"name":"10.0.0.9:1"}|200|metadata updated
GET|mooncake/ram/10.0.0.9:1|-|200|{"name":"10.0.0.9:1"}
GET|?key=mooncake/ram/10.0.0.9:1|-|200|{"name":"10.0.0.9:1"}
PUT|mooncake/ram/10.0.0.9:1|{"name":"again"}|200|metadata updated
GET|mooncake/ram/10.0.0.9:1|-|200|{"name":"again"}
DELETE|mooncake/ram/10.0.0.9:1|-|200|metadata deleted
GET|mooncake/ram/10.0.0.9:1|-|404|metadata not found
DELETE|mooncake/ram/10.0.0.9:1|-|404|metadata not found
PUT|mooncake/rpc_meta/10.0.0.1:12384|{"ip_or_host_name":"10.0.0.1","rpc_port":15228}|200|metadata updated
PUT|mooncake/rpc_meta/10.0.0.1:12384|{"ip_or_host_name":"10.0.0.1","rpc_port":15228}|200|metadata unchanged
PUT|mooncake/rpc_meta/10.0.0.1:12384|{"ip_or_host_name":"10.0.0.1","rpc_port":16000}|400|Duplicate rpc_meta key not allowed
GET|mooncake/rpc_meta/10.0.0.1:12384|-|200|{"ip_or_host_name":"10.0.0.1","rpc_port":15228}
DELETE|mooncake/rpc_meta/10.0.0.1:12384|-|200|metadata deleted
PUT|mooncake/rpc_meta/10.0.0.1:12384|{"ip_or_host_name":"10.0.0.1","rpc_port":16000}|200|metadata updated
PUT|a+b c|v|200|metadata updated
GET|?key=a%2Bb+c|-|200|v
POST|x|x|405|*
EOF
http POST "/metadata?key=x" -D "$MC_TMP/hdr" -d x
expect_eq "405 names the methods" "$(hdr Allow)" "GET, HEAD, PUT, DELETE"

# --- the published keys ---------------------------------------------------------
meta GET "mooncake/ram/$EP"
expect_eq "the descriptor is published" "$HTTP_CODE" 200
expect_eq "as JSON" "$(hdr Content-Type)" "application/json"
expect_match "a tcp descriptor of the transfer port" "$HTTP_BODY" \
	"^\{\"name\":\"$EP\",\"protocol\":\"tcp\",\"tcp_data_port\":$MC_XPORT,\"tcp_proto_version\":2,\"buffers\":\[\{\"name\":\"$EP\",\"addr\":[1-9][0-9]*,\"length\":67108864\}\],\"timestamp\":\"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{6}\"\}$"
meta GET "mooncake/rpc_meta/$EP"
expect_eq "the location is published" "$HTTP_BODY" \
	"{\"ip_or_host_name\":\"127.0.0.1\",\"rpc_port\":$((MC_XPORT - 1))}"
for m in PUT DELETE; do
	meta "$m" "mooncake/ram/$EP" -d '{}'
	expect_eq "$m of the published descriptor 403" "$HTTP_CODE" 403
	expect_eq "$m says why" "$HTTP_BODY" "metadata key 'mooncake/ram/$EP' is published by this node"
	meta "$m" "mooncake/rpc_meta/$EP" -d '{}'
	expect_eq "$m of the published location 403" "$HTTP_CODE" 403
done
meta GET "mooncake/c1/ram/$EP"
expect_eq "nothing under a cluster prefix" "$HTTP_CODE" 404

# A mount shows at once, and so does an unmount.
http POST /api/mount -H "Authorization: Bearer tok3n" -d '{"size":16777216}'
expect_eq "mount" "$HTTP_CODE" 200
ID=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
meta GET "mooncake/ram/$EP"
expect_eq "two buffers after a mount" "$(printf '%s' "$HTTP_BODY" | grep -o '"length":' | wc -l)" 2
expect_match "the new segment's size" "$HTTP_BODY" '"length":16777216\}'
http POST /api/unmount -H "Authorization: Bearer tok3n" -d "{\"segment_ids\":\"$ID\"}"
expect_eq "unmount" "$HTTP_CODE" 200
meta GET "mooncake/ram/$EP"
expect_eq "one buffer after the unmount" "$(printf '%s' "$HTTP_BODY" | grep -o '"length":' | wc -l)" 1

# --- bodies: opaque bytes up to 1 MiB, Expect: 100-continue, no token ----------
head -c 1048576 /dev/urandom >"$MC_TMP/mib"
meta PUT big --data-binary @"$MC_TMP/mib" -H 'Content-Type: application/json'
expect_eq "a 1 MiB body is stored" "$HTTP_CODE" 200
curl -s "$MC_URL/metadata?key=big" -o "$MC_TMP/mib.back"
check "and comes back byte for byte" cmp -s "$MC_TMP/mib" "$MC_TMP/mib.back"
head -c 1048577 /dev/zero >"$MC_TMP/over"
curl -s -v -X PUT --data-binary @"$MC_TMP/over" -H 'Expect: 100-continue' \
	"$MC_URL/metadata?key=over" -o "$MC_TMP/body" 2>"$MC_TMP/v"
check "past 1 MiB: 413" grep -q '^< HTTP/1.1 413' "$MC_TMP/v"
check "without 100 Continue: the body is never sent" not grep -q '100 Continue' "$MC_TMP/v"
curl -s -v -X PUT --data-binary @"$MC_TMP/mib" -H 'Expect: 100-continue' \
	"$MC_URL/metadata?key=mib2" -o "$MC_TMP/body" 2>"$MC_TMP/v"
check "a body within the limit is asked for" grep -q '^< HTTP/1.1 100 Continue' "$MC_TMP/v"
check "and stored" grep -q '^< HTTP/1.1 200' "$MC_TMP/v"
curl -s -v -X PUT -d '{}' -H 'Expect: 100-continue' \
	"$MC_URL/metadata?key=$(esc "mooncake/ram/$EP")" -o "$MC_TMP/body" 2>"$MC_TMP/v"
check "a published key: 403 without 100 Continue" grep -q '^< HTTP/1.1 403' "$MC_TMP/v"
check "(no 100 Continue)" not grep -q '100 Continue' "$MC_TMP/v"
# A full store (64 MiB of keys and bodies) is said before the body too.
for i in $(seq 70); do
	curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/mib" "$MC_URL/metadata?key=fill$i"
done
curl -s -v -X PUT --data-binary @"$MC_TMP/mib" -H 'Expect: 100-continue' \
	"$MC_URL/metadata?key=mib3" -o "$MC_TMP/body" 2>"$MC_TMP/v"
check "the store full: 507 without 100 Continue" grep -q '^< HTTP/1.1 507' "$MC_TMP/v"
check "(no 100 Continue, the body never sent)" not grep -q '100 Continue' "$MC_TMP/v"
meta PUT small -d '{}'
expect_eq "a small body still fits" "$HTTP_CODE" 200
for i in $(seq 70); do
	curl -s -o /dev/null -X DELETE "$MC_URL/metadata?key=fill$i"
done
meta PUT mib3 --data-binary @"$MC_TMP/mib"
expect_eq "room again once removed" "$HTTP_CODE" 200
http PUT /api/put/k -d v
expect_eq "the token still guards the store" "$HTTP_CODE" 401

# --- metadata/ in the tree -------------------------------------------------------
if [ -n "$FUSE" ]; then
	meta PUT 'te/node:1' -d '{"x":1}'
	check "ls metadata/ shows a stored key" test -e "$MC_MNT/metadata/te%2Fnode:1"
	expect_eq "cat shows its body" "$(cat "$MC_MNT/metadata/te%2Fnode:1")" '{"x":1}'
	expect_eq "st_size is the body's" "$(stat -c %s "$MC_MNT/metadata/te%2Fnode:1")" 7
	check "the published ones are listed" sh -c "ls '$MC_MNT/metadata' | grep -qx 'mooncake%2Fram%2F$EP'"
	expect_eq "and cat the same bytes as GET" \
		"$(cat "$MC_MNT/metadata/mooncake%2Frpc_meta%2F$EP")" \
		"{\"ip_or_host_name\":\"127.0.0.1\",\"rpc_port\":$((MC_XPORT - 1))}"
	check "the tree is read only" not sh -c "echo x > '$MC_MNT/metadata/te%2Fnode:1'" 2>/dev/null
	meta DELETE 'te/node:1'
	check "a deleted key leaves the tree" test ! -e "$MC_MNT/metadata/te%2Fnode:1"
fi
mc_stop

# --- the cluster-id prefix ------------------------------------------------------
mc_start --metadata-cluster-id prod/
EP=$(sed -n 's|^mooncaked: transfer ||p' "$MC_OUT")
meta GET "mooncake/prod/ram/$EP"
expect_eq "the descriptor lives under the prefix" "$HTTP_CODE" 200
meta GET "mooncake/prod/rpc_meta/$EP"
expect_eq "and the location" "$HTTP_CODE" 200
meta PUT "mooncake/prod/rpc_meta/$EP" -d '{}'
expect_eq "refused there" "$HTTP_CODE" 403
meta GET "mooncake/ram/$EP"
expect_eq "not under the bare prefix" "$HTTP_CODE" 404
meta PUT "mooncake/ram/$EP" -d '{}'
expect_eq "where the key is anyone's" "$HTTP_CODE" 200
mc_stop
"$MOONCAKED" --metadata-cluster-id 'a b' --no-fuse >/dev/null 2>"$MC_TMP/e"
expect_eq "a bad cluster id stops start-up with 2" "$?" 2
check "naming the option" grep -q "metadata-cluster-id" "$MC_TMP/e"

# --- off --------------------------------------------------------------------------
mc_start $FUSE --no-http-metadata
http GET "/metadata?key=x"
expect_eq "--no-http-metadata: 404" "$HTTP_CODE" 404
http PUT "/metadata?key=x" -d v
expect_eq "for writes too" "$HTTP_CODE" 404
[ -z "$FUSE" ] || check "and no metadata/ in the tree" test ! -e "$MC_MNT/metadata"
check "no /metadata series before a request" \
	not grep -q 'route="/metadata"' <<<"$(curl -s "$MC_URL/metrics" | grep -v 'code="404"')"
check "the status page does not list it" not grep -q '/metadata' <<<"$(curl -s "$MC_URL/")"
check "nor, on a single node, the cluster's routes" \
	not grep -qE '/api/cluster|/internal/' <<<"$(curl -s "$MC_URL/")"
check "which get no series either" \
	not grep -qE 'route="(/api/cluster|/internal/)' <<<"$(curl -s "$MC_URL/metrics")"
mc_stop

# --- an endpoint that does not reach the transfer port says so ------------------
mc_start --hostname 192.0.2.200
check "an unreachable endpoint is one warning line" \
	test "$(grep -c "WARN transfer: advertised endpoint '192.0.2.200:$MC_XPORT' does not reach" "$MC_ERR")" = 1
mc_stop
mc_start --transfer-host 0.0.0.0
check "a loopback endpoint on a wide port is one warning line" \
	test "$(grep -c "WARN transfer: advertised endpoint 'localhost:$MC_XPORT' is a loopback address" "$MC_ERR")" = 1
mc_stop
ADDR=$(hostname -I 2>/dev/null | awk '{ print $1 }')
case $ADDR in
*.*.*.*)
	mc_start --transfer-host "$ADDR" --hostname "$ADDR"
	"$XC" "$ADDR" "$MC_XPORT" read 1 1 v2 >/dev/null 2>&1
	expect_eq "the transfer port listens on --transfer-host (a rejected READ)" "$?" 3
	check "a reachable endpoint: no warning" not grep -q 'advertised endpoint' "$MC_ERR"
	"$XC" 127.0.0.1 "$MC_XPORT" read 1 1 v2 >/dev/null 2>&1
	check "and not on loopback" [ $? != 3 ]
	mc_stop
	;;
esac

mc_done
