#!/bin/bash
# web_admin.sh - the seed's endpoints (mooncake-http(7)) and the
# metrics they move (section 5), driven with curl against the real daemon.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

TEXT='text/plain; version=0.0.4'
JSON='application/json; charset=utf-8'

mc_start
wait_healthy

# --- /health -----------------------------------------------------------------
http GET /health -D "$MC_TMP/hdr"
expect_eq "/health 200" "$HTTP_CODE" 200
expect_eq "/health body" "$(cat "$HTTP_BODY_FILE")" OK
expect_eq "/health content type" "$(hdr Content-Type)" "$TEXT"
expect_eq "/health content length" "$(hdr Content-Length)" 2
http HEAD /health -D "$MC_TMP/hdr" -I
expect_eq "HEAD /health 200" "$HTTP_CODE" 200
expect_eq "HEAD /health has the GET length" "$(hdr Content-Length)" 2
http POST /health -D "$MC_TMP/hdr"
expect_eq "POST /health 405" "$HTTP_CODE" 405
expect_eq "405 names the allowed methods" "$(hdr Allow)" "GET, HEAD"
expect_eq "405 text body" "$HTTP_BODY" METHOD_NOT_ALLOWED

# --- unknown paths -------------------------------------------------------------
for p in /nope /health/ /healthz /metrics/ /api/get /api/nope //; do
	http GET "$p"
	expect_eq "GET $p 404" "$HTTP_CODE" 404
done
http GET /nope
expect_eq "unknown path text body" "$HTTP_BODY" NOT_FOUND
http GET /api/nope
expect_eq "unknown /api path JSON body" "$HTTP_BODY" '{"error":"Not found"}'

# --- /metrics ------------------------------------------------------------------
http GET /metrics -D "$MC_TMP/hdr"
expect_eq "/metrics 200" "$HTTP_CODE" 200
expect_eq "/metrics content type" "$(hdr Content-Type)" "$TEXT"
cp "$HTTP_BODY_FILE" "$MC_TMP/metrics"
expect_eq "/metrics ends with a newline" "$(tail -c1 "$MC_TMP/metrics" | od -An -c | tr -d ' ')" '\n'
for f in mooncake_http_requests_total mooncake_http_request_duration_seconds \
	process_resident_memory_bytes process_open_fds process_start_time_seconds \
	process_cpu_seconds_total master_put_start_requests_total \
	master_key_count master_value_size_bytes; do
	check "/metrics has # TYPE $f" grep -q "^# TYPE $f " "$MC_TMP/metrics"
done
check "route label is the pattern" grep -q \
	'^mooncake_http_requests_total{route="/health",code="200"} [1-9]' "$MC_TMP/metrics"
check "unknown paths count as route=other" grep -q \
	'^mooncake_http_requests_total{route="other",code="404"} [1-9]' "$MC_TMP/metrics"
check "405 counted under its route" grep -q \
	'^mooncake_http_requests_total{route="/health",code="405"} 1$' "$MC_TMP/metrics"
check "latency histogram per route" grep -q \
	'^mooncake_http_request_duration_seconds_count{route="/health"} [1-9]' "$MC_TMP/metrics"
check "no raw paths in labels" bash -c "! grep -q 'route=\"/nope\"' '$MC_TMP/metrics'"
if [ -z "${PROMTOOL:-}" ]; then PROMTOOL=$(command -v promtool || true); fi
check "promtool is available (PROMTOOL)" test -n "$PROMTOOL"
if [ -n "$PROMTOOL" ]; then
	# Exit 3 is "parsed, with lint remarks": upstream's names (kept
	# byte-identical for its dashboards) draw some; 1 is a parse error.
	rc=0
	"$PROMTOOL" check metrics < "$MC_TMP/metrics" > "$MC_TMP/promtool" 2>&1 || rc=$?
	check "promtool check metrics parses /metrics (rc $rc)" \
		test "$rc" = 0 -o "$rc" = 3
	check "promtool finds no error" bash -c "! grep -qi error '$MC_TMP/promtool'"
	check "promtool has no remark on our own families" \
		bash -c "! grep -Eq '^(mooncake_|process_)' '$MC_TMP/promtool'"
fi

# --- metrics move as section 5 says ------------------------------------------
ps0=$(metric master_put_start_requests_total)
pe0=$(metric master_put_end_requests_total)
g0=$(metric master_get_replica_list_requests_total)
b0=$(metric master_batch_get_replica_list_requests_total)
bi0=$(metric master_batch_get_replica_list_items_total)
curl -s -o /dev/null -X PUT --data-binary 'v1' "$MC_URL/api/put/m1"
expect_eq "a put counts one PutStart" "$(metric master_put_start_requests_total)" $((ps0 + 1))
expect_eq "a put counts one PutEnd" "$(metric master_put_end_requests_total)" $((pe0 + 1))
curl -s -o /dev/null "$MC_URL/api/get/m1"
expect_eq "a get counts one GetReplicaList" \
	"$(metric master_get_replica_list_requests_total)" $((g0 + 1))
curl -s -o /dev/null "$MC_URL/query_key?key=m1"
expect_eq "/query_key counts one GetReplicaList" \
	"$(metric master_get_replica_list_requests_total)" $((g0 + 2))
curl -s -o /dev/null "$MC_URL/batch_query_keys?keys=m1,x1,x2"
expect_eq "a batch counts one BatchGetReplicaList" \
	"$(metric master_batch_get_replica_list_requests_total)" $((b0 + 1))
expect_eq "a batch counts one item per key" \
	"$(metric master_batch_get_replica_list_items_total)" $((bi0 + 3))
expect_eq "a batch is not a GetReplicaList" \
	"$(metric master_get_replica_list_requests_total)" $((g0 + 2))
# HEAD answers GET's headers with no lease and no count (mooncake-http(7)).
# head_is_safe KEY TARGET FAMILY: HEAD TARGET (which names KEY) is 200,
# leaves FAMILY as it was, lets KEY be removed, and has GET's length.
head_is_safe() {
	local key=$1 target=$2 family=$3 n0 len
	n0=$(metric "$family")
	curl -s -o /dev/null -X PUT --data-binary 'hv' "$MC_URL/api/put/$key"
	http HEAD "$target" -D "$MC_TMP/hdr" -I
	expect_eq "HEAD $target 200" "$HTTP_CODE" 200
	len=$(hdr Content-Length)
	expect_eq "HEAD $target does not count $family" "$(metric "$family")" "$n0"
	http DELETE "/api/remove/$key"
	expect_eq "HEAD $target grants no lease (remove 200)" "$HTTP_CODE" 200
	curl -s -o /dev/null -X PUT --data-binary 'hv' "$MC_URL/api/put/$key"
	http GET "$target"
	expect_eq "HEAD $target has GET's length" "$(wc -c < "$HTTP_BODY_FILE")" "$len"
	curl -s -o /dev/null -X DELETE "$MC_URL/api/remove/$key?force=true"
}
head_is_safe h1 "/query_key?key=h1" master_get_replica_list_requests_total
head_is_safe h2 "/batch_query_keys?keys=h2,x1" \
	master_batch_get_replica_list_requests_total

# --- /metrics/summary ----------------------------------------------------------
http GET /metrics/summary -D "$MC_TMP/hdr"
expect_eq "/metrics/summary 200" "$HTTP_CODE" 200
expect_eq "/metrics/summary content type" "$(hdr Content-Type)" "$TEXT"
expect_match "/metrics/summary format" "$HTTP_BODY" \
	'^Mem Storage: [0-9]+(\.[0-9]{2} [KMGT]B| B) / 64\.00 MB \([0-9]+\.[0-9]%\) \| Keys: 1 \(soft-pinned: 0\) \| Clients: 1 \| Requests \(Success/Total\): PutStart=[0-9]+/[0-9]+, PutEnd=[0-9]+/[0-9]+, PutRevoke=[0-9]+/[0-9]+, Get=[0-9]+/[0-9]+, Exist=[0-9]+/[0-9]+, Del=[0-9]+/[0-9]+, DelAll=[0-9]+/[0-9]+, Ping=[0-9]+/[0-9]+ \| Eviction: Success/Attempts=[0-9]+/[0-9]+, keys=[0-9]+, size=[0-9]+(\.[0-9]{2} [KMGT]B| B)$'
check "/metrics/summary is one line" test "$(wc -l < "$HTTP_BODY_FILE")" -le 1

# --- /query_key ----------------------------------------------------------------
http GET "/query_key"
expect_eq "/query_key without key 400" "$HTTP_CODE" 400
expect_eq "/query_key without key body" "$HTTP_BODY" INVALID_PARAMS
http GET "/query_key?key="
expect_eq "/query_key empty key 400" "$HTTP_CODE" 400
http GET "/query_key?key=%zz"
expect_eq "/query_key bad escape 400" "$HTTP_CODE" 400
http GET "/query_key?key=a%00b"
expect_eq "/query_key NUL in key 400" "$HTTP_CODE" 400
http GET "/query_key?key=absent" -D "$MC_TMP/hdr"
expect_eq "/query_key missing key 404" "$HTTP_CODE" 404
expect_eq "/query_key 404 body" "$HTTP_BODY" OBJECT_NOT_FOUND
expect_eq "/query_key 404 content type" "$(hdr Content-Type)" "$TEXT"
head -c 1000 /dev/urandom > "$MC_TMP/v1000"
curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/v1000" "$MC_URL/api/put/q%20k"
http GET "/query_key?key=q%20k" -D "$MC_TMP/hdr"
expect_eq "/query_key 200" "$HTTP_CODE" 200
expect_eq "/query_key content type" "$(hdr Content-Type)" "$TEXT"
expect_match "/query_key replica line" "$HTTP_BODY" \
	'^\{"transport_endpoint_":"localhost:[0-9]+","buffer_descriptors":\[\{"size_":1000,"buffer_address_":[1-9][0-9]*,"protocol_":"tcp","transport_endpoint_":"localhost:[0-9]+","segment_id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"\}\]\}$'
expect_eq "/query_key body is one line ending in \\n" "$(wc -l < "$HTTP_BODY_FILE")" 1
http GET "/query_key?key=q+k"
expect_eq "'+' in a query value is a blank" "$HTTP_CODE" 200
http GET "/query_key?other=1&key=q%20k"
expect_eq "/query_key key after another parameter" "$HTTP_CODE" 200

# --- /batch_query_keys ---------------------------------------------------------
NOKEYS='{"success":false,"error":"No keys provided. Use ?keys=key1,key2,..."}'
http GET "/batch_query_keys" -D "$MC_TMP/hdr"
expect_eq "batch without keys 400" "$HTTP_CODE" 400
expect_eq "batch without keys body" "$HTTP_BODY" "$NOKEYS"
expect_eq "batch error content type" "$(hdr Content-Type)" "$JSON"
http GET "/batch_query_keys?keys="
expect_eq "batch empty keys 400" "$HTTP_CODE" 400
expect_eq "batch empty keys body" "$HTTP_BODY" "$NOKEYS"
http GET "/batch_query_keys?keys=,,"
expect_eq "batch only commas 400" "$HTTP_CODE" 400
curl -s -o /dev/null -X PUT --data-binary 'c' "$MC_URL/api/put/a%2Cb"
http GET "/batch_query_keys?keys=m1,nokey,m1,a%2Cb" -D "$MC_TMP/hdr"
expect_eq "batch 200" "$HTTP_CODE" 200
expect_eq "batch content type" "$(hdr Content-Type)" "$JSON"
expect_match "batch body" "$HTTP_BODY" \
	'^\{"success":true,"data":\{"m1":\{"ok":true,"values":\[\{"transport_endpoint_":"localhost:[0-9]+","buffer_descriptor":\{"size_":2,"buffer_address_":[0-9]+,"protocol_":"tcp","transport_endpoint_":"localhost:[0-9]+","segment_id":"[0-9a-f-]{36}"\}\}\]\},"nokey":\{"ok":false,"error":"OBJECT_NOT_FOUND"\},"a,b":\{"ok":true,"values":\[\{[^]]*"size_":1,[^]]*\}\]\}\}\}$'
expect_eq "duplicates collapse" "$(grep -o '"m1":' "$HTTP_BODY_FILE" | wc -l)" 1
keys=$(printf 'k%d,' $(seq 10000)); keys=${keys%,}
http GET "/batch_query_keys?keys=$keys"
expect_eq "batch of 10000 keys 200" "$HTTP_CODE" 200
expect_eq "batch of 10000 keys answers each" "$(grep -o '"ok":' "$HTTP_BODY_FILE" | wc -l)" 10000
http GET "/batch_query_keys?keys=$keys,k1"
expect_eq "10001 keys (one repeated) 413" "$HTTP_CODE" 413
expect_match "413 is a JSON error" "$HTTP_BODY" '^\{"success":false,"error":"[^"]+"\}$'
keys=$(printf 'a,%.0s' $(seq 10001)); keys=${keys%,}
http GET "/batch_query_keys?keys=$keys"
expect_eq "10001 copies of one key 413" "$HTTP_CODE" 413
# empty pieces are no keys: they count toward neither limit
commas=$(printf ',%.0s' $(seq 10001))
http GET "/batch_query_keys?keys=$commas"
expect_eq "10001 commas and no key 400" "$HTTP_CODE" 400
expect_eq "... no keys provided" "$HTTP_BODY" "$NOKEYS"
keys=$(printf 'k%d,,' $(seq 10000)); keys=${keys%,,}
http GET "/batch_query_keys?keys=,$keys,"
expect_eq "10000 keys among 10001 empty pieces 200" "$HTTP_CODE" 200
expect_eq "... answers each key" "$(grep -o '"ok":' "$HTTP_BODY_FILE" | wc -l)" 10000

# --- /get_all_keys ---------------------------------------------------------------
http GET /get_all_keys -D "$MC_TMP/hdr"
expect_eq "/get_all_keys 200" "$HTTP_CODE" 200
expect_eq "/get_all_keys content type" "$(hdr Content-Type)" "$TEXT"
expect_eq "/get_all_keys lists every key" "$(sort "$HTTP_BODY_FILE" | tr '\n' ' ')" \
	"a,b m1 q k "
curl -s -o /dev/null -X PUT --data-binary x "$MC_URL/api/put/many-[1-20000]"
http GET /get_all_keys -D "$MC_TMP/hdr"
expect_eq "20003 keys listed" "$(wc -l < "$HTTP_BODY_FILE")" 20003
expect_eq "no key listed twice" "$(sort "$HTTP_BODY_FILE" | uniq -d | wc -l)" 0
expect_eq "the list has a length" "$(hdr Content-Length)" "$(wc -c < "$HTTP_BODY_FILE")"
# the list is cached between changes: every change must show at once
curl -s -o /dev/null -X DELETE "$MC_URL/api/remove/many-7"
expect_eq "a removed key leaves the list" "$(curl -s "$MC_URL/get_all_keys" | grep -c '^many-7$')" 0
curl -s -o /dev/null -X PUT --data-binary y "$MC_URL/api/put/fresh"
expect_eq "a new key joins the list" "$(curl -s "$MC_URL/get_all_keys" | grep -c '^fresh$')" 1
curl -s -o /dev/null -X DELETE "$MC_URL/api/remove_all?force=true"
expect_eq "remove_all empties the list" "$(curl -s "$MC_URL/get_all_keys" | wc -c)" 0
# more than 4 MiB of keys is streamed
long=$(printf 'L%.0s' $(seq 1000))
curl -s -o /dev/null -X PUT --data-binary x "$MC_URL/api/put/$long-[1-5000]"
http GET /get_all_keys -D "$MC_TMP/hdr"
expect_eq "5000 long keys listed" "$(wc -l < "$HTTP_BODY_FILE")" 5000
expect_eq "no long key listed twice" "$(sort "$HTTP_BODY_FILE" | uniq -d | wc -l)" 0
expect_eq "a large list is chunked" "$(hdr Transfer-Encoding)" chunked
curl -s --http1.0 -D "$MC_TMP/hdr" -o "$MC_TMP/keys10" "$MC_URL/get_all_keys"
expect_eq "HTTP/1.0 gets the whole list" "$(wc -l < "$MC_TMP/keys10")" 5000
expect_eq "HTTP/1.0 list is close-delimited" "$(hdr Connection)" close
curl -s -o /dev/null -X DELETE "$MC_URL/api/remove/$long-9"
expect_eq "a large list shows a removal" "$(curl -s "$MC_URL/get_all_keys" | wc -l)" 4999
curl -s -o /dev/null -X DELETE "$MC_URL/api/remove_all"

# --- segments ------------------------------------------------------------------------
http GET /get_all_segments -D "$MC_TMP/hdr"
expect_eq "/get_all_segments 200" "$HTTP_CODE" 200
expect_eq "/get_all_segments content type" "$(hdr Content-Type)" "$TEXT"
expect_eq "/get_all_segments body" "$(cat "$HTTP_BODY_FILE")" localhost
curl -s -o /dev/null -X POST -d '{"size":16777216,"name":"beta"}' "$MC_URL/api/mount"
curl -s -o /dev/null -X POST -d '{"size":16777216,"name":"alpha"}' "$MC_URL/api/mount"
curl -s -o /dev/null -X POST -d '{"size":16777216,"name":"alpha"}' "$MC_URL/api/mount"
http GET /get_all_segments
expect_eq "names distinct and sorted" "$(cat "$HTTP_BODY_FILE" | tr '\n' ' ')" "alpha beta localhost "
http GET "/query_segment?segment=alpha" -D "$MC_TMP/hdr"
expect_eq "/query_segment 200" "$HTTP_CODE" 200
expect_eq "/query_segment content type" "$(hdr Content-Type)" "$TEXT"
expect_eq "/query_segment sums over the name" "$(cat "$HTTP_BODY_FILE"; echo .)" \
	"alpha
Used(bytes): 0
Capacity(bytes): 33554432
."
http GET "/query_segment"
expect_eq "/query_segment without segment 400" "$HTTP_CODE" 400
http GET "/query_segment?segment="
expect_eq "/query_segment empty segment 400" "$HTTP_CODE" 400
http GET "/query_segment?segment=nope"
expect_eq "/query_segment unknown 404" "$HTTP_CODE" 404
expect_eq "/query_segment 404 body" "$HTTP_BODY" SEGMENT_NOT_FOUND

# --- absolute-form request target --------------------------------------------
raw "GET http://127.0.0.1:$MC_PORT/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
expect_eq "absolute-form target 200" "$RAW_STATUS" 200
expect_eq "absolute-form target body" "$RAW_BODY" OK
raw "GET http://localhost:$MC_PORT/query_segment?segment=alpha HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
expect_eq "absolute-form target keeps its query" "$RAW_STATUS" 200

mc_stop

# --- two replicas on two segments ----------------------------------------------
mc_start --replicas 2
wait_healthy
curl -s -o /dev/null -X POST -d '{"size":16777216}' "$MC_URL/api/mount"
head -c 4096 /dev/urandom > "$MC_TMP/v4k"
http PUT /api/put/r2 --data-binary @"$MC_TMP/v4k"
expect_eq "put with 2 replicas 200" "$HTTP_CODE" 200
http GET "/query_key?key=r2"
expect_eq "/query_key with 2 replicas 200" "$HTTP_CODE" 200
expect_eq "one line per replica" "$(wc -l < "$HTTP_BODY_FILE")" 2
expect_eq "replicas at different addresses" \
	"$(grep -o '"buffer_address_":[0-9]*' "$HTTP_BODY_FILE" | sort -u | wc -l)" 2
expect_eq "replicas in different segments" \
	"$(grep -o '"segment_id":"[^"]*"' "$HTTP_BODY_FILE" | sort -u | wc -l)" 2
http GET "/batch_query_keys?keys=r2"
expect_eq "batch lists both replicas" "$(grep -o '"buffer_descriptor"' "$HTTP_BODY_FILE" | wc -l)" 2
curl -s "$MC_URL/api/get/r2" -o "$MC_TMP/r2"
check "value with 2 replicas reads back" cmp -s "$MC_TMP/v4k" "$MC_TMP/r2"

# --- the HTTP server cannot start ---------------------------------------------
# (bad addresses are checked in check_web: a name here would reach DNS)
rc=0
timeout 10 "$MOONCAKED" --no-fuse --segment-size 0 --transfer-port 0 --rpc-port 0 \
	--port "$MC_PORT" >"$MC_TMP/out2" 2>"$MC_TMP/err2" || rc=$?
expect_eq "start on a port in use fails with status 1" "$rc" 1
expect_match "start on a port in use says why" "$(cat "$MC_TMP/err2")" \
	"^mooncaked: cannot start the HTTP server: cannot listen on '127.0.0.1:$MC_PORT'"
mc_stop

mc_done
