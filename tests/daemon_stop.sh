#!/bin/bash
# daemon_stop.sh - SIGTERM and SIGINT stop the daemon gracefully
# (mooncaked(8), SIGNALS): the listener closes at once, a request under
# way is read, stored and answered, /health says 503 on a connection
# already open, connections waiting between requests are closed, then
# the FUSE tree goes and the daemon exits 0; --shutdown-timeout bounds
# the wait, and a second signal ends it at once.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# exit_within PID MS: wait up to MS for PID to end; WAIT_RC its status
# ("hung" after MS, when it is killed), WAIT_MS how long it took.
exit_within() {
	local t0 i
	t0=$(now_ms)
	WAIT_RC=hung
	for i in $(seq $(($2 / 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1"
		wait "$1" 2>/dev/null
	else
		WAIT_RC=0
		wait "$1" || WAIT_RC=$?
	fi
	WAIT_MS=$(($(now_ms) - t0))
	MC_PID=""
}
# status_of FD: the status code of the first answer line on FD (5 s).
status_of() {
	local line=""
	IFS= read -r -t 5 line <&"$1"
	line=${line%$'\r'}
	echo "${line#HTTP/1.1 }" | cut -d' ' -f1
}

# a write to a connection the daemon closed is a failed check, not the end
trap '' PIPE
FUSE=
[ -e /dev/fuse ] && FUSE=--fuse
# (timeouts long enough that a loaded machine drops nothing here)
mc_start $FUSE --header-timeout 20000 --shutdown-timeout 30000
URL=$MC_URL

# Before the signal: a PUT whose body is half sent (fd 3), a kept-alive
# connection between requests (fd 4), a connection with half a request
# head (fd 5), a fresh connection that has sent nothing yet (fd 6), and
# two kept-alive connections with half the head of their second request:
# a PUT (fd 8) and a GET /health (fd 9); one more fresh connection (KG).
exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'PUT /api/put/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n' >&3
head -c 10000 /dev/zero | tr '\0' a >&3
exec 4<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&4
expect_eq "keep-alive: first answer" "$(status_of 4)" 200
exec 5<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHo' >&5
exec 6<>"/dev/tcp/127.0.0.1/$MC_PORT"
exec 8<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&8
expect_eq "keep-alive PUT: first answer" "$(status_of 8)" 200
exec 9<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&9
expect_eq "keep-alive GET: first answer" "$(status_of 9)" 200
exec {KG}<>"/dev/tcp/127.0.0.1/$MC_PORT"
sleep 0.2
# (status_of read the first status lines; the rest comes with the next)
printf 'PUT /api/put/kept HTTP/1.1\r\nHost: x\r\nContent-Le' >&8
printf 'GET /health HTTP/1.1\r\nHo' >&9
sleep 0.3
PID=$MC_PID
kill -TERM "$PID"
t0=$(now_ms)
sleep 0.2

# the listener is closed at once
if (exec 7<>"/dev/tcp/127.0.0.1/$MC_PORT") 2>/dev/null; then refused=no; else refused=yes; fi
expect_eq "a new connection is refused at once" "$refused" yes
check "the daemon still runs while requests are under way" kill -0 "$PID"
# the kept-alive connection between requests is closed, unanswered
timeout 2 cat <&4 > "$MC_TMP/ka"
expect_eq "an idle kept-alive connection is closed" "$?" 0
expect_eq "... without an answer" "$(grep -ac 'HTTP/1.1' "$MC_TMP/ka")" 0
exec 4<&-
# the half-sent head ends: 503 from /health, and the connection closes
printf 'st: x\r\n\r\n' >&5
expect_eq "/health on a connection already open: 503" "$(status_of 5)" 503
timeout 2 cat <&5 > /dev/null
expect_eq "... and that connection is then closed" "$?" 0
exec 5<&-
# a kept-alive connection's second request, half received: it finishes
# like a first one (the PUT is stored, /health says 503)
printf 'ngth: 3\r\n\r\nabc' >&8
timeout 5 cat <&8 > "$MC_TMP/ka8"
expect_eq "a kept-alive connection's half-received PUT: 200" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$MC_TMP/ka8" | cut -d' ' -f2 | tr '\n' ' ')" "200 "
exec 8<&-
printf 'st: x\r\n\r\n' >&9
timeout 5 cat <&9 > "$MC_TMP/ka9"
expect_eq "a kept-alive connection's half-received /health: 503" \
	"$(grep -ao 'HTTP/1.1 [0-9]*' "$MC_TMP/ka9" | cut -d' ' -f2 | tr '\n' ' ')" "503 "
exec 9<&-
printf 'GET /api/get/kept HTTP/1.1\r\nHost: x\r\n\r\n' >&$KG
timeout 5 cat <&$KG > "$MC_TMP/kept"
exec {KG}<&-
expect_eq "... and its value is stored" "$(sed '1,/^\r$/d' "$MC_TMP/kept")" abc
# the rest of the body arrives: read, stored and answered 200
head -c 10000 /dev/zero | tr '\0' b >&3
timeout 5 cat <&3 > "$MC_TMP/inflight"
expect_eq "the PUT whose body was arriving: answered, then closed" "$?" 0
expect_eq "... 200" "$(grep -ao 'HTTP/1.1 [0-9]*' "$MC_TMP/inflight" | cut -d' ' -f2 | tr '\n' ' ')" "200 "
check "... with Connection: close" grep -aqi '^Connection: close' "$MC_TMP/inflight"
exec 3<&-
# the fresh connection can still ask, and sees the value stored
printf 'GET /api/get/inflight HTTP/1.1\r\nHost: x\r\n\r\n' >&6
timeout 5 cat <&6 > "$MC_TMP/got"
exec 6<&-
expect_eq "the stored value, seen on a connection opened before the signal" \
	"$(sed '1,/^\r$/d' "$MC_TMP/got" | wc -c)" 20000
check "... with Connection: close" grep -aqi '^Connection: close' "$MC_TMP/got"

exit_within "$PID" 20000
expect_eq "then the daemon exits 0" "$WAIT_RC" 0
echo "stopped $(($(now_ms) - t0)) ms after SIGTERM"
check "well before --shutdown-timeout (nothing was left)" [ $(($(now_ms) - t0)) -lt 15000 ]
if [ -n "$FUSE" ]; then
	check "the FUSE tree is unmounted" sh -c "! mountpoint -q '$MC_MNT'"
fi
grep -q 'stopping on SIGTERM' "$MC_ERR"
expect_eq "the log says why it stops" "$?" 0

# --- idle: SIGINT stops at once
mc_start --shutdown-timeout 8000
curl -s "$MC_URL/health" > /dev/null
PID=$MC_PID
kill -INT "$PID"
exit_within "$PID" "$(mc_ms 5000)"
expect_eq "SIGINT with nothing under way: exit 0" "$WAIT_RC" 0
echo "an idle daemon stopped in $WAIT_MS ms"
check "... within a second" [ "$WAIT_MS" -lt "$(mc_ms 1000)" ]

# long_put_then_term: a PUT whose 1 MB body comes at 10 kB/s for 100 s
# (fd 3; WP the sender), then SIGTERM to the daemon (PID). The rate is
# ten times the least the daemon lets a body go at (mooncake-http(7),
# LIMITS), so a sender slowed down by a loaded machine is still not cut.
long_put_then_term() {
	exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
	printf 'PUT /api/put/long HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n' >&3
	(for i in $(seq 500); do head -c 2000 /dev/zero >&3 2>/dev/null || break; sleep 0.2; done) &
	WP=$!
	# the request must be under way when the signal comes: a slow
	# (sanitized, loaded) daemon needs longer to take its head
	sleep "$(awk -v ms="$(mc_ms 500)" 'BEGIN { print ms / 1000 }')"
	PID=$MC_PID
	kill -TERM "$PID"
}
end_long_put() {
	kill $WP 2>/dev/null
	wait $WP 2>/dev/null
	# what the put got, if anything, before its connection went
	timeout 2 cat <&3 >"$MC_TMP/long.answer" 2>/dev/null
	exec 3<&-
}

# --- a body still arriving (10 kB/s, steady) when --shutdown-timeout ends
mc_start --header-timeout 1000 --shutdown-timeout 1500
long_put_then_term
exit_within "$PID" $((1500 + $(mc_ms 4500)))
end_long_put
expect_eq "--shutdown-timeout 1500 with a body still arriving: exit 0" "$WAIT_RC" 0
echo "stopped $WAIT_MS ms after SIGTERM with a body still arriving"
check "... after the timeout" [ "$WAIT_MS" -ge 1400 ]
check "... and not much later" [ "$WAIT_MS" -lt $((1500 + $(mc_ms 2500))) ]
grep -q 'still open after --shutdown-timeout' "$MC_ERR"
expect_eq "the log says what was cut" "$?" 0
# the put's own line, if it has one, says its answer was not sent,
# unless the client did get that answer
line=$(grep -E 'http: [0-9]+ PUT /api/put/long' "$MC_ERR" | tail -1)
got=$(head -c 12 "$MC_TMP/long.answer" 2>/dev/null)
check "... and no answer that never went claims it did ($got)" \
	bash -c "[ -z \"\$1\" ] || [[ \"\$1\" == *'not sent: the connection was closed'* ]] ||
		[ \"\$2\" = \"HTTP/1.1 \$(echo \"\$1\" | sed -E 's/.*http: ([0-9]+) .*/\1/')\" ]" _ "$line" "$got"

# --- a second signal ends the wait at once
mc_start --header-timeout 1000 --shutdown-timeout 60000
long_put_then_term
# signals do not queue: the second must come after the first was taken
for _ in $(seq 100); do
	grep -q 'stopping on SIGTERM' "$MC_ERR" && break
	sleep 0.05
done
sleep 0.5
kill -TERM "$PID" 2>/dev/null
exit_within "$PID" "$(mc_ms 5000)"
end_long_put
expect_eq "a second SIGTERM: exit 0" "$WAIT_RC" 0
check "... at once, not after --shutdown-timeout ($WAIT_MS ms)" [ "$WAIT_MS" -lt "$(mc_ms 3000)" ]
grep -q 'a second signal: not waiting for 1 HTTP connection' "$MC_ERR"
expect_eq "the log says the body was still arriving" "$?" 0

mc_done
