# tests/etcd_lib.sh - a real etcd for the cluster scripts (source it).
#
#   etcd_start          start a one-member etcd on free ports in a fresh
#                       directory, on $ETCD_HOST (default 127.0.0.1); sets
#                       ETCD_PID, ETCD_URL, ETCD_DIR, ETCD_PORT,
#                       ETCD_PEER_PORT
#   etcd_restart        start it again on the same directory and ports
#   etcd_stop           SIGTERM it and wait (data kept)
#   etcd_pause/resume   SIGSTOP / SIGCONT
#   etcd_cleanup        stop it and remove its directory (call from your
#                       EXIT trap; etcd_start does not set one)
#
# Tuned like tests/etcd_lib.c: 10 ms heartbeats (shortest lease 1 s),
# progress notifications every 300 ms; $ETCD_ELECTION_MS (default 100)
# sets the election timeout, heartbeats a tenth of it (1000 is etcd's own
# default, whose shortest lease is 2 s). The binary is $ETCD, else `etcd`.
# Its log is $ETCD_DIR/etcd.log.

ETCD_PID=""
ETCD_DIR=""

# etcd_free_port: a loopback port nobody listens on (etcd cannot be told
# to take port 0 and say which it took), below the kernel's ephemeral
# range: a port in it may be handed to another test's port-0 bind or
# outgoing connection before etcd binds it, or while etcd is stopped for
# a restart on the same port; below it only another such pick takes it.
etcd_free_port() {
	local p lo hi
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 11000 ] || lo=60000
	for _ in $(seq 50); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		ss -Htln "sport = :$p" | grep -q . && continue
		(: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

etcd_spawn() {
	local bin=${ETCD:-etcd} h=${ETCD_HOST:-127.0.0.1}
	local url="http://$h:$ETCD_PORT" purl="http://$h:$ETCD_PEER_PORT"
	[ -n "$bin" ] || bin=etcd
	ETCD_URL=$url
	"$bin" --name t --data-dir "$ETCD_DIR/data" \
		--listen-client-urls "$url" --advertise-client-urls "$url" \
		--listen-peer-urls "$purl" --initial-advertise-peer-urls "$purl" \
		--initial-cluster "t=$purl" \
		--heartbeat-interval $((${ETCD_ELECTION_MS:-100} / 10)) \
		--election-timeout "${ETCD_ELECTION_MS:-100}" \
		--experimental-watch-progress-notify-interval 300ms \
		>>"$ETCD_DIR/etcd.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 200); do
		if curl -sf -m 1 "$url/v3/kv/range" -d '{"key":"AA=="}' >/dev/null 2>&1; then
			return 0
		fi
		mc_child "$ETCD_PID" || break
		sleep 0.05
	done
	echo "etcd did not start; its log:" >&2
	tail -20 "$ETCD_DIR/etcd.log" >&2
	mc_signal KILL "$ETCD_PID"
	wait "$ETCD_PID" 2>/dev/null
	ETCD_PID=""
	return 1
}

etcd_start() {
	ETCD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mc-etcd.XXXXXX") || return 1
	for _ in 1 2 3 4 5; do
		ETCD_PORT=$(etcd_free_port)
		ETCD_PEER_PORT=$(etcd_free_port)
		[ "$ETCD_PORT" != "$ETCD_PEER_PORT" ] || continue
		etcd_spawn && return 0
	done
	return 1
}

etcd_restart() {
	etcd_stop
	etcd_spawn
}

etcd_stop() {
	[ -n "$ETCD_PID" ] || return 0
	mc_reap "$ETCD_PID"
	ETCD_PID=""
}

# SIGSTOP stops etcd only as each of its threads next takes the signal,
# and until then it still answers: wait until all are stopped (2 s at most).
etcd_pause() {
	[ -n "$ETCD_PID" ] || return 0
	mc_signal STOP "$ETCD_PID" || return 0
	local t s
	for _ in $(seq 200); do
		s=T
		for t in /proc/"$ETCD_PID"/task/*/stat; do
			[ -r "$t" ] || continue
			case $(sed 's/.*) \(.\).*/\1/' "$t" 2>/dev/null) in
			T | t | Z | X | "") ;;
			*) s=run ;;
			esac
		done
		[ "$s" = T ] && return 0
		sleep 0.01
	done
}
etcd_resume() { [ -z "$ETCD_PID" ] || mc_signal CONT "$ETCD_PID"; }

etcd_cleanup() {
	etcd_stop
	case $ETCD_DIR in
	*/mc-etcd.*) rm -rf "$ETCD_DIR" ;;
	esac
	ETCD_DIR=""
}
