#!/bin/bash
# bench/run.sh - every performance figure of the issues beside its
# reference, measured in one run on this machine, then one table.
#
#   bash bench/run.sh [SECTION...]     (make bench runs them all)
#
# Sections: inproc (the core in process), page (the status page's render
# time with 1,000 segments and 10^6 keys), http (the web door against a
# civetweb hello and redis-server), fs (the FUSE tree against a plain
# in-memory FUSE file system), xfer (the transfer port against a loopback
# TCP stream), te (the transfer port and /metadata as a Transfer Engine in
# its default mode uses them, against a trivial server and /health), rpc
# (the master RPC's GetReplicaList, ExistKey and a memory-less client's
# 1 MiB put, against HTTP /query_key and PUT), cluster (three nodes and
# an etcd: PUT/GET 1 MiB through a follower against a single node,
# /query_key through a follower against the leader, failover time). It builds nothing: `make bench` builds the programs first.
# Everything listens on 127.0.0.1, on ports the kernel picks (redis-server
# on a free one run.sh finds); every load is bounded in time; an EXIT trap stops every process and unmounts every
# mount it made. A section whose door is missing says so in the table
# and measures nothing.
#
# HTTP figures are the best of BENCH_ROUNDS (default 3) rounds in which
# the figure and its reference take turns, each load BENCH_DURATION
# (default 2) seconds of wrk. The in-process get and put on 200,000 keys
# are the median of BENCH_INPROC_RUNS (default 5) processes (run_inproc).
set -u

SRC=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$(pwd)}"
[ -x "$BUILD/bench/hello" ] || BUILD=$(cd "$SRC/.." && pwd)
BIN=$BUILD/bench
: "${MOONCAKED:=$BUILD/daemon/mooncaked}"
DUR=${BENCH_DURATION:-2}
ROUNDS=${BENCH_ROUNDS:-3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mc-bench.XXXXXX")
ROWS=$TMP/rows
PIDS=()
MOUNTS=()
: >"$ROWS"

cleanup() {
	local pid m
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }

# row FIGURE VALUE UNIT REFERENCE REFVALUE KIND TARGET [NOTE]
# KIND: ge / le (VALUE against TARGET), rge / rle (VALUE/REFVALUE against
# TARGET), info (no target). A NOTE marks the figure invalid.
row() {
	printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
		"${8:-}" >>"$ROWS"
	say "  $1: $2 $3 (${4}: $5)${8:+ INVALID: $8}"
}

# skip FIGURE REASON
skip() {
	printf '%s|||||skip||%s\n' "$1" "$2" >>"$ROWS"
	say "  $1: skipped: $2"
}

# start NAME CMD...: runs CMD in the background, stdout/stderr to
# $TMP/NAME.out/.err; sets PID.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PID=$!
	PIDS+=("$PID")
}

# wait_for NAME REGEX: until $TMP/NAME.out matches (10 s at most).
wait_for() {
	for _ in $(seq 200); do
		grep -qE "$2" "$TMP/$1.out" 2>/dev/null && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	say "$1 did not start:"
	cat "$TMP/$1.out" "$TMP/$1.err" >&2
	return 1
}

stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# free_port: a loopback port nobody listens on (for redis-server, which
# cannot be told to take port 0).
# free_port: a port nothing listens on, below the kernel's ephemeral
# range, so that no daemon's port 0 (HTTP, transfer) is handed it between
# this pick and its use (tests/etcd_lib.sh picks the same way).
free_port() {
	local p lo hi
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 11000 ] || lo=60000
	for _ in $(seq 50); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . && continue
		(: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

# start_hello MODE [BYTES]: sets HELLO (its URL without the final /).
start_hello() {
	local name=hello-$1${2:+-$2}
	start "$name" "$BIN/hello" "$1" 0 ${2:+"$2"}
	wait_for "$name" '^hello: http ' || return 1
	HELLO=$(sed -n 's|^hello: http \(http://[^ ]*\)/$|\1|p' "$TMP/$name.out")
}

# start_mooncaked NAME [options...]: sets MC (URL), MC_PID, MC_XHOST,
# MC_XPORT, MC_MNT (empty with --no-fuse).
start_mooncaked() {
	local name=$1
	shift
	if [ ! -x "$MOONCAKED" ]; then
		say "no $MOONCAKED"
		return 1
	fi
	start "$name" "$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 \
		--log-level warn "$@"
	MC_PID=$PID
	wait_for "$name" '^mooncaked: ready' || return 1
	MC=$(sed -n 's|^mooncaked: http \(http://[^ ]*\)/$|\1|p' "$TMP/$name.out" | head -n1)
	MC_XHOST=$(sed -n 's|^mooncaked: transfer \(.*\):[0-9]*$|\1|p' "$TMP/$name.out" | head -n1)
	MC_XPORT=$(sed -n 's|^mooncaked: transfer .*:\([0-9]*\)$|\1|p' "$TMP/$name.out" | head -n1)
	MC_MNT=$(sed -n 's|^mooncaked: fuse \(.*\)$|\1|p' "$TMP/$name.out" | head -n1)
	[ -n "$MC" ]
}

# code URL [curl args...]: the HTTP status of one request.
code() {
	local url=$1
	shift
	curl -s -o "$TMP/body" -w '%{http_code}' "$@" "$url"
}

# us_of FIRST FIELD: field FIELD of wrk's line starting with FIRST, in us.
us_of() {
	awk -v k="$1" -v f="$2" '$1 == k {
		v = $f; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		m = u == "us" ? 1 : u == "ms" ? 1000 : u == "s" ? 1e6 : -1
		print (m < 0 ? "" : v * m); exit }' "$TMP/wrk.out"
}

# wrk_run URL CONNS [wrk options...] [-- script args...]: one bounded load.
# Sets W_RPS (requests/s), W_LAT and W_P50 (average and median latency,
# us), W_BAD (a reason the figure is not valid, or empty).
wrk_run() {
	local url=$1 c=$2 opts=() args=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift && args=(-- "$@")
	wrk -t1 -c"$c" -d"${DUR}s" --timeout 5s --latency "${opts[@]}" "$url" \
		"${args[@]}" >"$TMP/wrk.out" 2>&1
	W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out")
	W_LAT=$(us_of Latency 2)
	W_P50=$(us_of 50% 2)
	W_BAD=$(awk '/Non-2xx/ { printf "%s non-2xx answers ", $NF }
		/Socket errors/ { printf "socket errors: %s ", $0 }' "$TMP/wrk.out")
	if [ -z "$W_RPS" ]; then
		W_BAD="wrk failed: $(head -c 200 "$TMP/wrk.out")"
		W_RPS=0
	fi
}

# rounds CONNS URL...: ROUNDS rounds, each one wrk load per URL in turn;
# keeps the best of each URL: R_RPS[i] (highest), R_LAT[i] and R_P50[i]
# (lowest), and R_BAD (every reason a load was not valid).
rounds() {
	local c=$1 i r
	shift
	R_RPS=() R_LAT=() R_P50=() R_BAD=""
	for ((r = 0; r < ROUNDS; r++)); do
		for ((i = 0; i < $#; i++)); do
			local u=$((i + 1))
			wrk_run "${!u}" "$c"
			R_BAD+=$W_BAD
			R_RPS[i]=$(max "${R_RPS[i]:-0}" "$W_RPS")
			R_LAT[i]=$(min "${R_LAT[i]:-}" "$W_LAT")
			R_P50[i]=$(min "${R_P50[i]:-}" "$W_P50")
		done
	done
}

# fill URL N PREFIX SIZE: PUTs N keys PREFIX0000000.. with SIZE-byte
# values (at most 120 s); 0 when all N answered success.
fill() {
	local pid
	rm -f "$TMP/fill.done"
	wrk -t1 -c1 -d120s -s "$SRC/fill.lua" "$1" -- "$2" "$3" "$4" \
		"$TMP/fill.done" >"$TMP/fill.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ ! -s "$TMP/fill.done" ]; do
		sleep 0.1
	done
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ "$(cat "$TMP/fill.done" 2>/dev/null)" = "done $2 0" ]
}

section() { say "== $1"; }

# max A B: the larger number (an empty one counts as 0).
max() {
	awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { print (b > a ? b : a) }'
}

# min A B: the smaller number (an empty one does not count).
min() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		print (a == "" ? b : b == "" ? a : (b < a ? b : a)) }'
}

# ----------------------------------------------------------------- inproc

# bench_lines NAME [ARGS...]: runs $BIN/NAME ARGS, a program that prints
# its own figures as BENCH|... lines, and makes a row of each.
bench_lines() {
	if ! "$BIN/$1" "${@:2}" >"$TMP/$1.out" 2>"$TMP/$1.err"; then
		skip "$1" "$1 failed: $(head -c 200 "$TMP/$1.err")"
		return
	fi
	sed -n 's/^BENCH|//p' "$TMP/$1.out" | while IFS='|' read -r f v u r rv k t; do
		row "$f" "$v" "$u" "$r" "$rv" "$k" "$t"
	done
}

# The get and put on 200,000 keys (issue 11's targets) run at one speed
# in some processes and at another in others (bench/RESULTS.md, "how far
# the get and put rows move between runs"), so one process cannot decide
# them: BENCH_INPROC_RUNS (default 5) separate processes of `inproc dram`
# each measure them, the store and its plain table interleaved. Each
# target row is then the process with the median ratio (the lower of the
# two middle ones when the count is even), its figure naming the lowest
# and highest ratio of all the processes; the verdict is the median's.
run_inproc() {
	local n=${BENCH_INPROC_RUNS:-5} i
	section "inproc: the core in process"
	bench_lines inproc rest
	if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
		skip "inproc, 200000 keys" "BENCH_INPROC_RUNS='$n' is not a count of processes"
		return
	fi
	: >"$TMP/dram.rows"
	for ((i = 1; i <= n; i++)); do
		if ! "$BIN/inproc" dram >"$TMP/dram.out" 2>"$TMP/dram.err"; then
			skip "inproc, 200000 keys" "process $i of $n failed: $(head -c 200 "$TMP/dram.err")"
			return
		fi
		sed -n "s/^BENCH|/$i|/p" "$TMP/dram.out" >>"$TMP/dram.rows"
		say "  (inproc dram, process $i of $n: $(awk -F'|' '$7 != "info" && $6 > 0 {
			printf "%.2f ", $3 / $6 }' "$TMP/dram.out"))"
	done
	# process|figure|value|unit|reference|refvalue|kind|target, the rows
	# of a figure in process order; one row per figure, in first-seen order
	awk -F'|' -v n="$n" '
	!($2 in seen) { seen[$2] = 1; order[++nf] = $2 }
	{ c = ++cnt[$2]; line[$2, c] = $0; ratio[$2, c] = $6 > 0 ? $3 / $6 : 0 }
	END {
		for (f = 1; f <= nf; f++) {
			k = order[f]; m = cnt[k]
			for (i = 1; i <= m; i++) idx[i] = i
			for (i = 2; i <= m; i++)	# insertion sort by ratio
				for (j = i; j > 1 && ratio[k, idx[j - 1]] > ratio[k, idx[j]]; j--) {
					t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t
				}
			split(line[k, idx[int((m + 1) / 2)]], p, "|")
			printf "%s, median of %d process%s (ratios %.2f-%.2f)|%s|%s|%s|%s|%s|%s|%s\n",
				k, m, m == 1 ? "" : "es", ratio[k, idx[1]], ratio[k, idx[m]],
				p[3], p[4], p[5], p[6], p[7], p[8],
				(m == n ? "" : "only " m " of " n " processes gave this figure")
		}
	}' "$TMP/dram.rows" | while IFS='|' read -r f v u r rv k t note; do
		row "$f" "$v" "$u" "$r" "$rv" "$k" "$t" "$note"
	done
}

# ------------------------------------------------------------------- page

run_page() {
	section "page: the status page with 1,000 segments, 10 and 10^6 keys"
	bench_lines page
}

# ------------------------------------------------------------------- http

run_http() {
	local h1 h2 keys i big
	section "http: the web door beside a civetweb hello and redis-server"
	start_hello one || { skip "http" "hello did not start"; return; }
	h1=$HELLO
	start_hello two || { skip "http" "hello did not start"; return; }
	h2=$HELLO
	start_hello big || { skip "http" "hello did not start"; return; }
	big=$HELLO
	# its references (civetweb's hello, redis-server) send on the
	# system's congestion control: the door here too, like with like
	# (its default is cubic, mooncaked(8) --http-congestion)
	if ! start_mooncaked http --no-fuse --segment-size 2G --http-congestion system; then
		skip "http" "mooncaked did not start"
		return
	fi
	if [ "$(code "$MC/health")" != 200 ]; then
		skip "http" "GET /health answers $(code "$MC/health"): the web door has not landed"
		return
	fi

	local rn="best of $ROUNDS"
	rounds 32 "$h1/" "$h2/" "$MC/health"
	row "hello, one write, -c32, $rn" "${R_RPS[0]}" "req/s" "-" 0 info 0 "$R_BAD"
	row "hello, two writes, -c32, $rn" "${R_RPS[1]}" "req/s" "hello one write" "${R_RPS[0]}" info 0 "$R_BAD"
	row "GET /health, -c32, $rn" "${R_RPS[2]}" "req/s" "hello one write" "${R_RPS[0]}" rge 0.9 "$R_BAD"

	fill "$MC" 2621 key- 64 || say "fill: $(cat "$TMP/fill.done" 2>/dev/null)"
	keys=$(curl -s "$MC/get_all_keys" | wc -l)
	if [ "$keys" != 2621 ]; then
		skip "keys routes" "the store holds $keys keys after the fill, not 2621"
	else
		local qk="$MC/query_key?key=key-0000001" msize hn list
		if [ "$(code "$qk")" != 200 ]; then
			skip "GET /query_key" "a hit answers $(code "$qk")"
		else
			rounds 32 "$h1/" "$qk"
			row "GET /query_key (hit), -c32, $rn" "${R_RPS[1]}" "req/s" "hello one write" "${R_RPS[0]}" rge 0.8 "$R_BAD"
		fi
		msize=$(curl -s "$MC/metrics" | wc -c)
		start_hello big "$msize" || { skip "http" "hello did not start"; return; }
		hn=$HELLO
		rounds 32 "$h1/" "$MC/metrics" "$hn/" "$MC/get_all_keys"
		row "GET /metrics ($msize B), -c32, $rn" "${R_RPS[1]}" "req/s" "hello $msize B body" "${R_RPS[2]}" rge 0.8 "$R_BAD"
		row "  (the same, beside the hello of one short write)" "${R_RPS[1]}" "req/s" "hello one write" "${R_RPS[0]}" info 0 "$R_BAD"
		row "GET /get_all_keys (2,621 keys), -c32, $rn" "${R_RPS[3]}" "req/s" "hello one write" "${R_RPS[0]}" ge 25000 "$R_BAD"
		list=$(seq -f 'key-%07g' 1000 1099 | paste -sd,)
		if [ "$(code "$MC/batch_query_keys?keys=$list")" != 200 ] ||
		   [ "$(grep -o '"ok":true' "$TMP/body" | wc -l)" != 100 ]; then
			skip "GET /batch_query_keys" "100 hits do not answer 200 with 100 ok entries"
		else
			rounds 32 "$MC/batch_query_keys?keys=$list"
			row "GET /batch_query_keys (100 keys), -c32, keys/s, $rn" \
				"$(awk -v r="${R_RPS[0]}" 'BEGIN { print r * 100 }')" "keys/s" \
				"-" 0 ge 1000000 "$R_BAD"
		fi
		# latency with one connection: the average and the median, both
		rounds 1 "$h1/" "$MC/health" "$qk"
		local route i=1
		for route in health query_key; do
			row "GET /$route latency, -c1, average, $rn" "${R_LAT[i]}" "us" "hello one write" "${R_LAT[0]}" rle 1.10 "$R_BAD"
			row "GET /$route latency, -c1, median, $rn" "${R_P50[i]}" "us" "hello one write" "${R_P50[0]}" rle 1.10 "$R_BAD"
			i=$((i + 1))
		done
	fi

	# 1 MiB values: civetweb's own ceiling, then redis-server
	head -c 1048576 /dev/urandom >"$TMP/v1m"
	if [ "$(code "$MC/api/put/big1m" -T "$TMP/v1m")" != 200 ] ||
	   [ "$(code "$MC/api/get/big1m")" != 200 ] || ! cmp -s "$TMP/body" "$TMP/v1m"; then
		skip "1 MiB values" "PUT then GET /api/get/big1m does not round-trip"
		return
	fi
	rounds 4 "$big/" "$MC/api/get/big1m"
	local get=${R_RPS[1]} get_bad=$R_BAD put=0 put_bad=""
	row "GET /api/get 1 MiB, -c4, $rn" "$get" "req/s" "hello 1 MiB body" "${R_RPS[0]}" rge 0.8 "$R_BAD"
	http_default_cc "$rn"
	for ((i = 0; i < ROUNDS; i++)); do
		wrk_run "$MC/api/put/big1m" 4 -s "$SRC/put.lua" -- 1048576
		put=$(max "$put" "$W_RPS")
		put_bad+=$W_BAD
	done
	if ! start_redis; then
		skip "PUT/GET 1 MiB vs redis" "redis-server or redis-benchmark is not installed"
		return
	fi
	local rport=$RPORT rset="" rget=""
	# the same best of ROUNDS as mooncaked gets
	for ((i = 0; i < ROUNDS; i++)); do
		redis-benchmark -h 127.0.0.1 -p "$rport" -c 4 -d 1048576 -t set,get \
			-n 2000 --csv >"$TMP/redis.csv" 2>"$TMP/redis.err"
		rset=$(max "$rset" "$(awk -F'"' '$2 == "SET" { print $4 }' "$TMP/redis.csv")")
		rget=$(max "$rget" "$(awk -F'"' '$2 == "GET" { print $4 }' "$TMP/redis.csv")")
	done
	[ "$rset" = 0 ] && rset=""
	[ "$rget" = 0 ] && rget=""
	if [ -z "$rset" ] || [ -z "$rget" ]; then
		skip "PUT/GET 1 MiB vs redis" "redis-benchmark gave no figures: $(head -c 200 "$TMP/redis.err")"
		return
	fi
	row "PUT /api/put 1 MiB, one key, -c4 (wrk put.lua), $rn" "$put" "req/s" "redis SET 1 MiB -c4, $rn" "$rset" rge 0.8 "$put_bad"
	row "GET /api/get 1 MiB, one key, -c4, $rn" "$get" "req/s" "redis GET 1 MiB -c4, $rn" "$rget" rge 0.8 "$get_bad"
	http_keys
}

# http_default_cc RN: what users get. The section's door answers on the
# system's congestion control (--http-congestion system), as its
# references send; a door on its default (cubic, mooncaked(8)
# --http-congestion) answers GET /api/get 1 MiB -c4 beside it, in turn:
# an info row, no target. MC and MC_PID stay the section's door.
http_default_cc() {
	local mc=$MC pid=$MC_PID dmc dpid scc dcc
	if ! start_mooncaked http-default --no-fuse --segment-size 64M; then
		MC=$mc MC_PID=$pid
		skip "the door on its default congestion control" "mooncaked did not start"
		return
	fi
	dmc=$MC dpid=$MC_PID
	MC=$mc MC_PID=$pid
	scc=$(port_cc "${mc##*:}")
	dcc=$(port_cc "${dmc##*:}")
	if [ "$(code "$dmc/api/put/big1m" -T "$TMP/v1m")" != 200 ]; then
		skip "the door on its default congestion control" "PUT /api/put/big1m does not answer 200"
	else
		rounds 4 "$mc/api/get/big1m" "$dmc/api/get/big1m"
		row "  (info, what users get: GET /api/get 1 MiB, -c4, the door on its default $dcc, $1)" \
			"${R_RPS[1]}" "req/s" "the same door on the system's $scc" "${R_RPS[0]}" info 0 "$R_BAD"
	fi
	stop "$dpid"
}

# start_redis: a redis-server on a free loopback port (RPORT), once.
start_redis() {
	[ -n "${RPORT:-}" ] && return 0
	command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || return 1
	RPORT=$(free_port) || return 1
	start redis redis-server --port "$RPORT" --bind 127.0.0.1 --save '' \
		--appendonly no --protected-mode yes
	for _ in $(seq 100); do
		redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.05
	done
	return 1
}

# redis_rps TEST SIZE CONNS KEYS N: requests/s of one redis-benchmark run
# of N requests (TEST set or get) over KEYS random keys.
redis_rps() {
	redis-benchmark -h 127.0.0.1 -p "$RPORT" -t "$1" -d "$2" -c "$3" \
		-r "$4" -n "$5" --csv 2>>"$TMP/redis.err" |
		awk -F'"' 'NR > 1 && $4 != "" { print $4; exit }'
}

# hload MODE PREFIX KEYS SIZE CONNS: requests/s of one bench/hload run on
# the daemon. Why a run's figure is not valid goes to $TMP/hload.bad
# (these run in command substitutions, whose variables do not come
# back): hload_bad prints it and starts it again.
hload() {
	local host=${MC#http://}
	hload_at "${host%:*}" "${host##*:}" "$@"
}

# hload_at HOST PORT MODE PREFIX KEYS SIZE CONNS: the same on any server.
hload_at() {
	if "$BIN/hload" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$DUR" \
		>"$TMP/hload.out" 2>"$TMP/hload.err"; then
		awk '{ print $4 }' "$TMP/hload.out"
	else
		printf 'hload %s on port %s failed: %s ' "$3" "$2" \
			"$(head -c 200 "$TMP/hload.err" "$TMP/hload.out")" >>"$TMP/hload.bad"
		echo 0
	fi
}

hload_bad() {
	cat "$TMP/hload.bad" 2>/dev/null
	: >"$TMP/hload.bad"
}

# The issue 11 figures: many distinct keys, as KV-cache traffic is. The
# daemon's load (bench/hload) and redis-benchmark -r build their requests
# the same way (prebuilt bytes, the key's digits written in place, keys
# drawn at random from KEYS) and take turns, best of ROUNDS each. Redis
# holds every key before its GETs (hload redis-fill), as the daemon does.
http_keys() {
	local rn="best of $ROUNDS" i spec mode size conns keys n ref v r
	if [ ! -x "$BIN/hload" ]; then
		skip "HTTP over many keys" "no $BIN/hload: run make bench"
		return
	fi
	if ! start_redis; then
		skip "HTTP over many keys" "redis-server or redis-benchmark is not installed"
		return
	fi
	local mhost=${MC#http://}
	if ! "$BIN/hload" "${mhost%:*}" "${mhost##*:}" fill r 1000 1048576 4 60 >"$TMP/hload.out" 2>&1 ||
	   ! "$BIN/hload" "${mhost%:*}" "${mhost##*:}" fill s 10000 4096 8 60 >"$TMP/hload.out" 2>&1 ||
	   ! "$BIN/hload" 127.0.0.1 "$RPORT" redis-fill key: 1000 1048576 4 60 >"$TMP/hload.out" 2>&1; then
		skip "HTTP over many keys" "filling the keys failed: $(head -c 200 "$TMP/hload.out")"
		return
	fi
	# mode size conns keys requests-per-redis-run
	for spec in "put 1048576 4 16 $((3000 * DUR))" "put 1048576 4 1000 $((3000 * DUR))" \
		"get 1048576 4 1000 $((3000 * DUR))"; do
		read -r mode size conns keys n <<<"$spec"
		v=0 ref=0
		H_BAD=""
		for ((i = 0; i < ROUNDS; i++)); do
			v=$(max "$v" "$(hload "$mode" r "$keys" "$size" "$conns")")
			H_BAD+=$(hload_bad)
			ref=$(max "$ref" "$(redis_rps "${mode/put/set}" "$size" "$conns" "$keys" "$n")")
		done
		r=${mode^^}
		row "$r /api/$mode 1 MiB, -c$conns, $keys random keys, $rn" "$v" "req/s" \
			"redis ${mode/put/set} -d 1048576 -c $conns -r $keys, $rn" "$ref" rge 0.9 "$H_BAD"
	done
	if ! "$BIN/hload" 127.0.0.1 "$RPORT" redis-fill key: 10000 4096 8 60 >"$TMP/hload.out" 2>&1; then
		skip "HTTP 4 KiB over many keys" "filling redis failed: $(head -c 200 "$TMP/hload.out")"
		return
	fi
	# The same load, in the same rounds, on the two servers that bound
	# what a connection model allows: civetweb's thread per connection
	# answering 4 KiB and nothing else (bench/hello), and one epoll
	# thread doing as little (bench/ephello).
	local hport="" eport="" hv e hbad ebad
	start_hello big 4096 && hport=${HELLO##*:}
	if [ -x "$BIN/ephello" ]; then
		start ephello "$BIN/ephello" 10000 4096
		wait_for ephello '^ephello ' && eport=$(awk '{ print $2 }' "$TMP/ephello.out")
	fi
	for mode in put get; do
		v=0 ref=0 hv=0 e=0
		H_BAD="" hbad="" ebad=""
		for ((i = 0; i < ROUNDS; i++)); do
			v=$(max "$v" "$(hload "$mode" s 10000 4096 32)")
			H_BAD+=$(hload_bad)
			ref=$(max "$ref" "$(redis_rps "${mode/put/set}" 4096 32 10000 $((60000 * DUR)))")
			[ -z "$hport" ] || hv=$(max "$hv" "$(hload_at 127.0.0.1 "$hport" "$mode" s 10000 4096 32)")
			hbad+=$(hload_bad)
			[ -z "$eport" ] || e=$(max "$e" "$(hload_at 127.0.0.1 "$eport" "$mode" s 10000 4096 32)")
			ebad+=$(hload_bad)
		done
		row "${mode^^} /api/$mode 4 KiB, -c32, 10000 random keys, $rn" "$v" "req/s" \
			"redis ${mode/put/set} -d 4096 -c 32 -r 10000, $rn" "$ref" rge 1.0 "$H_BAD"
		[ -z "$hport" ] || row "  (the same load on bench/hello, civetweb answering 4 KiB)" "$hv" "req/s" \
			"redis ${mode/put/set} -d 4096 -c 32 -r 10000, $rn" "$ref" info 0 "$hbad"
		[ -z "$eport" ] || row "  (the same load on bench/ephello, one epoll thread)" "$e" "req/s" \
			"redis ${mode/put/set} -d 4096 -c 32 -r 10000, $rn" "$ref" info 0 "$ebad"
	done
}

# --------------------------------------------------------------------- fs

best_dd() {
	local best=0 i r
	for i in 1 2 3; do
		r=$(dd if="$1" of=/dev/null bs=1M 2>&1 | awk '/bytes/ && /copied/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) { print $1 / $(i-1) / 1e9; exit } }')
		r=${r:-0}
		best=$(max "$best" "$r")
	done
	echo "$best"
}

# write_rate dd|cp SRC DEST: GB/s of one copy of SRC to DEST, timed from
# the start to the end of the command (its close included).
write_rate() {
	local t0 t1 n
	n=$(stat -c %s "$2")
	t0=$(date +%s.%N)
	if [ "$1" = dd ]; then
		dd if="$2" of="$3" bs=1M 2>/dev/null || { echo 0; return; }
	else
		cp "$2" "$3" || { echo 0; return; }
	fi
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { print n / (b - a) / 1e9 }'
}

# ls_secs DIR: LS_T, the seconds `ls DIR` takes, and LS_N, its lines.
ls_secs() {
	local t0 t1
	t0=$(date +%s.%N)
	LS_N=$(ls "$1" | wc -l)
	t1=$(date +%s.%N)
	LS_T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
}

# fsloop FILE...: open+read+close per second of each FILE, best of 3
# interleaved rounds of 1 s (the machine is shared), one line each.
fsloop() {
	local f i r
	local -A best
	for i in 1 2 3; do
		for f in "$@"; do
			r=$("$BIN/fsloop" "$f" 1 2>>"$TMP/fsloop.err" | awk '{ print $(NF-1) }')
			best[$f]=$(max "${best[$f]:-0}" "$r")
		done
	done
	for f in "$@"; do
		echo "${best[$f]}"
	done
}

run_fs() {
	local m1 ms r ref ref1 big i
	section "fs: the FUSE tree beside a plain in-memory FUSE file system"
	if [ ! -e /dev/fuse ]; then
		skip "fs" "no /dev/fuse on this machine"
		return
	fi
	m1=$TMP/memfs
	ms=$TMP/memfs-s
	mkdir -p "$m1" "$ms" "$TMP/mnt"
	MOUNTS+=("$m1" "$ms" "$TMP/mnt")
	start memfs "$BIN/memfs" "$m1" $((64 << 20)) 100000
	wait_for memfs '^memfs: ready' || { skip "fs" "memfs did not mount"; return; }
	start memfs-s "$BIN/memfs" -s "$ms" $((64 << 20)) 100000
	wait_for memfs-s '^memfs: ready' || { skip "fs" "memfs -s did not mount"; return; }
	if ! start_mooncaked fs --mountpoint "$TMP/mnt" --segment-size 1G ||
	   [ -z "$MC_MNT" ] || [ ! -e "$MC_MNT/health" ]; then
		skip "fs" "mooncaked did not mount its tree: the FUSE door has not landed"
		return
	fi

	local rs
	: >"$TMP/fsloop.err"
	{ read -r ref; read -r ref1; read -r r; read -r rs; } < <(fsloop \
		"$m1/health" "$ms/health" "$MC_MNT/health" "$MC_MNT/summary")
	local bad
	bad=$(head -c 200 "$TMP/fsloop.err")
	row "open+read+close health, best of 3" "$r" "ops/s" "memfs, same 16-thread loop" "$ref" ge 7000 "$bad"
	row "  (the same, beside single-threaded memfs)" "$r" "ops/s" "memfs -s, one-thread loop" "$ref1" info 0 "$bad"
	row "open+read+close summary, best of 3" "$rs" "ops/s" "memfs, same 16-thread loop" "$ref" info 0 "$bad"

	head -c $((64 << 20)) /dev/urandom >"$TMP/v64m"
	if [ "$(code "$MC/api/put/big64m" -T "$TMP/v64m")" != 200 ] ||
	   ! cmp -s "$MC_MNT/keys/big64m" "$TMP/v64m"; then
		skip "dd of a 64 MiB value" "PUT then keys/big64m does not round-trip"
	else
		ref=$(best_dd "$m1/big")
		big=$(best_dd "$MC_MNT/keys/big64m")
		row "dd bs=1M keys/BIG (64 MiB), best of 3" "$big" "GB/s" "memfs 64 MiB file" "$ref" ge 2.0
	fi

	# writes: dd bs=1M and cp of a 64 MiB file into keys/, four keys in
	# turn (every write replaces a value, as a warm daemon's do), timed
	# from start to close (the value is stored when close returns),
	# beside the same writes into a tmpfs file
	local wdd=0 wcp=0 tdd=0 tcp=0 wbad="" k=0 ref_dir
	ref_dir=$(mktemp -d /dev/shm/mc-bench.XXXXXX 2>/dev/null || mktemp -d "$TMP/shm.XXXXXX")
	for i in 1 2 3 4 5 6; do
		wdd=$(max "$wdd" "$(write_rate dd "$TMP/v64m" "$MC_MNT/keys/w$((k++ % 4))")")
		wcp=$(max "$wcp" "$(write_rate cp "$TMP/v64m" "$MC_MNT/keys/w$((k++ % 4))")")
		tdd=$(max "$tdd" "$(write_rate dd "$TMP/v64m" "$ref_dir/w")")
		tcp=$(max "$tcp" "$(write_rate cp "$TMP/v64m" "$ref_dir/w")")
	done
	cmp -s "$TMP/v64m" "$MC_MNT/keys/w0" || wbad="keys/w0 does not hold the bytes written"
	rm -rf "$ref_dir"
	row "dd bs=1M of a 64 MiB file into keys/ (4 keys in turn), best of 6" "$wdd" "GB/s" "the same into tmpfs" "$tdd" ge 1.5 "$wbad"
	row "cp of a 64 MiB file into keys/ (4 keys in turn), best of 6" "$wcp" "GB/s" "the same into tmpfs" "$tcp" ge 1.5 "$wbad"

	if ! fill "$MC" 100000 k- 16; then
		skip "ls keys/" "storing 100,000 keys failed: $(cat "$TMP/fill.done" 2>/dev/null)"
		return
	fi
	ls_secs "$m1/dir"
	ref=$LS_T
	local nref=$LS_N
	ls_secs "$MC_MNT/keys"
	r=$LS_T
	if [ "$LS_N" -lt 100000 ] || [ "$nref" != 100000 ]; then
		skip "ls keys/" "keys/ lists $LS_N names and memfs $nref, not 100,000 or more"
	else
		row "ls keys/ ($LS_N names)" "$r" "s" "memfs ls of 100,000 names" "$ref" le 1.0
	fi
}

# ------------------------------------------------------------------- xfer

# qk KEY: ADDR and SIZE of the first replica of KEY from /query_key.
qk() {
	curl -s "$MC/query_key?key=$1" >"$TMP/qk" || return 1
	ADDR=$(grep -o '"buffer_address_": *[0-9]*' "$TMP/qk" | head -n1 | grep -o '[0-9]*$')
	SIZE=$(grep -o '"size_": *[0-9]*' "$TMP/qk" | head -n1 | grep -o '[0-9]*$')
	[ -n "$ADDR" ] && [ -n "$SIZE" ]
}

# xfer_cc: the congestion control of the daemon's transfer connections:
# its listener's (ss -i names it; the connections it accepts inherit it),
# else the system's. mooncaked's default is cubic (mooncaked(8),
# --transfer-congestion), the system's when it cannot set it. A reference
# that stands for the transfer port sends with the same: on this
# machine the system's is bbr, which paces even on loopback.
xfer_cc() {
	port_cc "$MC_XPORT"
}

# port_cc PORT: the congestion control of the loopback listener on PORT
# (the connections it accepts inherit it), else the system's. mooncaked's
# HTTP port: cubic by default too (--http-congestion).
port_cc() {
	local cc=""
	command -v ss >/dev/null &&
		cc=$(ss -tilH "( sport = :$1 )" 2>/dev/null | awk 'NR == 2 { print $1 }')
	echo "${cc:-$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null)}"
}

run_xfer() {
	local s r best_s=0 best_r=0 best_p=0
	section "xfer: the transfer port beside a loopback TCP stream"
	if ! start_mooncaked xfer --no-fuse --segment-size 1G || [ -z "$MC_XPORT" ]; then
		skip "xfer" "mooncaked did not announce a transfer port"
		return
	fi
	head -c 1048576 /dev/urandom >"$TMP/x1m"
	head -c 4096 /dev/urandom >"$TMP/x4k"
	if [ "$(code "$MC/api/put/x1m" -T "$TMP/x1m")" != 200 ] ||
	   [ "$(code "$MC/api/put/x4k" -T "$TMP/x4k")" != 200 ] || ! qk x1m; then
		skip "xfer" "PUT or /query_key failed: the web door has not landed"
		return
	fi
	local a1m=$ADDR
	qk x4k
	local a4k=$ADDR
	local host=${MC_XHOST:-127.0.0.1}
	[ "$host" = localhost ] && host=127.0.0.1
	if ! "$BIN/tcp_ceiling" read "$host" "$MC_XPORT" "$a1m" 1048576 1 0.2 "$TMP/x1m" \
		>/dev/null 2>"$TMP/xfer.err"; then
		skip "xfer" "a READ of x1m's replica failed: $(head -c 200 "$TMP/xfer.err")"
		return
	fi
	# the references send with the daemon's transfer port's algorithm
	local cc
	cc=$(xfer_cc)
	start serve env TCP_CC="$cc" "$BIN/tcp_ceiling" serve
	wait_for serve '^serve ' || { skip "xfer" "tcp_ceiling serve did not start"; return; }
	local sport b_t1m=0 b_t4k=0 r4=0 t
	sport=$(awk '{ print $2 }' "$TMP/serve.out")
	# The machine's default congestion control may pace even on loopback
	# (BBR does): the same stream and trivial READ with the system's show
	# what the daemon's default spares (info rows, beside the target).
	local rport="" cc_s=0 cc_t=0 sys_cc
	sys_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null)
	start serve-sys "$BIN/tcp_ceiling" serve
	wait_for serve-sys '^serve ' && rport=$(awk '{ print $2 }' "$TMP/serve-sys.out")
	: >"$TMP/xfer.err"
	# interleaved rounds, best of each: the machine is shared
	for _ in 1 2 3; do
		s=$(TCP_CC=$cc "$BIN/tcp_ceiling" stream 1 | awk '{ print $2 }')
		best_s=$(max "$best_s" "$s")
		r=$("$BIN/tcp_ceiling" read "$host" "$MC_XPORT" "$a1m" 1048576 1 1 "$TMP/x1m" 2>>"$TMP/xfer.err" | awk '{ print $3 }')
		best_r=$(max "$best_r" "$r")
		t=$("$BIN/tcp_ceiling" read 127.0.0.1 "$sport" 0 1048576 1 1 | awk '{ print $3 }')
		b_t1m=$(max "$b_t1m" "$t")
		r=$(XFER_DEPTH=2 "$BIN/tcp_ceiling" read "$host" "$MC_XPORT" "$a1m" 1048576 1 1 "$TMP/x1m" 2>>"$TMP/xfer.err" | awk '{ print $3 }')
		best_p=$(max "$best_p" "$r")
		r=$("$BIN/tcp_ceiling" read "$host" "$MC_XPORT" "$a4k" 4096 8 1 "$TMP/x4k" 2>>"$TMP/xfer.err" | awk '{ print $2 }')
		r4=$(max "$r4" "$r")
		t=$("$BIN/tcp_ceiling" read 127.0.0.1 "$sport" 0 4096 8 1 | awk '{ print $2 }')
		b_t4k=$(max "$b_t4k" "$t")
		[ -n "$rport" ] || continue
		t=$("$BIN/tcp_ceiling" stream 1 | awk '{ print $2 }')
		cc_s=$(max "$cc_s" "$t")
		t=$("$BIN/tcp_ceiling" read 127.0.0.1 "$rport" 0 1048576 1 1 | awk '{ print $3 }')
		cc_t=$(max "$cc_t" "$t")
	done
	local bad
	bad=$(head -c 200 "$TMP/xfer.err")
	row "transfer READ 1 MiB, 1 connection, best of 3" "$best_r" "GB/s" "loopback TCP stream, 1 MiB writes, $cc as the port" "$best_s" rge 0.85 "$bad"
	row "  (the same, beside a trivial server of the framing)" "$best_r" "GB/s" "trivial server READ 1 MiB, $cc" "$b_t1m" info 0 "$bad"
	row "transfer READ 1 MiB, 1 connection, 2 requests in flight, best of 3" "$best_p" "GB/s" "loopback TCP stream, 1 MiB writes, $cc as the port" "$best_s" rge 0.85 "$bad"
	if [ -n "$rport" ]; then
		row "  (the system's congestion control $sys_cc: trivial server READ 1 MiB)" "$cc_t" "GB/s" "loopback TCP stream with $sys_cc" "$cc_s" info 0 ""
		row "  (the loopback stream with $sys_cc, beside $cc's)" "$cc_s" "GB/s" "loopback TCP stream, 1 MiB writes, $cc" "$best_s" info 0 ""
	fi
	row "transfer READ 4 KiB, 8 connections, best of 3" "$r4" "reads/s" "trivial server READ 4 KiB, $cc" "$b_t4k" ge 100000 "$bad"
	wrk_run "$MC/api/get/x1m" 1
	row "  GET /api/get 1 MiB, -c1 (comparison; HTTP sends on $(port_cc "${MC##*:}"), the port on $cc)" "$(awk -v r="$W_RPS" 'BEGIN { print r * 1048576 / 1e9 }')" \
		"GB/s" "transfer READ 1 MiB" "$best_r" info 0 "$W_BAD"
	wrk_run "$MC/api/get/x4k" 8
	row "  GET /api/get 4 KiB, -c8 (comparison)" "$W_RPS" "req/s" "transfer READ 4 KiB, 8 conns" "${r4:-0}" info 0 "$W_BAD"
}

# --------------------------------------------------------------------- te

# The Transfer Engine's default mode: a new connection per request
# (bench/te_conn), 8 clients at once, against the trivial server of the
# framing on the transfer port's congestion control (xfer_cc); and the
# descriptor TE fetches, GET /metadata, against /health.
run_te() {
	local r t best_r=0 best_t=0 host ep
	section "te: the transfer port and /metadata as a Transfer Engine uses them"
	if ! start_mooncaked te --no-fuse --segment-size 64M || [ -z "$MC_XPORT" ]; then
		skip "te" "mooncaked did not announce a transfer port"
		return
	fi
	head -c 4096 /dev/urandom >"$TMP/t4k"
	if [ "$(code "$MC/api/put/t4k" -T "$TMP/t4k")" != 200 ] || ! qk t4k; then
		skip "te" "PUT or /query_key failed"
		return
	fi
	host=${MC_XHOST:-127.0.0.1}
	[ "$host" = localhost ] && host=127.0.0.1
	local cc
	cc=$(xfer_cc)
	start serve-te env TCP_CC="$cc" "$BIN/tcp_ceiling" serve
	wait_for serve-te '^serve ' || { skip "te" "tcp_ceiling serve did not start"; return; }
	local sport
	sport=$(awk '{ print $2 }' "$TMP/serve-te.out")
	: >"$TMP/te.err"
	for _ in 1 2 3; do
		r=$("$BIN/te_conn" "$host" "$MC_XPORT" "$ADDR" 4096 8 "$DUR" v2 2>>"$TMP/te.err" | awk '{ print $2 }')
		best_r=$(max "$best_r" "${r:-0}")
		t=$("$BIN/te_conn" 127.0.0.1 "$sport" 0 4096 8 "$DUR" v2 2>>"$TMP/te.err" | awk '{ print $2 }')
		best_t=$(max "$best_t" "${t:-0}")
	done
	row "TE default mode: READ 4 KiB, a new connection per request, 8 clients, best of 3" \
		"$best_r" "reads/s" "trivial server, the same, $cc as the port" "$best_t" rge 0.8 "$(head -c 200 "$TMP/te.err")"
	ep=$(sed -n 's|^mooncaked: transfer ||p' "$TMP/te.out" | head -n1)
	ep=${ep//:/%3A}
	if [ "$(code "$MC/metadata?key=mooncake%2Fram%2F$ep")" != 200 ]; then
		skip "GET /metadata" "the published descriptor is not served"
		return
	fi
	rounds 32 "$MC/health" "$MC/metadata?key=mooncake%2Fram%2F$ep"
	row "GET /metadata (the published descriptor), -c32, best of $ROUNDS" "${R_RPS[1]}" "req/s" "GET /health" "${R_RPS[0]}" rge 0.8 "$R_BAD"
}

# -------------------------------------------------------------------- rpc

# The master RPC as Mooncake clients load it (bench/rpc_load): its small
# calls against HTTP /query_key at the same connection count, and a 1 MiB
# put by clients without memory of their own (PutStart, a transfer-port
# WRITE, PutEnd; and a Remove of the client's previous key, as an
# overwrite frees the old value) against the HTTP raw PUT overwriting
# one key. Interleaved rounds, best of each. The transfer port's own
# congestion control (cubic) does not enter the put's comparison: the
# 1 MiB goes from the client to the daemon, so its pace is the sender's,
# and both senders (rpc_load's transfer client, wrk) are on the system's;
# the daemon's end only acknowledges, and a 1 MiB put's status frame is
# a few bytes. The small calls are on the RPC and HTTP ports, both on the
# system's.
run_rpc() {
	local port r best_q=0 best_e=0 best_h=0 best_p=0 best_w=0 bad=""
	section "rpc: the master RPC beside HTTP /query_key and PUT"
	port=$(free_port) || { skip "rpc" "no free port"; return; }
	if ! start_mooncaked rpc --no-fuse --segment-size 1G \
		--rpc-port "$port"; then
		skip "rpc" "mooncaked did not start with --rpc-port"
		return
	fi
	head -c 4096 /dev/urandom >"$TMP/q4k"
	if [ "$(code "$MC/api/put/q4k" -T "$TMP/q4k")" != 200 ]; then
		skip "rpc" "PUT q4k failed"
		return
	fi
	: >"$TMP/rpc.err"
	for ((i = 0; i < ROUNDS; i++)); do
		r=$("$BIN/rpc_load" query 127.0.0.1 "$port" 8 "$DUR" q4k 2>>"$TMP/rpc.err" | awk '{ print $2 }')
		best_q=$(max "$best_q" "${r:-0}")
		wrk_run "$MC/query_key?key=q4k" 8
		bad+=$W_BAD
		best_h=$(max "$best_h" "$W_RPS")
		r=$("$BIN/rpc_load" exist 127.0.0.1 "$port" 8 "$DUR" q4k 2>>"$TMP/rpc.err" | awk '{ print $2 }')
		best_e=$(max "$best_e" "${r:-0}")
		r=$("$BIN/rpc_load" put 127.0.0.1 "$port" 4 "$DUR" 1048576 2>>"$TMP/rpc.err" | awk '{ print $2 }')
		best_p=$(max "$best_p" "${r:-0}")
		wrk_run "$MC/api/put/big1m" 4 -s "$SRC/put.lua" -- 1048576
		bad+=$W_BAD
		best_w=$(max "$best_w" "$W_RPS")
	done
	bad+=$(head -c 200 "$TMP/rpc.err")
	row "RPC GetReplicaList, 8 connections, best of $ROUNDS" "$best_q" "req/s" "GET /query_key -c8" "$best_h" rge 1.0 "$bad"
	row "RPC ExistKey, 8 connections, best of $ROUNDS" "$best_e" "req/s" "GET /query_key -c8" "$best_h" rge 1.0 "$bad"
	row "RPC put 1 MiB by 4 memory-less clients (PutStart, WRITE, PutEnd), best of $ROUNDS" \
		"$best_p" "req/s" "PUT /api/put 1 MiB -c4 (both clients send on the system's $(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null))" \
		"$best_w" rge 0.8 "$bad"
}

# ------------------------------------------------------------------ scale

# proc_kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
proc_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# secs CMD...: runs CMD, stdout to $TMP/secs.out; SECS its wall time.
secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >"$TMP/secs.out" 2>>"$TMP/secs.err"
	t1=$(date +%s.%N)
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
}

# listed WHAT SHORT NOUN VERDICT REF CMD...: two rows for a listing of
# the $n keys by CMD (which prints how many it listed): its rate (VERDICT
# REF, see row), and by how much the daemon's peak memory grew meanwhile
# (64 MiB at most, whatever the key count).
listed() {
	local what=$1 short=$2 noun=$3 verdict=$4 ref=$5 h0 h1 got
	shift 5
	h0=$(proc_kb "$MC_PID" VmHWM)
	secs "$@"
	h1=$(proc_kb "$MC_PID" VmHWM)
	got=$(cat "$TMP/secs.out")
	row "$what, $n keys (peak RSS +$(( (h1 - h0) / 1024 )) MiB)" \
		"$(awk -v n="$got" -v t="$SECS" 'BEGIN { print n / t }')" "keys/s" "-" 0 "$verdict" "$ref" \
		"$([ "$got" = "$n" ] || echo "listed $got $noun, not $n")"
	row "  $short peak memory growth" "$(( (h1 - h0) / 1024 ))" "MiB" "-" 0 le 64
}

# SCALE_KEYS (default 10,000,000) keys of 64 bytes, loaded over HTTP:
# the load time, the resident memory per key beyond its key and value,
# /metrics and /health latency beside the same on the empty store, the
# streamed /get_all_keys and the listing of keys/ (the daemon's peak
# memory during each must not grow with the key count), and the time
# from SIGTERM to the daemon's exit with every key still stored.
run_scale() {
	local n=${SCALE_KEYS:-10000000} host port r0 r1 m0 m1 e0 e1 per
	section "scale: $n keys of 64 B"
	if ! start_mooncaked scale --mountpoint "$TMP/smnt" --segment-size 2G; then
		skip "scale" "mooncaked did not start"
		return
	fi
	MOUNTS+=("$TMP/smnt")
	host=${MC#http://}
	port=${host##*:}
	host=${host%:*}
	# latency on the empty store: -c1, the median (the average of a
	# shared machine's -c1 run is its stalls), best of ROUNDS
	rounds 1 "$MC/metrics" "$MC/health"
	m0=${R_P50[0]} e0=${R_P50[1]}
	r0=$(proc_kb "$MC_PID" VmRSS)
	: >"$TMP/secs.err"
	secs "$BIN/hload" "$host" "$port" fill s "$n" 64 8 1
	if ! grep -q "^hload $n 0 " "$TMP/secs.out"; then
		skip "scale" "loading $n keys failed: $(head -c 200 "$TMP/secs.out" "$TMP/secs.err")"
		return
	fi
	r1=$(proc_kb "$MC_PID" VmRSS)
	row "load $n keys of 64 B over HTTP (hload fill, 8 connections)" \
		"$(awk -v n="$n" -v t="$SECS" 'BEGIN { print n / t }')" "keys/s" "-" 0 info 0
	per=$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN { print ((b - a) * 1024 - n * (8 + 64)) / n }')
	row "resident memory per key beyond key+value, $n keys (RSS +$(( (r1 - r0) / 1024 )) MiB)" \
		"$per" "B" "-" 0 le 128
	rounds 1 "$MC/metrics" "$MC/health"
	m1=${R_P50[0]} e1=${R_P50[1]}
	row "GET /metrics latency, -c1, median, $n keys" "$m1" "us" "the same, empty store" "$m0" rle 1.10 "$R_BAD"
	row "GET /health latency, -c1, median, $n keys" "$e1" "us" "the same, empty store" "$e0" rle 1.10 "$R_BAD"

	listed "GET /get_all_keys streamed" /get_all_keys keys ge 5000000 \
		sh -c 'curl -s "$1" | wc -l' sh "$MC/get_all_keys"
	if [ -n "$MC_MNT" ] && [ -d "$MC_MNT/keys" ]; then
		listed "ls keys/ streamed (find -maxdepth 1)" "ls keys/" names info 0 \
			sh -c 'find "$1" -mindepth 1 -maxdepth 1 | wc -l' sh "$MC_MNT/keys"
	else
		skip "ls keys/" "no FUSE mount"
	fi
	# the stop with every key still in: recorded, no target (the
	# segment's blocks go without merging, src/alloc.c mc_alloc_drop)
	secs stop "$MC_PID"
	row "SIGTERM to exit with $n keys (FUSE tree unmounted, memory released)" \
		"$SECS" "s" "-" 0 info 0
}

# ---------------------------------------------------------------- cluster

# etcd for the cluster section: one member on free loopback ports with
# etcd's own default timings; sets ETCD_URL.
start_etcd() {
	local port peer bin
	bin=$(command -v etcd) || return 1
	port=$(free_port) && peer=$(free_port) || return 1
	ETCD_URL=http://127.0.0.1:$port
	start etcd "$bin" --name b --data-dir "$TMP/etcd" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "b=http://127.0.0.1:$peer"
	for _ in $(seq 200); do
		curl -sf -m 1 "$ETCD_URL/v3/kv/range" -d '{"key":"AA=="}' >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# cnode I [options...]: starts cluster node I (URL in CN[I], pid in
# CN_PID[I]) in the cluster "bench", node TTL 3 s.
cnode() {
	local i=$1
	shift
	start_mooncaked "cnode$i-$RANDOM" --no-fuse --hostname "node$i" \
		--etcd "$ETCD_URL" --cluster bench --node-ttl 3000 "$@" || return 1
	CN[i]=$MC
	CN_PID[i]=$MC_PID
	CN_ARGS[i]="$*"
}

# cl_start [options...]: the three nodes, each with the options: node 1
# first (it leads, with the memory), node 2 with none (its puts and gets
# cross to another node), node 3 with some (so that a put finds memory
# whichever node dies); 0 once they agree on a leader, else 1 with what
# failed in CL_WHY. Nodes still running are killed first.
cl_start() {
	local i
	for i in 1 2 3; do
		[ -n "${CN_PID[i]:-}" ] || continue
		kill -KILL "${CN_PID[i]}"
		wait "${CN_PID[i]}" 2>/dev/null
		CN_PID[i]=""
	done
	CL_WHY="node 1 did not start"
	cnode 1 --segment-size 1G "$@" || return 1
	CL_WHY="node 1 does not lead"
	cwait_all 20000 || return 1
	CL_WHY="nodes 2 and 3 did not start"
	cnode 2 --segment-size 0 "$@" && cnode 3 --segment-size 256M "$@" || return 1
	CL_WHY="the nodes do not agree on a leader"
	cwait_all 20000
}

# cleader: the index of the node that leads and serves, else nothing.
cleader() {
	local i id j
	for i in "${!CN[@]}"; do
		[ -n "${CN_PID[i]}" ] || continue
		curl -s -m 2 "${CN[i]}/api/cluster" >"$TMP/cl.json" || continue
		grep -q '"serving":true' "$TMP/cl.json" || continue
		id=$(sed -n 's/.*"leader":"\([^"]*\)".*/\1/p' "$TMP/cl.json")
		for j in "${!CN[@]}"; do
			[ -n "${CN_PID[j]}" ] &&
				curl -s -m 2 "${CN[j]}/api/cluster" | grep -q "\"self\":\"$id\"" &&
				{ echo "$j"; return 0; }
		done
	done
	return 1
}

# cwait_all MS: every live node answers a metadata route (200).
cwait_all() {
	local end=$(($(date +%s%3N) + $1)) i ok
	while [ "$(date +%s%3N)" -lt "$end" ]; do
		ok=1
		for i in "${!CN[@]}"; do
			[ -n "${CN_PID[i]}" ] || continue
			[ "$(code "${CN[i]}/get_all_segments")" = 200 ] || ok=0
		done
		[ "$ok" = 1 ] && cleader >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# cluster_loads QK: BENCH_ROUNDS rounds of PUT and GET 1 MiB -c4 on the
# single node ($single), through node 2 and (QK 1, with $hop set) through
# the trivial relay bench/hop in front of the single node in turn (and,
# QK 1, /query_key on the leader and through node 2); the best of each
# goes into the caller's best_sp best_cp best_sg best_cg (best_hp best_hg
# best_lq best_fq), the notes of bad loads into its bad.
cluster_loads() {
	local r
	for ((r = 0; r < ROUNDS; r++)); do
		wrk_run "$single/api/put/big1m" 4 -s "$SRC/put.lua" -- 1048576
		bad+=$W_BAD; best_sp=$(max "$best_sp" "$W_RPS")
		wrk_run "${CN[2]}/api/put/big1m" 4 -s "$SRC/put.lua" -- 1048576
		bad+=$W_BAD; best_cp=$(max "$best_cp" "$W_RPS")
		if [ "$1" = 1 ] && [ -n "$hop" ]; then
			wrk_run "$hop/api/put/big1m" 4 -s "$SRC/put.lua" -- 1048576
			bad+=$W_BAD; best_hp=$(max "$best_hp" "$W_RPS")
		fi
		wrk_run "$single/api/get/c1m" 4
		bad+=$W_BAD; best_sg=$(max "$best_sg" "$W_RPS")
		wrk_run "${CN[2]}/api/get/c1m" 4
		bad+=$W_BAD; best_cg=$(max "$best_cg" "$W_RPS")
		[ "$1" = 1 ] || continue
		if [ -n "$hop" ]; then
			wrk_run "$hop/api/get/c1m" 4
			bad+=$W_BAD; best_hg=$(max "$best_hg" "$W_RPS")
		fi
		wrk_run "${CN[1]}/query_key?key=c1m" 8
		bad+=$W_BAD; best_lq=$(max "$best_lq" "$W_RPS")
		wrk_run "${CN[2]}/query_key?key=c1m" 8
		bad+=$W_BAD; best_fq=$(max "$best_fq" "$W_RPS")
	done
}

# Three nodes (cl_start) and an etcd on loopback. PUT and
# GET 1 MiB through node 2 beside a single node; /query_key through node
# 2 beside the leader itself; then 10 rounds of: kill -9 the leader, PUT
# through a survivor until one succeeds (the failover time), restart it.
run_cluster() {
	local i r bad="" best_sp=0 best_cp=0 best_sg=0 best_cg=0 best_lq=0 best_fq=0
	local hop="" best_hp=0 best_hg=0
	section "cluster: three nodes through a follower beside one node; failover"
	if ! start_etcd; then
		skip "cluster" "no etcd (Debian etcd-server) or it did not start"
		return
	fi
	if ! start_mooncaked single --no-fuse --segment-size 1G; then
		skip "cluster" "mooncaked did not start"
		return
	fi
	local single=$MC
	# one extra loopback hop and nothing else: the relay in front of the
	# single node, its sockets on cubic like the nodes' transfer
	# connections and HTTP ports (mooncaked's defaults). A PUT's 1 MiB
	# leaves wrk on the system's algorithm in every case, then crosses
	# the relay or the follower's transfer client (cubic); a GET's leaves
	# the owner's transfer port then the follower's HTTP port, or the
	# single node's HTTP port then the relay, every leg on cubic but
	# wrk's requests. The target rows' reference, the single node, and
	# the follower both answer wrk on their HTTP port's algorithm
	# (port_cc, the same); the follower's extra hop is the daemons' own
	# transfer connections, part of what is measured.
	start hop env TCP_CC=cubic "$BIN/hop" 127.0.0.1 "${single##*:}"
	wait_for hop '^hop ' && hop=http://127.0.0.1:$(awk '{ print $2 }' "$TMP/hop.out")
	CN=() CN_PID=() CN_ARGS=()
	cl_start || { skip "cluster" "$CL_WHY"; return; }
	head -c 1048576 /dev/urandom >"$TMP/c1m"
	if [ "$(code "$single/api/put/c1m" -T "$TMP/c1m")" != 200 ] ||
		[ "$(code "${CN[2]}/api/put/c1m" -T "$TMP/c1m")" != 200 ]; then
		skip "cluster" "a PUT through node 2 failed: $(head -c 200 "$TMP/body")"
		return
	fi
	cluster_loads 1
	local sys_cc scc fcc
	sys_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null)
	scc=$(port_cc "${single##*:}")
	fcc=$(port_cc "${CN[2]##*:}")
	row "PUT 1 MiB -c4 through a follower (replica on another node), best of $ROUNDS" \
		"$best_cp" "req/s" "the same on a single node (wrk sends on $sys_cc to both)" "$best_sp" rge 0.7 "$bad"
	row "GET 1 MiB -c4 through a follower (replica on another node, HTTP on $fcc), best of $ROUNDS" \
		"$best_cg" "req/s" "the same on a single node (HTTP on $scc)" "$best_sg" rge 0.7 "$bad"
	if [ -n "$hop" ]; then
		row "  (PUT 1 MiB -c4 through a trivial relay, bench/hop, in front of the single node)" \
			"$best_hp" "req/s" "the same on a single node" "$best_sp" info 0 "$bad"
		row "  (GET 1 MiB -c4 through a trivial relay, bench/hop, in front of the single node)" \
			"$best_hg" "req/s" "the same on a single node" "$best_sg" info 0 "$bad"
	else
		skip "cluster, the trivial relay" "bench/hop did not start"
	fi
	row "/query_key -c8 through a follower, best of $ROUNDS" \
		"$best_fq" "req/s" "the leader's own" "$best_lq" rge 0.5 "$bad"

	# failover: leader killed -> the first successful put through a survivor
	local times=() l s t0 t ok fbad=""
	for ((r = 0; r < 10; r++)); do
		l=$(cleader) || { fbad="no leader before round $r"; break; }
		for s in 1 2 3; do [ "$s" != "$l" ] && [ -n "${CN_PID[s]}" ] && break; done
		t0=$(date +%s%3N)
		kill -KILL "${CN_PID[l]}"
		wait "${CN_PID[l]}" 2>/dev/null
		CN_PID[l]=""
		ok=""
		while [ $(($(date +%s%3N) - t0)) -lt 20000 ]; do
			if [ "$(code "${CN[s]}/api/put/fo$r" --data-binary "round $r" -X PUT -m 2)" = 200 ]; then
				ok=$(($(date +%s%3N) - t0))
				break
			fi
			sleep 0.01
		done
		[ -n "$ok" ] || { fbad="no put succeeded within 20 s in round $r"; break; }
		times+=("$ok")
		# shellcheck disable=SC2086
		cnode "$l" ${CN_ARGS[l]} && cwait_all 20000 ||
			{ fbad="node $l did not come back in round $r"; break; }
	done
	if [ ${#times[@]} -gt 0 ]; then
		local med worst
		med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }')
		worst=$(printf '%s\n' "${times[@]}" | sort -n | tail -n1 | awk '{ print $1 / 1000 }')
		row "failover: leader killed -> first put through a survivor, median of ${#times[@]} (node TTL 3 s)" \
			"$med" "s" "-" 0 info 0 "$fbad"
		row "failover: the same, worst of ${#times[@]}" "$worst" "s" "-" 0 info 0 "$fbad"
	else
		skip "failover" "$fbad"
	fi
	run_cluster_cc system
}

# run_cluster_cc NAME: the PUT and GET through a follower again, the three
# nodes restarted with --transfer-congestion NAME (info rows: with
# "system", the connections between nodes keep the system's congestion
# control instead of the default, mooncaked(8)).
run_cluster_cc() {
	local cc=$1 bad="" best_sp=0 best_cp=0 best_sg=0 best_cg=0
	cl_start --transfer-congestion "$cc" ||
		{ skip "cluster, --transfer-congestion $cc" "$CL_WHY"; return; }
	if [ "$(code "${CN[2]}/api/put/c1m" -T "$TMP/c1m")" != 200 ]; then
		skip "cluster, --transfer-congestion $cc" "a PUT through node 2 failed: $(head -c 200 "$TMP/body")"
		return
	fi
	cluster_loads 0
	row "  (the PUT through a follower, nodes with --transfer-congestion $cc)" \
		"$best_cp" "req/s" "the same on a single node" "$best_sp" info 0 "$bad"
	row "  (the GET through a follower, nodes with --transfer-congestion $cc)" \
		"$best_cg" "req/s" "the same on a single node" "$best_sg" info 0 "$bad"
}

# ------------------------------------------------------------------ table

table() {
	awk -F'|' '
	function h(v, u) {
		if (u == "ops/s" || u == "req/s" || u == "keys/s" || u == "reads/s") {
			if (v >= 1e6) return sprintf("%.2fM/s", v / 1e6)
			if (v >= 1e3) return sprintf("%.1fk/s", v / 1e3)
			return sprintf("%.0f/s", v)
		}
		if (u == "GB/s") return sprintf("%.2f GB/s", v)
		if (u == "us") return sprintf("%.0f us", v)
		if (u == "s") return sprintf("%.3f s", v)
		if (u == "B") return sprintf("%.1f B", v)
		return v " " u
	}
	BEGIN {
		print "| figure | value | reference | ratio | target | verdict |"
		print "|---|---|---|---|---|---|"
	}
	{
		f = $1; v = $2; u = $3; r = $4; rv = $5; k = $6; t = $7; note = $8
		if (k == "skip") {
			printf "| %s | - | - | - | - | skipped: %s |\n", f, note
			next
		}
		ratio = rv > 0 ? sprintf("%.2f", v / rv) : "-"
		ref = (r == "-" || r == "") ? "-" : sprintf("%s %s", r, h(rv, u))
		if (k == "ge") { tg = ">= " h(t, u); ok = v >= t }
		else if (k == "le") { tg = "<= " h(t, u); ok = v <= t }
		else if (k == "rge") { tg = ">= " t "x"; ok = rv > 0 && v / rv >= t }
		else if (k == "rle") { tg = "<= " t "x"; ok = rv > 0 && v / rv <= t }
		else { tg = "-"; ok = -1 }
		verdict = ok < 0 ? "info" : ok ? "met" : "NOT MET"
		if (note != "") verdict = "INVALID: " note
		printf "| %s | %s | %s | %s | %s | %s |\n", f, h(v, u), ref, ratio, tg, verdict
	}' "$ROWS"
}

# ------------------------------------------------------------------- main

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(inproc page http fs xfer te rpc cluster scale)
for s in "${sections[@]}"; do
	case $s in
	inproc | page | http | fs | xfer | te | rpc | cluster | scale) ;;
	*) say "run.sh: unknown section '$s' (inproc page http fs xfer te rpc cluster scale)"; exit 2 ;;
	esac
done
for t in wrk curl; do
	command -v "$t" >/dev/null || { say "run.sh: '$t' is needed"; exit 2; }
done

T0=$(date +%s)
echo "# mooncaked benchmarks"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- command: bash bench/run.sh ${sections[*]}"
echo "- machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -r)"
echo "- commit: $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${sections[@]}"; do
	"run_$s"
	# a section's daemons go before the next section starts
	for pid in "${PIDS[@]}"; do stop "$pid"; done
	PIDS=()
done
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - T0)) s in all"
echo
table
