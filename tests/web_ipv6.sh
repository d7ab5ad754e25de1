#!/bin/bash
# web_ipv6.sh - the HTTP door on an IPv6 --host (mooncaked(8), --host):
# Debian's civetweb has no IPv6, so civetweb listens on IPv4 and a relay
# on the IPv6 address, same port. Over [::1]: /health, a 4 MiB value
# stored and read back byte for byte, HEAD and keep-alive; a stalled
# client is cut by --header-timeout as over IPv4; a client that closes
# mid-body leaves no value and no descriptor; with --host :: the same
# daemon serves IPv4 too; SIGTERM with an idle IPv6 connection stops at
# once, and an answer written before it reaches a client that reads it
# late; draining refuses new IPv6 connections.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

if ! grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	echo "no IPv6 loopback (::1) on this machine"
	exit 77
fi
trap '' PIPE

now_ms() { date +%s%3N; }
fds() { ls "/proc/$MC_PID/fd" | wc -l; }
# settle: the descriptor count back to $1 within 3 s
settle() {
	local n
	for _ in $(seq 60); do
		n=$(fds)
		[ "$n" -le "$1" ] && break
		sleep 0.05
	done
	echo "$n"
}

# --- --host ::1 -------------------------------------------------------
mc_start --host ::1 --header-timeout 1000 --shutdown-timeout 8000
expect_match "the ready line names [::1]" "$MC_URL" '^http://\[::1\]:[0-9]+$'
code=$(curl -gs -o "$MC_TMP/h" -w '%{http_code}' "$MC_URL/health")
expect_eq "GET /health over [::1]" "$code $(cat "$MC_TMP/h")" "200 OK"
check "the relay's thread is named" grep -qx 'mc-http-relay-0' /proc/$MC_PID/task/*/comm
base=$(fds)

head -c 4194304 /dev/urandom > "$MC_TMP/big"
code=$(curl -gs -o /dev/null -w '%{http_code}' -X PUT \
	--data-binary @"$MC_TMP/big" "$MC_URL/api/put/big")
expect_eq "PUT of 4 MiB over [::1]" "$code" 200
code=$(curl -gs -o "$MC_TMP/got" -w '%{http_code}' "$MC_URL/api/get/big")
expect_eq "GET of 4 MiB over [::1]" "$code" 200
check "... byte for byte" cmp -s "$MC_TMP/big" "$MC_TMP/got"
code=$(curl -gs -I -o "$MC_TMP/hd" -w '%{http_code}' "$MC_URL/api/get/big")
expect_eq "HEAD over [::1]" "$code" 200
expect_match "... with the length" "$(tr -d '\r' < "$MC_TMP/hd")" 'Content-Length: 4194304'
# two requests, one connection
out=$(curl -gs -o /dev/null -o /dev/null -w '%{num_connects} ' \
	"$MC_URL/health" "$MC_URL/health")
expect_eq "keep-alive over [::1]: one connect for two requests" "$out" "1 0 "

# pipelining: two requests in one write, two answers
exec 3<>"/dev/tcp/::1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
timeout 5 cat <&3 > "$MC_TMP/pipe"
exec 3<&-
expect_eq "two pipelined requests, two answers" \
	"$(grep -ao 'HTTP/1.1 200' "$MC_TMP/pipe" | wc -l)" 2

# a client that stalls mid-head is cut by --header-timeout (1 s)
exec 3<>"/dev/tcp/::1/$MC_PORT"
printf 'GET /hea' >&3
t0=$(now_ms)
timeout 8 cat <&3 > "$MC_TMP/stall"
rc=$?
took=$(($(now_ms) - t0))
exec 3<&-
echo "a stalled IPv6 client was cut after $took ms"
expect_eq "the stalled client's connection is closed" "$rc" 0
check "... well within 8 s (header timeout 1 s)" [ "$took" -lt 5000 ]

# a client that closes mid-body: no value, no descriptor left
exec 3<>"/dev/tcp/::1/$MC_PORT"
printf 'PUT /api/put/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n' >&3
head -c 100000 /dev/zero >&3
sleep 0.2
exec 3<&-
sleep 0.3
code=$(curl -gs -o /dev/null -w '%{http_code}' "$MC_URL/api/get/cut")
expect_eq "a PUT cut mid-body stores nothing" "$code" 404
expect_eq "no descriptor left open by the relayed connections" "$(settle "$base")" "$base"

# civetweb's own listener is on 127.0.0.1 (mooncaked(8), --host)
check "127.0.0.1 reaches the same port (civetweb's own listener)" \
	curl -s -o /dev/null "http://127.0.0.1:$MC_PORT/health"

# SIGTERM with an idle kept-alive IPv6 connection: stops at once
exec 4<>"/dev/tcp/::1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&4
read -r -t 5 line <&4
expect_match "an idle IPv6 connection had its answer" "$line" '^HTTP/1.1 200'
# and a 4 MiB answer written but not yet read when the signal comes
exec 5<>"/dev/tcp/::1/$MC_PORT"
printf 'GET /api/get/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&5
sleep 0.5
kill -TERM "$MC_PID"
t0=$(now_ms)
sleep 0.2
if (exec 7<>"/dev/tcp/::1/$MC_PORT") 2>/dev/null; then refused=no; else refused=yes; fi
expect_eq "draining: a new IPv6 connection is refused" "$refused" yes
# read from now on, while the daemon stops (it waits for the relayed
# answer, --header-timeout at most)
sleep 0.3
timeout 5 cat <&5 > "$MC_TMP/late" &
late=$!
PID=$MC_PID
MC_PID=""
wait "$PID"
rc=$?
took=$(($(now_ms) - t0))
exec 4<&-
wait "$late"
exec 5<&-
sed '1,/^\r$/d' "$MC_TMP/late" > "$MC_TMP/late.body"
check "an answer read after the stop arrives whole, byte for byte" \
	cmp -s "$MC_TMP/big" "$MC_TMP/late.body"
echo "stopped $took ms after SIGTERM with an idle IPv6 connection"
expect_eq "daemon exits 0 on SIGTERM" "$rc" 0
check "... well before --shutdown-timeout (8 s)" [ "$took" -lt 4000 ]

# --- --host ::: both families, one port ------------------------------
mc_start --host ::
expect_match "the ready line names [::]" "$MC_URL" '^http://\[::\]:[0-9]+$'
code=$(curl -gs -o /dev/null -w '%{http_code}' "http://[::1]:$MC_PORT/health")
expect_eq "--host :: serves [::1]" "$code" 200
code=$(curl -s -X PUT --data-binary @"$MC_TMP/big" -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$MC_PORT/api/put/v4")
expect_eq "--host :: serves 127.0.0.1 (a PUT)" "$code" 200
code=$(curl -gs -o "$MC_TMP/got" -w '%{http_code}' "http://[::1]:$MC_PORT/api/get/v4")
expect_eq "... and what IPv4 stored is read over IPv6" "$code" 200
check "... byte for byte" cmp -s "$MC_TMP/big" "$MC_TMP/got"
mc_stop

# --- the port taken on IPv6 only (here by a transfer port): a clear error
mc_start --host ::1 --transfer-host ::1
port=$MC_XPORT
"$MOONCAKED" --host ::1 --port "$port" --transfer-port 0 --rpc-port 0 \
	--segment-size 64M --no-fuse > /dev/null 2> "$MC_TMP/taken"
expect_eq "an IPv6 port in use: exit 1" "$?" 1
expect_match "... saying so" "$(cat "$MC_TMP/taken")" "cannot listen on '\[::1\]:$port': the port is in use"
mc_stop

mc_done
