#!/bin/bash
# xfer_put.sh - the two-phase put through the real daemon: put_start over
# HTTP, WRITE through the transfer port, put_end; WRITEs outside an open
# put; put_end without the bytes; revoke, timeout and a client killed
# mid-WRITE, each leaving nothing published and the space free again.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# start KEY SIZE: POST /api/v1/put_start; sets ADDR (first descriptor).
start() {
	http POST /api/v1/put_start -d "{\"key\":\"$1\",\"size\":$2}"
	ADDR=$(addr_in "$HTTP_BODY")
}

# used: bytes in use over every segment
used() {
	curl -s "$MC_URL/query_segment?segment=localhost" |
		sed -n 's/^Used(bytes): //p'
}

xwrite() {      # xwrite ADDR SIZE VERSION < data
	"$XC" 127.0.0.1 "$MC_XPORT" write "$@" 2>/dev/null
}

mc_start --put-timeout 30000
base=$(used)

# put_start -> WRITE -> put_end publishes the bytes, v2 and v1.
head -c 300000 /dev/urandom >"$MC_TMP/v"
for v in v2 v1; do
	start "p$v" 300000
	expect_eq "put_start $v" "$HTTP_CODE" 200
	expect_match "put_start answers descriptors" "$HTTP_BODY" '"descriptors":\[\{'
	check "put_start gives an address" [ -n "$ADDR" ]
	http GET "/api/get/p$v"
	expect_eq "an open put is not readable" "$HTTP_CODE" 404
	"$XC" 127.0.0.1 "$MC_XPORT" read "$ADDR" 300000 v2 >/dev/null 2>&1
	expect_eq "an open put's buffer is not readable" "$?" 3
	xwrite "$ADDR" 300000 "$v" <"$MC_TMP/v"
	expect_eq "$v write exits 0" "$?" 0
	http POST /api/v1/put_end -d "{\"key\":\"p$v\"}"
	expect_eq "put_end $v" "$HTTP_CODE" 200
	curl -s -o "$MC_TMP/got" "$MC_URL/api/get/p$v"
	check "$v written bytes readable over HTTP" cmp -s "$MC_TMP/got" "$MC_TMP/v"
	xwrite "$ADDR" 300000 v2 <"$MC_TMP/v"
	expect_eq "published buffer no longer writable" "$?" 3
done

# A second start of an open key is refused.
start dup 100
http POST /api/v1/put_start -d '{"key":"dup","size":100}'
expect_eq "second put_start of an open key" "$HTTP_CODE" 409
http POST /api/v1/put_revoke -d '{"key":"dup"}'
expect_eq "revoke dup" "$HTTP_CODE" 200

# WRITEs outside an open put are refused and change nothing.
printf 'keep me' >"$MC_TMP/keep"
http PUT /api/put/keep --data-binary @"$MC_TMP/keep"
a=$(curl -s "$MC_URL/query_key?key=keep" |
	grep -o '"buffer_address_": *[0-9]*' | head -n1 | grep -o '[0-9]*$')
printf 'XXXXXXX' | xwrite "$a" 7 v2
expect_eq "write to a published replica rejected" "$?" 3
printf 'XXXXXXX' | xwrite "$a" 7 v1
expect_eq "v1 write to a published replica closed" "$?" 4
printf 'X' | xwrite 4096 1 v2
expect_eq "write outside the store rejected" "$?" 3
http GET /api/get/keep
expect_eq "the replica is unchanged" "$HTTP_BODY" "keep me"

# put_end without the bytes: a consistent object of the started size.
start blank 1000
http POST /api/v1/put_end -d '{"key":"blank"}'
expect_eq "put_end of an unwritten put" "$HTTP_CODE" 200
curl -s -o "$MC_TMP/got" "$MC_URL/api/get/blank"
expect_eq "unwritten object has its size" "$(stat -c %s "$MC_TMP/got")" 1000
a=$(curl -s "$MC_URL/query_key?key=blank" |
	grep -o '"buffer_address_": *[0-9]*' | head -n1 | grep -o '[0-9]*$')
"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 1000 >"$MC_TMP/got2"
check "port and HTTP agree on the unwritten object" cmp -s "$MC_TMP/got" "$MC_TMP/got2"
curl -s -X DELETE "$MC_URL/api/remove/blank?force=true" >/dev/null
curl -s -X DELETE "$MC_URL/api/remove/pv1?force=true" >/dev/null
curl -s -X DELETE "$MC_URL/api/remove/pv2?force=true" >/dev/null
curl -s -X DELETE "$MC_URL/api/remove/keep?force=true" >/dev/null

# Revoke frees the space and the buffer.
start gone 1048576
check "put_start takes space" [ "$(used)" -gt "$base" ]
http POST /api/v1/put_revoke -d '{"key":"gone"}'
expect_eq "put_revoke" "$HTTP_CODE" 200
head -c 1048576 /dev/zero | xwrite "$ADDR" 1048576 v2
expect_eq "revoked buffer not writable" "$?" 3
http POST /api/v1/put_end -d '{"key":"gone"}'
expect_eq "put_end after revoke" "$HTTP_CODE" 404
http GET /api/get/gone
expect_eq "revoked put not published" "$HTTP_CODE" 404

# A client killed mid-WRITE leaves nothing published.
start dies 1048576
mkfifo "$MC_TMP/fifo"
"$XC" 127.0.0.1 "$MC_XPORT" write "$ADDR" 1048576 v2 <"$MC_TMP/fifo" 2>/dev/null &
cpid=$!
exec 7>"$MC_TMP/fifo"
head -c 1000 /dev/zero >&7
sleep 0.3
{ kill -KILL "$cpid"; wait "$cpid"; } 2>/dev/null
exec 7>&-
http GET /api/exist/dies
expect_match "killed writer left nothing published" "$HTTP_BODY" '"exists": *false'
# and one whose input ends early, the same
head -c 1000 /dev/zero | xwrite "$ADDR" 1048576 v2
check "short writer fails" [ "$?" != 0 ]
http GET /api/get/dies
expect_eq "short writer left nothing published" "$HTTP_CODE" 404
http POST /api/v1/put_revoke -d '{"key":"dies"}'
expect_eq "the dying put can be revoked" "$HTTP_CODE" 200

# A v1 writer (done when its bytes are sent) that stalls in the middle of
# a WRITE while put_end comes: put_end refuses (409) and publishes
# nothing; once the WRITE is whole, put_end publishes every byte of it.
head -c 1048576 /dev/urandom >"$MC_TMP/sv"
printf 'old' | curl -s -X PUT --data-binary @- "$MC_URL/api/put/stall" >/dev/null
start stall 1048576
mkfifo "$MC_TMP/slow"
"$XC" 127.0.0.1 "$MC_XPORT" write "$ADDR" 1048576 v1 stream <"$MC_TMP/slow" 2>/dev/null &
cpid=$!
exec 7>"$MC_TMP/slow"
head -c 524288 "$MC_TMP/sv" >&7
sleep 0.3
http POST /api/v1/put_end -d '{"key":"stall"}'
expect_eq "put_end while a WRITE streams: 409" "$HTTP_CODE" 409
expect_match "saying why" "$HTTP_BODY" 'still in flight'
curl -s -o "$MC_TMP/got" "$MC_URL/api/get/stall"
printf old >"$MC_TMP/old"
check "readers keep the old value, whole" cmp -s "$MC_TMP/got" "$MC_TMP/old"
tail -c +524289 "$MC_TMP/sv" >&7
exec 7>&-
wait "$cpid"
expect_eq "the writer finishes" "$?" 0
http POST /api/v1/put_end -d '{"key":"stall"}'
expect_eq "then put_end publishes" "$HTTP_CODE" 200
curl -s -o "$MC_TMP/got" "$MC_URL/api/get/stall"
check "every byte of the new value" cmp -s "$MC_TMP/got" "$MC_TMP/sv"

expect_match "write bytes counted" "$(curl -s "$MC_URL/metrics" |
	sed -n 's/^mooncake_transfer_bytes_total{direction="write"} //p')" '^[1-9]'

# The timeout revokes an unfinished put.
mc_stop
mc_start --put-timeout 500
base=$(used)
start late 1048576
check "late put takes space" [ "$(used)" -gt "$base" ]
for _ in $(seq 40); do
	[ "$(used)" = "$base" ] && break
	sleep 0.1
done
expect_eq "timed-out put frees its space" "$(used)" "$base"
head -c 10 /dev/zero | xwrite "$ADDR" 10 v2
expect_eq "timed-out buffer not writable" "$?" 3
http POST /api/v1/put_end -d '{"key":"late"}'
expect_eq "put_end after the timeout" "$HTTP_CODE" 404
expect_eq "all space back" "$(used)" "$base"


mc_stop
mc_done
