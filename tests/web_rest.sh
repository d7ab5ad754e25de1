#!/bin/bash
# web_rest.sh - the store REST API (mooncake-http(7)) and the two-phase
# put (section 6): every validation rule, every error, binary values,
# auth, driven with curl against the real daemon.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

JSON='application/json; charset=utf-8'
SHM="mc-web-test-$$"
trap 'mc_rc=$?; rm -f "/dev/shm/$SHM"; mc_cleanup "$mc_rc"' EXIT

mc_start --max-body 32M
wait_healthy

# post PATH BODY: POST a JSON body.
post() {
	http POST "$1" -H 'Content-Type: application/json' --data-binary "$2" \
		-D "$MC_TMP/hdr"
}

# --- /api/mount ----------------------------------------------------------------
post /api/mount '{"size":1,"protocol":"tcp","location":""}'
expect_eq "mount 200" "$HTTP_CODE" 200
expect_eq "mount content type" "$(hdr Content-Type)" "$JSON"
expect_match "mount body" "$HTTP_BODY" \
	'^\{"status":"success","segment_ids":\["[0-9a-f-]{36}"\],"allocated_size":16777216\}$'
ID1=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
post /api/mount '{"size":16777217}'
expect_match "mount rounds up to 16 MiB" "$HTTP_BODY" '"allocated_size":33554432\}$'
ID2=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
SIZEMSG='{"error":"Invalid size, must be a positive integer"}'
# mounts: "REQUESTS FAILURES" of the MountSegment counters
mounts() {
	curl -s "$MC_URL/metrics" |
		awk '/^master_mount_segment_(requests|failures)_total /{printf "%s ", $2}'
}
# a body that is not a mount request is not counted; a value the store
# refuses is, as upstream counts a refused MountSegment
m0=$(mounts)
for b in '{"size":true}' '{"size":-1}' '{"size":1,"name":5}'; do
	post /api/mount "$b"
	expect_eq "mount $b 400" "$HTTP_CODE" 400
done
expect_eq "malformed mounts are not counted" "$(mounts)" "$m0"
read -r mr mf <<<"$m0"
for b in '{"size":0}' '{"size":1,"protocol":"bogus"}' '{"size":1,"name":"a\nb"}'; do
	post /api/mount "$b"
	expect_eq "mount $b 400" "$HTTP_CODE" 400
done
expect_eq "refused values are counted" "$(mounts)" "$((mr + 3)) $((mf + 3)) "
for b in '{}' '{"size":true}' '{"size":false}' '{"size":1.0}' '{"size":2.5}' \
	'{"size":"16777216"}' '{"size":0}' '{"size":-1}' '{"size":null}' \
	'{"size":[1]}' '{"size":9223372036854775808}' \
	'{"size":99999999999999999999999}' '{"size":-9223372036854775809}'; do
	post /api/mount "$b"
	expect_eq "mount $b 400" "$HTTP_CODE" 400
	expect_eq "mount $b message" "$HTTP_BODY" "$SIZEMSG"
done
post /api/mount '{"size":9223372036854775807}'
expect_eq "mount of 2^63-1 bytes 507" "$HTTP_CODE" 507
expect_match "507 is a JSON error" "$HTTP_BODY" '^\{"error":"[^"]+"\}$'
post /api/mount '{"size":16777216,"protocol":7}'
expect_eq "mount protocol of the wrong type 400" "$HTTP_CODE" 400
expect_eq "the message names the field" "$HTTP_BODY" '{"error":"Invalid protocol, must be a string"}'
post /api/mount '{"size":16777216,"location":[]}'
expect_eq "mount location of the wrong type 400" "$HTTP_CODE" 400
post /api/mount '{"size":16777216,"protocol":"carrier-pigeon"}'
expect_eq "mount unknown protocol 400" "$HTTP_CODE" 400
# a name or location is one line wherever it shows (/get_all_segments,
# the tree): control bytes in it are refused, before any memory is taken
for f in name location; do
	for v in 'a\nb' 'tab\there' 'del\u007f' 'x\r'; do
		post /api/mount "{\"size\":16777216,\"$f\":\"$v\"}"
		expect_eq "mount $f \"$v\" 400" "$HTTP_CODE" 400
		expect_match "... the message names the $f" "$HTTP_BODY" "$f must not hold control bytes"
	done
done
check "no segment named with a newline" sh -c "! curl -s '$MC_URL/get_all_segments' | grep -qx b"
# a name is a metric label, which is UTF-8: bad\xff and bad\xfe would
# render alike (as U+FFFD) and make two series of one label set
post /api/mount "$(printf '{"size":16777216,"name":"bad\377byte"}')"
expect_eq "mount name that is not UTF-8 400" "$HTTP_CODE" 400
expect_match "... the message says why" "$HTTP_BODY" "[Uu][Tt][Ff]-8"
post /api/mount '{"size":16777216,"name":"gpu-\u00fc-\ud83d\ude00"}'
expect_eq "a UTF-8 name is fine" "$HTTP_CODE" 200
post /api/unmount "{\"segment_ids\":\"$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')\"}"
expect_eq "... and unmounts" "$HTTP_CODE" 200
# rdma: 200 where a usable device exists, else 501 saying why
post /api/mount '{"size":16777216,"protocol":"rdma"}'
expect_match "rdma mount 200 or 501" "$HTTP_CODE" '^(200|501)$'
if [ "$HTTP_CODE" = 200 ]; then
	post /api/unmount "{\"segment_ids\":\"$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')\"}"
else
	expect_match "501 says why" "$HTTP_BODY" '^\{"error":"[^"]*rdma[^"]*"\}$'
fi

# --- JSON body rules ----------------------------------------------------------------
for b in '' '{' '{"size":1' '{"size":1,}' "{'size':1}" '{"size":1} x' 'size=1'; do
	post /api/mount "$b"
	expect_eq "malformed body '$b' 400" "$HTTP_CODE" 400
	expect_match "malformed body '$b' message" "$HTTP_BODY" '^\{"error":"Invalid JSON body[^"]*"\}$'
done
for b in '[]' '[{"size":1}]' '16777216' '"x"' 'null' 'true'; do
	post /api/mount "$b"
	expect_eq "non-object body '$b' 400" "$HTTP_CODE" 400
done
printf '{"size":"\xff"}' > "$MC_TMP/badutf8"
http POST /api/mount --data-binary @"$MC_TMP/badutf8"
expect_eq "invalid UTF-8 in JSON 400" "$HTTP_CODE" 400
http GET /api/mount
expect_eq "GET /api/mount 405" "$HTTP_CODE" 405
http GET /api/mount -D "$MC_TMP/hdr"
expect_eq "405 Allow" "$(hdr Allow)" POST

# --- /api/mount_shm ------------------------------------------------------------
truncate -s 32M "/dev/shm/$SHM"
post /api/mount_shm "{\"name\":\"$SHM\",\"size\":16777216,\"offset\":0,\"protocol\":\"tcp\",\"location\":\"\"}"
expect_eq "mount_shm 200" "$HTTP_CODE" 200
expect_match "mount_shm body" "$HTTP_BODY" '^\{"status":"success","segment_ids":\["[0-9a-f-]{36}"\]\}$'
SHM1=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
post /api/mount_shm "{\"name\":\"/$SHM\",\"size\":4096,\"offset\":16777216}"
expect_eq "mount_shm with a leading / and an offset 200" "$HTTP_CODE" 200
SHM2=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
for n in '""' '"/"' '"a/b"' '"."' '".."' '"/.."' '"//x"' '5' 'null'; do
	post /api/mount_shm "{\"name\":$n,\"size\":4096}"
	expect_eq "mount_shm name $n 400" "$HTTP_CODE" 400
	expect_match "mount_shm name $n message names it" "$HTTP_BODY" 'name'
done
for o in 1 4095 -4096 true '"0"' 4096.0; do
	post /api/mount_shm "{\"name\":\"$SHM\",\"size\":4096,\"offset\":$o}"
	expect_eq "mount_shm offset $o 400" "$HTTP_CODE" 400
	expect_match "mount_shm offset $o message names it" "$HTTP_BODY" 'offset'
done
post /api/mount_shm "{\"name\":\"$SHM\",\"size\":true}"
expect_eq "mount_shm size true 400" "$HTTP_BODY" "$SIZEMSG"
for z in 1 63; do
	post /api/mount_shm "{\"name\":\"$SHM\",\"size\":$z}"
	expect_eq "mount_shm size $z (below one buffer) 400" "$HTTP_CODE" 400
	expect_match "mount_shm size $z message names it" "$HTTP_BODY" 'size'
done
# bytes mounted already are refused, in whole or in part; the next ones not
post /api/mount_shm "{\"name\":\"$SHM\",\"size\":8192,\"offset\":16773120}"
expect_eq "mount_shm over a mounted range 409" "$HTTP_CODE" 409
expect_eq "mount_shm over a mounted range says which" "$HTTP_BODY" \
	"{\"error\":\"bytes 0 to 16777216 of shm object '$SHM' are mounted already, as segment '$SHM1'\"}"
post /api/mount_shm "{\"name\":\"$SHM\",\"size\":4096,\"offset\":16781312}"
expect_eq "mount_shm of the bytes just after 200" "$HTTP_CODE" 200
SHM3=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
post /api/unmount_shm "{\"segment_ids\":\"$SHM3\"}"
expect_eq "... unmounted" "$HTTP_CODE" 200
post /api/mount_shm "{\"name\":\"$SHM\",\"size\":33554432,\"offset\":4096}"
expect_eq "mount_shm past the object's end 400" "$HTTP_CODE" 400
post /api/mount_shm '{"name":"mc-web-no-such-shm","size":4096}'
expect_eq "mount_shm of a missing object 404" "$HTTP_CODE" 404

# --- /api/unmount, /api/unmount_shm ---------------------------------------------
for b in '{}' '{"segment_ids":[]}' '{"segment_ids":""}' '{"segment_ids":null}'; do
	post /api/unmount "$b"
	expect_eq "unmount $b 400" "$HTTP_CODE" 400
	expect_match "unmount $b names segment_ids" "$HTTP_BODY" 'segment_ids'
done
for b in '{"segment_ids":5}' '{"segment_ids":[5]}' '{"segment_ids":{"a":1}}'; do
	post /api/unmount "$b"
	expect_eq "unmount $b 400" "$HTTP_CODE" 400
done
for g in true -1 3601 1.5 '"1"'; do
	post /api/unmount "{\"segment_ids\":\"$ID1\",\"grace_period_seconds\":$g}"
	expect_eq "unmount grace $g 400" "$HTTP_CODE" 400
	expect_match "unmount grace $g names the field" "$HTTP_BODY" 'grace_period_seconds'
done
NOID=00000000-0000-4000-8000-000000000000
post /api/unmount "{\"segment_ids\":[\"$ID1\",\"$NOID\"]}"
expect_eq "unmount with an unknown id 404" "$HTTP_CODE" 404
expect_eq "unmount 404 body" "$HTTP_BODY" \
	"{\"error\":\"Unmount failed for one or more segments\",\"failed_segment_ids\":[\"$NOID\"]}"
post /api/unmount "{\"segment_ids\":[\"$ID1\",\"$SHM1\"]}"
expect_eq "unmount of a shm id 404" "$HTTP_CODE" 404
expect_match "the shm id failed" "$HTTP_BODY" "\"failed_segment_ids\":\\[\"$SHM1\"\\]"
post /api/unmount_shm "{\"segment_ids\":[\"$SHM1\",\"$ID1\"]}"
expect_eq "unmount_shm of an alloc id 404" "$HTTP_CODE" 404
expect_match "the alloc id failed" "$HTTP_BODY" "\"failed_segment_ids\":\\[\"$ID1\"\\]"
expect_eq "nothing was unmounted" "$(curl -s "$MC_URL/query_segment?segment=localhost" | sed -n 's/^Capacity(bytes): //p')" \
	$((64 * 1048576 + 16777216 + 33554432 + 16777216 + 4096))
post /api/unmount "{\"segment_ids\":[\"$ID1\",\"$NOID\",\"$ID1\"]}"
expect_match "a repeated id beside an unknown one: only the unknown fails" \
	"$HTTP_BODY" "\"failed_segment_ids\":\\[\"$NOID\"\\]"
post /api/unmount "{\"segment_ids\":[\"$ID1\",\"$ID1\"]}"
expect_eq "unmount of an id given twice 200" "$HTTP_CODE" 200
post /api/mount '{"size":16777216}'
ID1=$(printf '%s' "$HTTP_BODY" | sed -n 's/.*"segment_ids":\["\([^"]*\)".*/\1/p')
post /api/unmount "{\"segment_ids\":\"$ID1\",\"grace_period_seconds\":0}"
expect_eq "unmount one id as a string 200" "$HTTP_CODE" 200
expect_eq "unmount body" "$HTTP_BODY" '{"status":"success"}'
post /api/unmount "{\"segment_ids\":[\"$ID1\"]}"
expect_eq "unmount twice 404" "$HTTP_CODE" 404
post /api/unmount_shm "{\"segment_ids\":[\"$SHM1\",\"$SHM2\"]}"
expect_eq "unmount_shm a list 200" "$HTTP_CODE" 200
check "unmount_shm leaves the shm object" test -f "/dev/shm/$SHM"

# --- data: JSON put -----------------------------------------------------------------
http PUT /api/put -d '{"key":"j1","value":"text value"}' -D "$MC_TMP/hdr"
expect_eq "JSON put 200" "$HTTP_CODE" 200
expect_eq "JSON put body" "$HTTP_BODY" '{"status":"success"}'
http GET /api/get/j1 -D "$MC_TMP/hdr"
expect_eq "get after JSON put" "$HTTP_BODY" "text value"
expect_eq "get content type" "$(hdr Content-Type)" application/octet-stream
for b in '{}' '{"key":"k"}' '{"value":"v"}' '{"key":"","value":"v"}' '{"key":"k","value":""}'; do
	http PUT /api/put -d "$b"
	expect_eq "JSON put $b 400" "$HTTP_CODE" 400
	expect_eq "JSON put $b message" "$HTTP_BODY" '{"error":"Missing key or value"}'
done
http PUT /api/put -d '{"key":1,"value":"v"}'
expect_eq "JSON put key not a string 400" "$HTTP_BODY" '{"error":"Invalid key, must be a string"}'
http PUT /api/put -d '{"key":"k","value":{"a":1}}'
expect_eq "JSON put value not a string 400" "$HTTP_BODY" '{"error":"Invalid value, must be a string"}'
http PUT /api/put -d '{"key":"a\u0000b","value":"v"}'
expect_eq "JSON put key with NUL 400" "$HTTP_CODE" 400
http POST /api/put -d '{"key":"k","value":"v"}' -D "$MC_TMP/hdr"
expect_eq "POST /api/put 405" "$HTTP_CODE" 405
expect_eq "POST /api/put Allow" "$(hdr Allow)" PUT

# --- data: binary values round-trip --------------------------------------------
for size in 1 4096 1048576 20971520; do
	head -c "$size" /dev/urandom > "$MC_TMP/v$size"
	http PUT "/api/put/bin$size" --data-binary @"$MC_TMP/v$size"
	expect_eq "put of $size bytes 200" "$HTTP_CODE" 200
	curl -s -o "$MC_TMP/got$size" -D "$MC_TMP/hdr" "$MC_URL/api/get/bin$size"
	check "$size bytes read back byte for byte" cmp -s "$MC_TMP/v$size" "$MC_TMP/got$size"
	expect_eq "get of $size bytes Content-Length" "$(hdr Content-Length)" "$size"
	curl -s -I -o /dev/null -D "$MC_TMP/hdr" "$MC_URL/api/get/bin$size"
	expect_eq "HEAD of $size bytes Content-Length" "$(hdr Content-Length)" "$size"
done
printf 'a\0b\r\n\xff' > "$MC_TMP/nul"
http PUT /api/put/nul --data-binary @"$MC_TMP/nul"
curl -s -o "$MC_TMP/gotnul" "$MC_URL/api/get/nul"
check "NUL, CR, LF and 0xff in a value survive" cmp -s "$MC_TMP/nul" "$MC_TMP/gotnul"
curl -s -o /dev/null -X PUT -H 'Transfer-Encoding: chunked' \
	--data-binary @"$MC_TMP/v1048576" "$MC_URL/api/put/chunked"
curl -s -o "$MC_TMP/gotc" "$MC_URL/api/get/chunked"
check "chunked put of 1 MiB round-trips" cmp -s "$MC_TMP/v1048576" "$MC_TMP/gotc"
http PUT /api/put/bin1 --data-binary 'overwritten'
expect_eq "overwrite 200" "$HTTP_CODE" 200
expect_eq "overwrite replaces the value" "$(curl -s "$MC_URL/api/get/bin1")" overwritten
http PUT /api/put/empty --data-binary ''
expect_eq "empty value 400" "$HTTP_CODE" 400

# --- keys with '/', blanks, '%' ----------------------------------------------------
http PUT '/api/put/dir/sub/key' --data-binary slash
expect_eq "key with raw / 200" "$HTTP_CODE" 200
expect_eq "key with raw / reads back" "$(curl -s "$MC_URL/api/get/dir%2Fsub%2Fkey")" slash
http PUT '/api/put/with%20space%25and%2Fslash' --data-binary odd
expect_eq "key with blank, % and / 200" "$HTTP_CODE" 200
expect_eq "odd key reads back" "$(curl -s "$MC_URL/api/get/with%20space%25and%2Fslash")" odd
check "odd key listed decoded" grep -qx 'with space%and/slash' <(curl -s "$MC_URL/get_all_keys")
http PUT '/api/put/a+b' --data-binary plus
expect_eq "'+' in a path key stays '+'" "$(curl -s "$MC_URL/query_key?key=a%2Bb" | grep -c size_)" 1
http GET /api/get/
expect_eq "empty key 400" "$HTTP_CODE" 400
http PUT /api/put/ --data-binary x
expect_eq "empty key put 400" "$HTTP_CODE" 400
http GET /api/get/a%00b
expect_eq "key with NUL 400" "$HTTP_CODE" 400
http GET /api/get/bad%zz
expect_eq "key with a bad escape 400" "$HTTP_CODE" 400
long=$(printf 'k%.0s' $(seq 4097))
http GET "/api/get/$long"
expect_eq "key of 4097 bytes 400" "$HTTP_CODE" 400
http PUT "/api/put/${long:1}" --data-binary x
expect_eq "key of 4096 bytes 200" "$HTTP_CODE" 200

# --- get, exist, remove --------------------------------------------------------------
http GET /api/get/absent -D "$MC_TMP/hdr"
expect_eq "get of a missing key 404" "$HTTP_CODE" 404
expect_eq "get 404 body" "$HTTP_BODY" '{"error":"Key not found"}'
expect_eq "get 404 content type" "$(hdr Content-Type)" "$JSON"
http HEAD /api/get/absent -I
expect_eq "HEAD of a missing key 404" "$HTTP_CODE" 404
http GET /api/exist/j1 -D "$MC_TMP/hdr"
expect_eq "exist 200" "$HTTP_CODE" 200
expect_eq "exist true" "$HTTP_BODY" '{"exists": true}'
expect_eq "exist content type" "$(hdr Content-Type)" "$JSON"
http GET /api/exist/absent
expect_eq "exist false" "$HTTP_BODY" '{"exists": false}'
http DELETE /api/remove/j1
expect_eq "remove 200" "$HTTP_BODY" '{"status":"success"}'
http DELETE /api/remove/j1
expect_eq "remove again 404" "$HTTP_CODE" 404
http GET /api/remove/j1
expect_eq "GET /api/remove 405" "$HTTP_CODE" 405
curl -s -o /dev/null "$MC_URL/query_key?key=bin4096"
http DELETE /api/remove/bin4096
expect_eq "remove of a leased key 409" "$HTTP_CODE" 409
expect_match "409 body: the code, and why for how long" "$HTTP_BODY" \
	'^\{"error":"OBJECT_HAS_LEASE","message":"key '"'"'bin4096'"'"' has a read lease for (9\.[0-9]|10\.0) s more \(a reader asked for its replicas\); remove it then, or with \?force=true"\}$'
expect_match "the refusal is logged with the same reason" "$(cat "$MC_ERR")" \
	"INFO http: 409 DELETE /api/remove/bin4096 from 127.0.0.1: key 'bin4096' has a read lease for"
http DELETE '/api/remove/bin4096?force=maybe'
expect_eq "bad force 400" "$HTTP_CODE" 400
http DELETE '/api/remove/bin4096?force=true'
expect_eq "forced remove of a leased key 200" "$HTTP_CODE" 200

# --- two-phase put ------------------------------------------------------------------
post /api/v1/put_start '{"key":"tp","size":5000}'
expect_eq "put_start 200" "$HTTP_CODE" 200
expect_match "put_start body" "$HTTP_BODY" \
	'^\{"status":"success","key":"tp","descriptors":\[\{"size_":5000,"buffer_address_":[1-9][0-9]*,"protocol_":"tcp","transport_endpoint_":"localhost:[0-9]+","segment_id":"[0-9a-f-]{36}"\}\]\}$'
post /api/v1/put_start '{"key":"tp","size":5000}'
expect_eq "second put_start of one key 409" "$HTTP_CODE" 409
http GET /api/get/tp
expect_eq "an open put is not readable" "$HTTP_CODE" 404
post /api/v1/put_end '{"key":"tp"}'
expect_eq "put_end 200" "$HTTP_BODY" '{"status":"success"}'
curl -s -I -o /dev/null -D "$MC_TMP/hdr" "$MC_URL/api/get/tp"
expect_eq "ended put has its size" "$(hdr Content-Length)" 5000
post /api/v1/put_end '{"key":"tp"}'
expect_eq "put_end with no open put 404" "$HTTP_CODE" 404
post /api/v1/put_start '{"key":"tr","size":10}'
post /api/v1/put_revoke '{"key":"tr"}'
expect_eq "put_revoke 200" "$HTTP_CODE" 200
http GET /api/get/tr
expect_eq "revoked put left nothing" "$HTTP_CODE" 404
post /api/v1/put_revoke '{"key":"tr"}'
expect_eq "put_revoke with no open put 404" "$HTTP_CODE" 404
for b in '{}' '{"key":5,"size":1}' '{"key":"x","size":0}' '{"key":"x","size":true}' '{"key":"x"}'; do
	post /api/v1/put_start "$b"
	expect_eq "put_start $b 400" "$HTTP_CODE" 400
done

# --- remove_all -----------------------------------------------------------------------
# "a+b" holds the read lease /query_key granted above
n=$(curl -s "$MC_URL/get_all_keys" | wc -l)
http DELETE /api/remove_all -D "$MC_TMP/hdr"
expect_eq "remove_all body" "$HTTP_BODY" "{\"status\":\"success removed $((n - 1)) keys\"}"
expect_eq "remove_all content type" "$(hdr Content-Type)" "$JSON"
expect_eq "remove_all keeps the leased key" "$(curl -s "$MC_URL/get_all_keys")" "a+b"
http DELETE '/api/remove_all?force=true'
expect_eq "forced remove_all takes it" "$HTTP_BODY" '{"status":"success removed 1 keys"}'
expect_eq "remove_all leaves no key" "$(curl -s "$MC_URL/get_all_keys" | wc -c)" 0
http DELETE /api/remove_all
expect_eq "remove_all of nothing" "$HTTP_BODY" '{"status":"success removed 0 keys"}'
http DELETE '/api/remove_all?force=perhaps'
expect_eq "remove_all bad force 400" "$HTTP_CODE" 400

# --- 413 ------------------------------------------------------------------------------
head -c $((32 * 1048576 + 1)) /dev/zero > "$MC_TMP/big"
http PUT /api/put/big --data-binary @"$MC_TMP/big" -D "$MC_TMP/hdr"
expect_eq "body over --max-body 413" "$HTTP_CODE" 413
expect_match "413 body" "$HTTP_BODY" '^\{"error":"[^"]+"\}$'
http PUT /api/put/big -H 'Transfer-Encoding: chunked' --data-binary @"$MC_TMP/big"
expect_eq "chunked body over --max-body 413" "$HTTP_CODE" 413
{ printf '{"key":"k","value":"'; head -c $((32 * 1048576)) /dev/zero | tr '\0' a; printf '"}'; } > "$MC_TMP/bigjson"
http PUT /api/put --data-binary @"$MC_TMP/bigjson"
expect_eq "JSON body over --max-body 413" "$HTTP_CODE" 413
http GET /api/get/big
expect_eq "nothing stored after 413" "$HTTP_CODE" 404

mc_stop

# --- unmount with a grace period ------------------------------------------------
mc_start --segment-size 0
wait_healthy
post /api/mount '{"size":16777216,"name":"graceful"}'
GID=$(printf '%s' "$HTTP_BODY" | grep -o '[0-9a-f-]\{36\}')
head -c 4096 /dev/urandom > "$MC_TMP/v4096"
http PUT /api/put/g1 --data-binary @"$MC_TMP/v4096"
post /api/unmount "{\"segment_ids\":[\"$GID\"],\"grace_period_seconds\":1}"
expect_eq "unmount with grace 1 200" "$HTTP_CODE" 200
curl -s -o "$MC_TMP/gotg" "$MC_URL/api/get/g1"
check "still readable during the grace period" cmp -s "$MC_TMP/v4096" "$MC_TMP/gotg"
expect_eq "draining segment still listed" "$(curl -s "$MC_URL/get_all_segments")" graceful
http PUT /api/put/g2 --data-binary x
expect_eq "a draining segment takes no new value" "$HTTP_CODE" 507
sleep 1.6
http GET /api/get/g1
expect_eq "gone after the grace period" "$HTTP_CODE" 404
expect_eq "segment gone after the grace period" "$(curl -s "$MC_URL/get_all_segments" | wc -c)" 0
mc_stop

# --- auth ----------------------------------------------------------------------------
printf '  s3cret-token\n' > "$MC_TMP/token"
mc_start --auth-token-file "$MC_TMP/token"
wait_healthy
http PUT /api/put/a --data-binary v -D "$MC_TMP/hdr"
expect_eq "put without a token 401" "$HTTP_CODE" 401
expect_match "401 body" "$HTTP_BODY" '^\{"error":"[^"]+"\}$'
expect_eq "401 says Bearer" "$(hdr WWW-Authenticate)" Bearer
http PUT /api/put/a --data-binary v -H 'Authorization: Bearer wrong'
expect_eq "wrong token 401" "$HTTP_CODE" 401
http PUT /api/put/a --data-binary v -H 'Authorization: Bearer s3cret-toke'
expect_eq "token prefix 401" "$HTTP_CODE" 401
http PUT /api/put/a --data-binary v -H 'Authorization: Bearer s3cret-tokenX'
expect_eq "token plus a byte 401" "$HTTP_CODE" 401
http PUT /api/put/a --data-binary v -H 'Authorization: Basic czNjcmV0LXRva2Vu'
expect_eq "other scheme 401" "$HTTP_CODE" 401
http PUT /api/put/a --data-binary v -H 'Authorization: Bearer s3cret-token'
expect_eq "right token 200 (file whitespace ignored)" "$HTTP_CODE" 200
http GET /api/get/a
expect_eq "GET needs no token" "$HTTP_CODE" 200
http HEAD /api/get/a -I
expect_eq "HEAD needs no token" "$HTTP_CODE" 200
post /api/mount '{"size":16777216}'
expect_eq "mount without a token 401" "$HTTP_CODE" 401
http DELETE /api/remove_all
expect_eq "remove_all without a token 401" "$HTTP_CODE" 401
http DELETE /api/remove/a -H 'Authorization: bearer s3cret-token'
expect_eq "scheme is case-insensitive" "$HTTP_CODE" 200
mc_stop

mc_done
