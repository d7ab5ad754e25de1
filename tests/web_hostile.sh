#!/bin/bash
# web_hostile.sh - requests a client should never send, sent raw over
# /dev/tcp: each gets its 4xx (or its exact answer) and the daemon keeps
# answering /health, also while a slow client holds a connection.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

mc_start --max-body 1M
wait_healthy

# A slow client: half a request line, then nothing. It holds a worker
# until request_timeout_ms (10 s) while the rest of this script runs.
# A reader in the background notes when the server dropped it.
exec 4<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: slow\r\n' >&4
SLOW_START=$SECONDS
(timeout 30 cat <&4 >/dev/null 2>&1; echo "$? $SECONDS" > "$MC_TMP/slow") &
SLOW_READER=$!
exec 4<&-

C='Connection: close\r\n'

# table: DESC~EXPECTED STATUS (a regex)~REQUEST (printf %b)
while IFS='~' read -r desc want req; do
	[ -n "$desc" ] || continue
	raw "$req"
	expect_match "$desc: status" "$RAW_STATUS" "^($want)\$"
	still_healthy "$desc"
done <<EOF
NUL in the path~400~GET /api/get/a\\0b HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
raw CR in the path~400~GET /api/get/a\\rb HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
raw LF in the path~400~GET /api/get/a\\nb HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
raw blank in the path~400~GET /api/get/a b HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
invalid UTF-8 raw in the path~400~GET /api/get/\\xff\\xfe HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
%00 in a key~400~GET /api/get/a%00b HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
%00 in a query key~400~GET /query_key?key=%00 HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
%00 in a batch key~400~GET /batch_query_keys?keys=a,%00 HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
truncated escape in a key~400~GET /api/get/a%4 HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
%0D%0A in a key is a key~404~GET /api/get/%0D%0A HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
percent-encoded invalid UTF-8 is a key~404~GET /api/get/%FF%FE HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
no HTTP version~400~GET /health\\r\\n\\r\\n
unknown HTTP version~505~GET /health HTTP/9.9\\r\\nHost: x\\r\\n$C\\r\\n
garbage request line~400~\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03\\r\\n\\r\\n
unknown method~405~BREW /health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
lower-case method (methods are case-sensitive)~405~get /health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
TRACE on a known path~405~TRACE /health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
TRACE on the status page~405~TRACE / HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
LINK on a known prefix~405~LINK /api/put/k?x=1 HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
TRACE on an unknown path~404~TRACE /nope HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
TRACE in absolute-form~405~TRACE http://h:$MC_PORT/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
CONNECT on a known path~405~CONNECT /health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
CONNECT to an authority (no path to answer for)~400~CONNECT 127.0.0.1:22 HTTP/1.1\\r\\nHost: 127.0.0.1:22\\r\\n$C\\r\\n
an unknown method with a bad version~400~TRACE /health 1.1\\r\\nHost: x\\r\\n$C\\r\\n
header without a colon~400~GET /health HTTP/1.1\\r\\nHost x\\r\\n$C\\r\\n
a blank before the colon~400~GET /health HTTP/1.1\\r\\nHost : x\\r\\n$C\\r\\n
a tab before the colon~400~GET /health HTTP/1.1\\r\\nHost\\t: x\\r\\n$C\\r\\n
bad Content-Length~400~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: abc\\r\\n$C\\r\\n
negative Content-Length~400~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: -5\\r\\n$C\\r\\n
Content-Length over --max-body~413~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1048577\\r\\n$C\\r\\n
huge Content-Length~400~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 99999999999999999999999\\r\\n$C\\r\\n
100-continue over --max-body~413~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nExpect: 100-continue\\r\\nContent-Length: 2000000\\r\\n$C\\r\\n
bad chunk size~400~PUT /api/put/k HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n$C\\r\\nzz\\r\\nabc\\r\\n0\\r\\n\\r\\n
a chunk extension (mooncake-http(7))~400~PUT /api/put/cext HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n$C\\r\\n3;a=b\\r\\nabc\\r\\n0\\r\\n\\r\\n
a trailer field after the last chunk~200~PUT /api/put/ctrl HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n$C\\r\\n3\\r\\nabc\\r\\n0\\r\\nX-T: 1\\r\\n\\r\\n
chunked JSON body~200~PUT /api/put HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n$C\\r\\n8\\r\\n{"key":"\\r\\n10\\r\\nck","value":"v"}\\r\\n0\\r\\n\\r\\n
invalid UTF-8 in JSON~400~PUT /api/put HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 23\\r\\n$C\\r\\n{"key":"\\xff","value":"v"}
NUL in JSON~400~PUT /api/put HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 23\\r\\n$C\\r\\n{"key":"\\0","value":"v"}
absolute-form target~200~GET http://127.0.0.1:$MC_PORT/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form with an empty path is /~200~GET http://localhost:$MC_PORT HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form with an empty path and a query~200~GET HTTP://localhost:$MC_PORT?a=b HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form without a port (80)~200~GET http://127.0.0.1/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form at another port~200~GET http://127.0.0.1:1/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form, another host and port~200~GET http://example.com:18080/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form, empty path, another port~200~GET http://127.0.0.1:1 HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form, another port, unknown path~404~GET http://127.0.0.1:1/nope HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form, a port that is no number~400~GET http://127.0.0.1:x/health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form, no host~400~GET http:///health HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
absolute-form put at another port~200~PUT http://127.0.0.1:1/api/put/absk HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\n$C\\r\\nabs
OPTIONS *~400~OPTIONS * HTTP/1.1\\r\\nHost: x\\r\\n$C\\r\\n
HTTP/1.0 request~200~GET /health HTTP/1.0\\r\\n\\r\\n
EOF

# 405 tells what the path takes
raw "TRACE /health HTTP/1.1\r\nHost: x\r\n$C\r\n"
check "TRACE /health: Allow: GET, HEAD" grep -aq '^Allow: GET, HEAD' "$RAW_FILE"
raw "GET http://localhost:$MC_PORT HTTP/1.1\r\nHost: x\r\n$C\r\n"
check "absolute-form with an empty path: the status page" grep -aqi '^Content-Type: text/html' "$RAW_FILE"
# on a kept-alive connection too, every request gets a status
raw "GET /health HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
expect_eq "OPTIONS * after a request: both answered" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$RAW_FILE" | cut -d' ' -f2 | tr '\n' ' ')" "200 400 "
raw "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET http://127.0.0.1/health HTTP/1.1\r\nHost: x\r\n\r\n"
expect_eq "another port after a request: both answered" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$RAW_FILE" | cut -d' ' -f2 | tr '\n' ' ')" "200 200 "
# the authority is not used to route: a put at another port is stored
expect_eq "absolute-form put at another port stored" "$(curl -s "$MC_URL/api/get/absk")" abs

# the chunked JSON body above stored its value
expect_eq "chunked JSON put stored" "$(curl -s "$MC_URL/api/get/ck")" v
expect_eq "a chunk extension stores nothing" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$MC_URL/api/get/cext")" 404
expect_eq "a trailer field is ignored" "$(curl -s "$MC_URL/api/get/ctrl")" abc

# --- deep JSON ------------------------------------------------------------------
{ printf '{"size":'; head -c 100000 /dev/zero | tr '\0' '['; } > "$MC_TMP/deep"
http POST /api/mount --data-binary @"$MC_TMP/deep"
expect_eq "100000 '[' deep JSON 400" "$HTTP_CODE" 400
expect_eq "deep JSON message" "$HTTP_BODY" '{"error":"Invalid JSON body, nested too deep"}'
still_healthy "deep JSON"
{ printf '{"a":'; head -c 100000 /dev/zero | tr '\0' '{'; } > "$MC_TMP/deep"
http PUT /api/put --data-binary @"$MC_TMP/deep"
expect_eq "100000 '{' deep JSON 400" "$HTTP_CODE" 400

# --- huge headers and request lines ---------------------------------------------
big=$(head -c 2000000 /dev/zero | tr '\0' a)
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$big" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_match "2 MB header 431 or 400" "$RAW_STATUS" '^(431|400)$'
still_healthy "a 2 MB header"
# civetweb keeps 64 fields and would ignore the rest (a Content-Length
# among them too): 64 are served, more are refused
fields() { # N: a GET /health head with Host and N-1 more fields
	printf 'GET /health HTTP/1.1\r\nHost: x\r\n'
	for i in $(seq 2 "$1"); do printf 'X-H%d: v\r\n' "$i"; done
	printf '\r\n'
}
fields 64 > "$MC_TMP/req"; raw_file "$MC_TMP/req"
expect_eq "64 header fields are served" "$RAW_STATUS" 200
fields 65 > "$MC_TMP/req"; raw_file "$MC_TMP/req"
expect_eq "65 header fields 431" "$RAW_STATUS" 431
fields 200 > "$MC_TMP/req"; raw_file "$MC_TMP/req"
expect_eq "200 header fields 431" "$RAW_STATUS" 431
still_healthy "200 headers"
# one field: name + value up to 64 KiB, not a byte more
v=$(head -c $((65536 - 5)) /dev/zero | tr '\0' v)
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$v" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_eq "a 64 KiB header field is served" "$RAW_STATUS" 200
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %sv\r\n\r\n' "$v" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_eq "a header field of 64 KiB + 1 byte 431" "$RAW_STATUS" 431
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: %s\r\nX-B: %s\r\n\r\n' "$v" "$v" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_eq "two header fields of 64 KiB are served" "$RAW_STATUS" 200
still_healthy "64 KiB header fields"
# a request line of about 1 MiB is fine: 10000 keys of 99 bytes
keys=$(printf "%099d," $(seq 10000)); keys=${keys%,}
printf 'GET /batch_query_keys?keys=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$keys" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_eq "a 1 MiB request line 200" "$RAW_STATUS" 200
expect_eq "a 1 MiB request line answers every key" "$(grep -o '"ok":false' "$RAW_FILE" | wc -l)" 10000
printf 'GET /batch_query_keys?keys=%s%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$keys" "$big" > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_match "a 3 MB request line 431 or 400" "$RAW_STATUS" '^(431|414|400)$'
still_healthy "a 3 MB request line"
# exactly 1 MiB of request line is served, with 15 KiB of fields beside
# it; one byte more is 431 (civetweb alone would read up to its head limit)
line_of() { # N: a GET /health request line of exactly N bytes
	head -c $(($1 - 23)) /dev/zero | tr '\0' a | sed 's|^|GET /health?x=|; s|$| HTTP/1.1|'
}
{ line_of 1048576 | tr -d '\n'; printf '\r\nHost: x\r\nX-Pad: %s\r\nConnection: close\r\n\r\n' "$(head -c 15000 /dev/zero | tr '\0' b)"; } > "$MC_TMP/req"
expect_eq "a request line of exactly 1 MiB" "$(head -n1 "$MC_TMP/req" | tr -d '\r\n' | wc -c)" 1048576
raw_file "$MC_TMP/req"
expect_eq "a request line of exactly 1 MiB, and 15 KiB of fields: 200" "$RAW_STATUS" 200
{ line_of 1048577 | tr -d '\n'; printf '\r\nHost: x\r\nConnection: close\r\n\r\n'; } > "$MC_TMP/req"
raw_file "$MC_TMP/req"
expect_eq "a request line of 1 MiB + 1 byte: 431" "$RAW_STATUS" 431
still_healthy "a request line of 1 MiB + 1 byte"

# --- framing (RFC 9112 section 6) ---------------------------------------------
# Each request is followed on the same connection by a pipelined request
# that would store a value: the bad one is answered alone, the connection
# closed, and nothing of either reaches the store.
SMUG='PUT /api/put/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx'
while IFS='~' read -r desc want req; do
	[ -n "$desc" ] || continue
	raw "$req$SMUG"
	expect_eq "$desc: status" "$RAW_STATUS" "$want"
	expect_eq "$desc: one answer, then closed" \
		"$(grep -ac '^HTTP/1.1 [0-9]' "$RAW_FILE")" 1
	http GET /api/exist/framed
	expect_eq "$desc: nothing stored" "$HTTP_BODY" '{"exists": false}'
	http GET /api/exist/smuggled
	expect_eq "$desc: nothing smuggled" "$HTTP_BODY" '{"exists": false}'
done <<EOF
two Content-Lengths that differ~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde
a list of Content-Lengths that differ~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 5\r\n\r\nabcde
Content-Length with a sign~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc
negative Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc
Content-Length with a space inside~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabcdefghijkl
Content-Length in hex~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc
Content-Length with letters after~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3abc\r\n\r\nabc
letters for a Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc
empty Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nabc
Content-Length past 2^63-1~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\nabc
huge Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nabc
Transfer-Encoding and Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n
Content-Length and Transfer-Encoding~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n
identity coding and Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc
a coding after chunked~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n
Transfer-Encoding twice~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n
a folded line hiding a Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\n folded\r\nContent-Length: 3\r\n\r\nabc
a ':' line hiding a Content-Length~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\n:x\r\nContent-Length: 3\r\n\r\nabc
HTTP/1.1 without Host~400~PUT /api/put/framed HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc
blanks before the colon of Transfer-Encoding~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding  : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n
two Hosts~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 3\r\n\r\nabc
a blank before a Content-Length's colon~400~PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc
a blank before a Host's colon~400~PUT /api/put/framed HTTP/1.1\r\nHost : x\r\nContent-Length: 3\r\n\r\nabc
EOF
# the same framing, well formed: served
raw "PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n$C\r\nabc"
expect_eq "two equal Content-Lengths: 200" "$RAW_STATUS" 200
raw "PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n$C\r\nabc"
expect_eq "a list of equal Content-Lengths: 200" "$RAW_STATUS" 200
raw "PUT /api/put/framed HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n$C\r\nabc"
expect_eq "leading zeros: 200" "$RAW_STATUS" 200
expect_eq "the value is the 3 bytes" "$(curl -s "$MC_URL/api/get/framed")" abc
raw "PUT /api/put/framed HTTP/1.1\nHost: x\nContent-Length: 4\nConnection: close\n\nlfok"
expect_eq "bare LF line ends: 200" "$RAW_STATUS" 200
expect_eq "the value is the 4 bytes" "$(curl -s "$MC_URL/api/get/framed")" lfok
still_healthy "framing"

# --- pipelining -----------------------------------------------------------------------
raw "GET /health HTTP/1.1\r\nHost: x\r\n\r\nPUT /api/put/p1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nv1GET /api/get/p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /api/exist/p1 HTTP/1.1\r\nHost: x\r\n$C\r\n"
expect_eq "pipelined: five answers in order" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$RAW_FILE" | cut -d' ' -f2 | tr '\n' ' ')" "200 200 200 404 200 "
check "pipelined: the get sees the put" grep -aq 'v1HTTP/1.1 404' "$RAW_FILE"
check "pipelined: the last answer" grep -aq '{"exists": true}$' "$RAW_FILE"
# an error before the body is read must not turn the body into a request
raw "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\nGET /health HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n$C\r\n"
expect_eq "unread body is not a request" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$RAW_FILE" | cut -d' ' -f2 | tr '\n' ' ')" "404 200 "

# empty lines before a request line (RFC 9112 section 2.2): one is
# skipped; after two, civetweb frames the body from inside the head, so
# the request is refused and nothing of its body is stored or run
raw "\r\nPUT /api/put/blank1 HTTP/1.1\r\nHost: x\r\n${C}Content-Length: 11\r\n\r\nhello world"
expect_eq "one empty line before a put: 200" "$RAW_STATUS" 200
expect_eq "... and its body stored" "$(curl -s "$MC_URL/api/get/blank1")" "hello world"
for blank in '\r\n\r\n' '\n\n' '\r\n\n' '\r\n\r\n\r\n'; do
	raw "${blank}PUT /api/put/blank2 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
	expect_eq "'$blank' before a put: 400" "$RAW_STATUS" 400
	check "... the connection closed" grep -aqi '^Connection: close' "$RAW_FILE"
	expect_eq "... nothing stored" \
		"$(curl -s -o /dev/null -w '%{http_code}' "$MC_URL/api/get/blank2")" 404
done
curl -s -X PUT --data-binary v "$MC_URL/api/put/victim" >/dev/null
head='PUT /api/put/carrier HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n'
hlen=$(printf '%b' "$head" | wc -c)
smug='DELETE /api/remove/victim HTTP/1.1\r\nHost: x\r\nX: '
slen=$(printf '%b' "$smug" | wc -c)
pad=$(head -c $((hlen - slen - 4)) /dev/zero | tr '\0' p)
fill=$(head -c $((300 - hlen)) /dev/zero | tr '\0' F)
raw "\r\n\r\n${head}${fill}${smug}${pad}\r\n\r\n"
expect_eq "a request hidden in such a body is not run" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$RAW_FILE" | cut -d' ' -f2 | tr '\n' ' ')" "400 "
expect_eq "... the key it removes is still there" "$(curl -s "$MC_URL/api/get/victim")" v

# --- the slow client --------------------------------------------------------------------
# Others were served all along (every still_healthy above); now it must be
# dropped by the request timeout, not held forever.
wait "$SLOW_READER"
read -r rc end < "$MC_TMP/slow"
expect_eq "the slow client is disconnected by the server" "$rc" 0
check "the slow client waited at most ~12 s" test $((end - SLOW_START)) -le 13
still_healthy "the slow client"

mc_stop
mc_done
