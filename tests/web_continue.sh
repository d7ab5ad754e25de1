#!/bin/bash
# web_continue.sh - Expect: 100-continue over a real socket, as curl sends
# it for bodies over 1 MiB: the interim answer comes at once, before any
# byte of the body; a request refused before its body is read (413, 401,
# 404, 405) gets its final answer at once, no 100, and its connection is
# closed without waiting for a body the client will never send.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

# a write to a connection the daemon closed is a failed check, not the end
trap '' PIPE
printf 's3cret\n' > "$MC_TMP/token"
mc_start --max-body 4M --auth-token-file "$MC_TMP/token"
wait_healthy
A='Authorization: Bearer s3cret\r\n'

# send_head HEAD: HEAD alone (no body) on a new connection (fd 3, left
# open); LINE is the first line that comes back within 2 s, without CR.
send_head() {
	exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
	printf '%b' "$1" >&3
	LINE=""
	IFS= read -r -t 2 LINE <&3
	LINE=${LINE%$'\r'}
}
next_line() {
	LINE=""
	IFS= read -r -t 2 LINE <&3
	LINE=${LINE%$'\r'}
}

send_head "PUT /api/put/c HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
expect_eq "100 Continue before any body byte" "$LINE" "HTTP/1.1 100 Continue"
next_line
expect_eq "the interim answer ends with an empty line" "$LINE" ""
printf 'hello' >&3
next_line
expect_eq "the body then sent is stored: 200" "$LINE" "HTTP/1.1 200 OK"
exec 3<&-
expect_eq "the value" "$(curl -s "$MC_URL/api/get/c")" hello

# The same for the JSON put and a chunked body.
send_head "PUT /api/put HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
expect_eq "chunked: 100 Continue first" "$LINE" "HTTP/1.1 100 Continue"
printf '1b\r\n{"key":"cj","value":"json"}\r\n0\r\n\r\n' >&3
next_line
next_line
expect_eq "chunked: then 200" "$LINE" "HTTP/1.1 200 OK"
exec 3<&-
expect_eq "the chunked JSON value" "$(curl -s "$MC_URL/api/get/cj")" json

# Refused before the body: the final answer at once, then the close.
while IFS='~' read -r desc want req; do
	[ -n "$desc" ] || continue
	send_head "$req"
	expect_eq "$desc: the final answer, no 100" "$LINE" "$want"
	timeout 2 cat <&3 >/dev/null 2>&1
	expect_eq "$desc: the connection is closed, no body awaited" "$?" 0
	exec 3<&-
	still_healthy "$desc"
done <<EOF
over --max-body~HTTP/1.1 413 Payload Too Large~PUT /api/put/c HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n
no token~HTTP/1.1 401 Unauthorized~PUT /api/put/c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n
no such path~HTTP/1.1 404 Not Found~PUT /nope HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n
wrong method~HTTP/1.1 405 Method Not Allowed~PUT /health HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n
bad framing~HTTP/1.1 400 Bad Request~PUT /api/put/c HTTP/1.1\r\nHost: x\r\n${A}Expect: 100-continue\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n
EOF
expect_eq "nothing refused was stored" "$(curl -s "$MC_URL/api/get/c")" hello

# curl sends Expect: 100-continue for a body over 1 MiB and waits a
# second for the interim answer before it sends the body anyway.
head -c 3000000 /dev/urandom > "$MC_TMP/big"
curl -s -v -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT \
	-H 'Authorization: Bearer s3cret' --data-binary @"$MC_TMP/big" \
	"$MC_URL/api/put/big" > "$MC_TMP/curl.out" 2> "$MC_TMP/curl.err"
check "curl got 100 Continue" grep -q '^< HTTP/1.1 100 Continue' "$MC_TMP/curl.err"
expect_eq "curl's 3 MB put: 200" "$(cut -d' ' -f1 "$MC_TMP/curl.out")" 200
echo "a 3 MB curl put took $(cut -d' ' -f2 "$MC_TMP/curl.out") s"
curl -s -o "$MC_TMP/got" "$MC_URL/api/get/big"
check "the 3 MB value reads back" cmp -s "$MC_TMP/big" "$MC_TMP/got"
curl -s -v -o /dev/null -X PUT --data-binary @"$MC_TMP/big" \
	"$MC_URL/api/put/big" 2> "$MC_TMP/curl.err"
check "without the token: 401 and no 100" \
	sh -c "grep -q '^< HTTP/1.1 401' '$MC_TMP/curl.err' && ! grep -q '100 Continue' '$MC_TMP/curl.err'"

mc_stop
mc_done
