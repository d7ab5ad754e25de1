#!/bin/bash
# web_slow.sh - clients that connect and stall must not delay others
# (mooncake-http(7), LIMITS): with 1,000 connections holding half a
# request line, half a header or a body trickled a byte at a time, new
# clients' GET /health are answered at once; every stalled one is
# dropped after --header-timeout (408, nothing stored), while a slow
# but steady body and a client that keeps its connection are served.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/web_lib.sh"

STALL=${HTTP_STALL:-${top_builddir:-.}/tests/http_stall}
# 1,000 sockets on each side, and a worker thread for each
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 2200 ]; then
	echo "the hard limit of open files ($(ulimit -Hn)) is below 2200"
	exit 77
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# a write to a connection the daemon closed is a failed check, not the end
trap '' PIPE
mc_start --header-timeout 1000 --max-body 1M
wait_healthy
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$MC_PID/status"; }
threads() { awk '/^Threads/ { print $2 }' "/proc/$MC_PID/status"; }
echo "idle: $(threads) threads, VmRSS $(rss) kB"

# --- 1,000 stalled clients; a probe's limit is far above the 100 ms
# the man page promises (a loaded machine), and far below what the old
# daemon took (a probe waited for a stalled client's 10 s timeout).
for mode in mix line header body; do
	n=1000
	[ $mode = mix ] || n=100
	"$STALL" -p "$MC_PORT" -n $n -m $mode -k 20 -l 1000 -w 8 -r \
		> "$MC_TMP/stall" 2>&1 &
	sp=$!
	sleep 1
	during=$(rss)
	wait $sp
	rc=$?
	sed "s/^/$mode: /" "$MC_TMP/stall"
	echo "$mode: VmRSS $during kB while held"
	expect_eq "$n stalled ($mode): every probe answered, all dropped" "$rc" 0
	expect_match "$n stalled ($mode): all held" "$(cat "$MC_TMP/stall")" \
		"^held $n of $n"
	expect_match "$n stalled ($mode): the first dropped got 408" \
		"$(cat "$MC_TMP/stall")" "first answer 408"
	still_healthy "$n stalled clients ($mode)"
done
http GET /api/exist/stall
expect_eq "no trickled body was stored" "$HTTP_BODY" '{"exists": false}'
echo "after: VmRSS $(rss) kB"

# --- one slow head: dropped within a second or so of --header-timeout
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
t0=$(date +%s%N)
printf 'GET /health HTTP/1.1\r\nHost: x\r\n' >&3
IFS= read -r -t 10 line <&3
t1=$(date +%s%N)
exec 3<&-
expect_eq "a stalled head: 408" "${line%$'\r'}" "HTTP/1.1 408 Request Timeout"
ms=$(((t1 - t0) / 1000000))
echo "a stalled head was dropped after $ms ms"
check "... after the header timeout (1000 ms), not before" [ "$ms" -ge 950 ]
check "... and not much later" [ "$ms" -lt 3000 ]

# --- a head trickled a byte each 300 ms: dropped, though never silent
(
	printf 'GET /health HTTP/1.1\r\nHost: x\r\n'
	for i in $(seq 20); do printf 'X'; sleep 0.3; done
) > "/dev/tcp/127.0.0.1/$MC_PORT" 2>/dev/null &
tp=$!
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&3
t0=$(date +%s%N)
for i in $(seq 20); do printf 'y' >&3 2>/dev/null || break; sleep 0.3; done &
wp=$!
IFS= read -r -t 10 line <&3
t1=$(date +%s%N)
kill $wp $tp 2>/dev/null
wait $wp $tp 2>/dev/null
exec 3<&-
expect_eq "a trickled head: 408" "${line%$'\r'}" "HTTP/1.1 408 Request Timeout"
ms=$(((t1 - t0) / 1000000))
check "... dropped after about the header timeout ($ms ms)" [ "$ms" -lt 3000 ]

# --- a body slower than 1 KiB/s once the timeout has passed: 408, nothing
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'PUT /api/put/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n' >&3
for i in $(seq 30); do printf 'abcdefghij' >&3 2>/dev/null || break; sleep 0.1; done &
wp=$!
IFS= read -r -t 10 line <&3
kill $wp 2>/dev/null
wait $wp 2>/dev/null
exec 3<&-
expect_eq "a body at 100 B/s: 408" "${line%$'\r'}" "HTTP/1.1 408 Request Timeout"
http GET /api/exist/slowbody
expect_eq "... and nothing of it stored" "$HTTP_BODY" '{"exists": false}'

# pipe_raw FILE: stdin to a new connection as it comes; the answer
# (until the server closes) into FILE.
pipe_raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
	timeout 10 cat <&3 > "$1" &
	local rp=$!
	cat >&3
	wait $rp
	exec 3<&-
}

# --- a slow but steady body (about 4 KiB/s for 2.5 s) is read whole,
# through the watchdog's pokes; chunked too
body=$(head -c 1000 /dev/zero | tr '\0' k)
{
	printf 'PUT /api/put/steady HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\nConnection: close\r\n\r\n'
	for i in $(seq 10); do printf '%s' "$body"; sleep 0.25; done
} | pipe_raw "$MC_TMP/steady"
expect_eq "a steady 4 KiB/s body over 2.5 s: 200" \
	"$(head -n1 "$MC_TMP/steady" | tr -d '\r')" "HTTP/1.1 200 OK"
expect_eq "... stored whole" "$(curl -s "$MC_URL/api/get/steady" | wc -c)" 10000
{
	printf 'PUT /api/put/steadyc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
	for i in $(seq 10); do printf '3e8\r\n%s\r\n' "$body"; sleep 0.25; done
	printf '0\r\n\r\n'
} | pipe_raw "$MC_TMP/steady"
expect_eq "a steady chunked body over 2.5 s: 200" \
	"$(head -n1 "$MC_TMP/steady" | tr -d '\r')" "HTTP/1.1 200 OK"
expect_eq "... stored whole" "$(curl -s "$MC_URL/api/get/steadyc" | wc -c)" 10000

# --- a kept-alive connection is served again within the timeout, and
# closed (without an answer) once idle for it
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&3
IFS= read -r -t 5 line <&3
expect_eq "keep-alive: first answer" "${line%$'\r'}" "HTTP/1.1 200 OK"
sleep 0.5
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&3
timeout 5 cat <&3 > "$MC_TMP/ka"
rc=$?
exec 3<&-
expect_eq "keep-alive: served again" "$(grep -ao 'HTTP/1.1 [0-9]*' "$MC_TMP/ka")" \
	"HTTP/1.1 200"
expect_eq "keep-alive: then closed once idle for the timeout" "$rc" 0

still_healthy "slow clients"
mc_stop

# A body as large as --max-body allows is announced, and 7 bytes of it
# come: the JSON routes' buffers grow with what came, so no --max-body,
# however large, lets one head take the daemon's memory (it answers 408
# once the body stalls, as any other).
mc_start --no-fuse --header-timeout 1000 --max-body 9223372036854775807
for route in "PUT /api/put" "POST /api/mount" "POST /api/v1/put_start" \
	"POST /api/unmount"; do
	exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
	printf '%s HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775807\r\n\r\n{"key":' "$route" >&3
	IFS= read -r -t 10 line <&3
	exec 3<&-
	expect_eq "$route, a Content-Length of 2^63-1 and 7 bytes: 408" \
		"${line%$'\r'}" "HTTP/1.1 408 Request Timeout"
done
still_healthy "huge announced bodies"
mc_stop
mc_done
