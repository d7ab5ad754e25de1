#!/bin/bash
# web_send.sh - a large value's answer leaves in one gathering write on
# the connection's own socket (web/web.c, conn_fd): the bytes are right
# whatever the connection did before (kept alive, pipelined requests), a
# client that stops reading is dropped after --header-timeout without
# progress, and one that reads slowly but steadily gets every byte.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

trap '' PIPE
mc_start --header-timeout 1000 --segment-size 128M --max-body 64M
wait_healthy

head -c 1048576 /dev/urandom >"$MC_TMP/v1"
head -c $((16 << 20)) /dev/urandom >"$MC_TMP/v16"
http PUT /api/put/v1 --data-binary "@$MC_TMP/v1"
expect_eq "PUT 1 MiB" "$HTTP_CODE" 200
http PUT /api/put/v16 --data-binary "@$MC_TMP/v16"
expect_eq "PUT 16 MiB" "$HTTP_CODE" 200

# --- one connection, kept alive: three answers, each byte for byte
curl -s -o "$MC_TMP/a1" -o "$MC_TMP/a2" -o "$MC_TMP/a3" \
	-w '%{num_connects}\n' "$MC_URL/api/get/v1" "$MC_URL/health" \
	"$MC_URL/api/get/v1" >"$MC_TMP/conns"
check "a kept-alive connection: the first value whole" cmp -s "$MC_TMP/a1" "$MC_TMP/v1"
expect_eq "... then /health on it" "$(cat "$MC_TMP/a2")" "OK"
check "... then the value again, whole" cmp -s "$MC_TMP/a3" "$MC_TMP/v1"
expect_eq "... over one connection" "$(paste -sd' ' "$MC_TMP/conns")" "1 0 0"

# --- pipelined: two GETs in one write (the second head comes with the
# first's bytes), the second closing; both answers exactly as expected
ans() { # ans [close]: the head and body of a 1 MiB answer
	printf 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n'
	printf 'Content-Length: 1048576\r\n%s\r\n' "${1:+Connection: close$'\r\n'}"
	cat "$MC_TMP/v1"
}
printf 'GET /api/get/v1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/get/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
	>"$MC_TMP/req"
raw_file "$MC_TMP/req"
{ ans; ans close; } >"$MC_TMP/want"
check "two pipelined GETs: both answers byte for byte" cmp -s "$RAW_FILE" "$MC_TMP/want"

# --- a client that asks for 16 MiB and reads nothing: the daemon gives
# up once the answer made no progress for the header timeout (1 s), and
# closes; meanwhile others are served
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /api/get/v16 HTTP/1.1\r\nHost: x\r\n\r\n' >&3
sleep 0.3
t0=$(date +%s%N)
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$MC_URL/health")
t1=$(date +%s%N)
expect_eq "a stalled reader: others are answered" "$code" 200
check "... at once ($(((t1 - t0) / 1000000)) ms)" [ $(((t1 - t0) / 1000000)) -lt 1000 ]
sleep 2.5
n=$(timeout 10 cat <&3 | wc -c)
rc=${PIPESTATUS[0]}
exec 3<&-
expect_eq "... its connection was closed (EOF, not our timeout)" "$rc" 0
check "... after part of the answer ($n bytes)" [ "$n" -gt 0 -a "$n" -lt $((16 << 20)) ]
still_healthy "a reader that stopped"

# --- a reader that takes 2 MiB every 0.4 s (never a second without
# progress): every byte
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /api/get/v16 HTTP/1.1\r\nHost: x\r\n\r\n' >&3
IFS= read -r -t 5 status <&3
while IFS= read -r -t 5 line <&3 && [ "$line" != $'\r' ]; do :; done
: >"$MC_TMP/slow"
for _ in $(seq 8); do
	sleep 0.4
	timeout 5 dd bs=2M count=1 iflag=fullblock status=none <&3 >>"$MC_TMP/slow"
done
expect_eq "a slow steady reader: 200" "${status%$'\r'}" "HTTP/1.1 200 OK"
check "... every byte of 16 MiB" cmp -s "$MC_TMP/slow" "$MC_TMP/v16"
exec 3<&-

mc_stop
mc_done
