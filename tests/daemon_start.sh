#!/bin/bash
# daemon_start.sh - mooncaked's command line, config file, announce lines,
# start-up failures and signals, driven as a person would from a shell.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# wait_exit PID: wait at most 10 s for PID to end and set WAIT_RC to its
# exit status, or to "hung" (after killing it) so that a stuck daemon
# fails the test instead of hanging it.
wait_exit() {
	local pid=$1
	WAIT_RC=0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		WAIT_RC=hung
		return
	fi
	wait "$pid" || WAIT_RC=$?
}

# start_raw ARGS...: mc_start without the --port, --transfer-port and
# --segment-size it puts first, so that config-file values show. (A shell
# function in MOONCAKED runs in mc_start's background job and execs.)
REAL_MOONCAKED=$MOONCAKED
raw_daemon() {
	local keep=()
	while [ $# -gt 0 ]; do
		case $1 in
		--port | --transfer-port | --segment-size) shift 2 ;;
		--rpc-port) keep+=("$1" "$2"); shift 2 ;; # never the default port
		*) break ;;
		esac
	done
	exec "$REAL_MOONCAKED" "${keep[@]}" "$@"
}
start_raw() {
	MOONCAKED=raw_daemon
	start "$@"
	MOONCAKED=$REAL_MOONCAKED
}

# start ARGS...: mc_start, after removing the last daemon's output files:
# mc_start reuses them, and could see the last "ready" before the new
# daemon has truncated its stdout.
start() {
	rm -f "$MC_TMP/stdout" "$MC_TMP/stderr"
	mc_start "$@"
}

# stop_with SIG DESC: send SIG, expect exit 0.
stop_with() {
	kill -"$1" "$MC_PID"
	wait_exit "$MC_PID"
	expect_eq "$2" "$WAIT_RC" 0
	MC_PID=""
}

# --- --help and --version ---------------------------------------------------
out=$("$MOONCAKED" --help 2>"$MC_TMP/err"); rc=$?
expect_eq "--help exits 0" "$rc" 0
expect_eq "--help says nothing on stderr" "$(cat "$MC_TMP/err")" ""
for o in --config -D --port --host --mountpoint --no-fuse --hostname \
	--segment-size --protocol --device --transfer-port --max-segment-size \
	--replicas --lease-ttl --eviction-high-watermark --eviction-ratio \
	--max-body --auth-token-file --allow-other --populate --put-timeout \
	--log-level --header-timeout --shutdown-timeout --transfer-congestion \
	--http-congestion --version --help; do
	expect_match "--help lists $o" "$out" "(^|[[:space:]])$o([[:space:]=]|$)"
done
out=$("$MOONCAKED" --version); rc=$?
expect_eq "--version exits 0" "$rc" 0
expect_match "--version prints the version" "$out" '^mooncaked [0-9]+\.[0-9]+'
for o in --help --version; do
	"$MOONCAKED" $o >/dev/full 2>"$MC_TMP/err"; rc=$?
	expect_eq "$o that cannot be written: exit 1" "$rc" 1
	expect_eq "... and says why" "$(cat "$MC_TMP/err")" \
		"mooncaked: cannot write to standard output: No space left on device"
done

# --- bad invocations: exit 2 and one line on stderr naming the culprit ------
printf '{"http_port": 80,' >"$MC_TMP/malformed.json"
printf '{"http_prot": 80}' >"$MC_TMP/unknown.json"
printf '{"http_port": "80"}' >"$MC_TMP/wrongtype.json"
printf '{"rpc_port": 0, "\\u0072pc_port": 50051}' >"$MC_TMP/twice.json"
: >"$MC_TMP/empty.json"
: >"$MC_TMP/empty.token"
printf ' \n\t\n' >"$MC_TMP/blank.token"
printf 'ab c\n' >"$MC_TMP/space.token"
printf 'ab\0c\n' >"$MC_TMP/nul.token"
printf 'ab\ncd\n' >"$MC_TMP/lines.token"
head -c 4097 /dev/zero | tr '\0' t >"$MC_TMP/big.token"
mkdir "$MC_TMP/dir.token"

# bad WANT ARGS...: the daemon must refuse ARGS with exit 2 and one stderr
# line matching WANT (a fixed string). The safe options come first so that
# a wrongly accepted value starts nothing that lingers.
bad() {
	local want=$1 rc=0
	shift
	timeout 10 "$MOONCAKED" --no-fuse --port 0 --transfer-port 0 --rpc-port 0 \
		--segment-size 0 "$@" >"$MC_TMP/bad.out" 2>"$MC_TMP/bad.err" || rc=$?
	expect_eq "exit 2 for: $*" "$rc" 2
	expect_eq "one stderr line for: $*" "$(wc -l <"$MC_TMP/bad.err")" 1
	check "stderr names '$want' for: $*" grep -qF -- "$want" "$MC_TMP/bad.err"
	expect_eq "nothing on stdout for: $*" "$(cat "$MC_TMP/bad.out")" ""
}

bad "'--bogus'" --bogus
bad "'-x'" -x
bad "'--port'" --port
bad "'stray'" stray
bad "'--port'" --port 70000
bad "'--port'" --port abc
bad "'--port'" --port -1
bad "'--transfer-port'" --transfer-port 65536
bad "'--host'" --host ''
bad "'--protocol'" --protocol udp
bad "'--transfer-congestion'" --transfer-congestion no-such-algorithm
bad "'--transfer-congestion'" --transfer-congestion aaaaaaaaaaaaaaaaaaaa
bad "'--http-congestion'" --http-congestion no-such-algorithm
bad "'--http-congestion'" --http-congestion aaaaaaaaaaaaaaaaaaaa
bad "'--replicas'" --replicas 0
bad "'--replicas'" --replicas 9
bad "'--segment-size'" --segment-size 12q
bad "'--max-segment-size'" --max-segment-size 1k
bad "'--max-body'" --max-body 0
bad "'--lease-ttl'" --lease-ttl 0
bad "'--put-timeout'" --put-timeout -5
bad "'--header-timeout'" --header-timeout 0
bad "'--header-timeout'" --header-timeout 5s
bad "'--shutdown-timeout'" --shutdown-timeout -1
bad "'shutdown_timeout'" -D shutdown_timeout=x
bad "'--eviction-high-watermark'" --eviction-high-watermark 2
bad "'--eviction-ratio'" --eviction-ratio 1.5
bad "'--log-level'" --log-level loud
bad "'--hostname'" --hostname 'a b'
bad "$MC_TMP/missing.json" --config "$MC_TMP/missing.json"
bad "$MC_TMP/malformed.json" --config "$MC_TMP/malformed.json"
bad "'http_prot'" --config "$MC_TMP/unknown.json"
bad "'http_port'" --config "$MC_TMP/wrongtype.json"
bad "malformed config file '$MC_TMP/twice.json': key '\\u0072pc_port' given twice" \
	--config "$MC_TMP/twice.json"
bad "$MC_TMP/empty.json" --config "$MC_TMP/empty.json"
bad "'nokey'" -D nokey
bad "'nokey'" -D nokey=1
bad "'http_port'" -D http_port=x
bad "'enable_fuse'" -D enable_fuse=maybe
bad "$MC_TMP/missing.token" --auth-token-file "$MC_TMP/missing.token"
bad "$MC_TMP/dir.token" --auth-token-file "$MC_TMP/dir.token"
bad "'$MC_TMP/empty.token' for 'auth_token_file': the file holds no token" --auth-token-file "$MC_TMP/empty.token"
bad "$MC_TMP/blank.token" --auth-token-file "$MC_TMP/blank.token"
bad "the token holds a space at byte 2, which no client can send" --auth-token-file "$MC_TMP/space.token"
bad "the token holds a NUL at byte 2, which no client can send" --auth-token-file "$MC_TMP/nul.token"
bad "the token holds a control byte at byte 2, which no client can send" --auth-token-file "$MC_TMP/lines.token"
bad "the file is larger than 4096 bytes" --auth-token-file "$MC_TMP/big.token"
bad "$MC_TMP/empty.token" -D auth_token_file="$MC_TMP/empty.token"

# --- defaults: announce lines, /health, SIGTERM ------------------------------
start
expect_eq "three announce lines without FUSE" "$(wc -l <"$MC_OUT")" 3
expect_match "first line: http" "$(sed -n 1p "$MC_OUT")" \
	'^mooncaked: http http://127\.0\.0\.1:[1-9][0-9]*/$'
expect_match "second line: transfer endpoint" "$(sed -n 2p "$MC_OUT")" \
	'^mooncaked: transfer localhost:[1-9][0-9]*$'
expect_eq "last line: ready" "$(sed -n 3p "$MC_OUT")" "mooncaked: ready"
http GET /health
expect_eq "/health is 200" "$HTTP_CODE" 200
check "/health is exactly OK" cmp -s "$HTTP_BODY_FILE" <(printf OK)
http GET /get_all_segments
expect_eq "default segment named localhost" "$HTTP_BODY" localhost
# SIGHUP is not a reason to stop
kill -HUP "$MC_PID"
http GET /health
expect_eq "/health after SIGHUP" "$HTTP_CODE" 200
stop_with TERM "SIGTERM: exit 0"

# --- a port already taken is a start-up failure: exit 1 ----------------------
start
taken=$MC_PORT
rc=0
timeout 10 "$MOONCAKED" --no-fuse --port "$taken" --transfer-port 0 --rpc-port 0 \
	--segment-size 0 >"$MC_TMP/b.out" 2>"$MC_TMP/b.err" || rc=$?
expect_eq "port in use: exit 1" "$rc" 1
check "port in use: a message" grep -q '^mooncaked: ' "$MC_TMP/b.err"
check "port in use: not ready" test ! -s "$MC_TMP/b.out"
http GET /health
expect_eq "the first daemon still serves" "$HTTP_CODE" 200
stop_with INT "SIGINT: exit 0"

# --- a default segment that cannot be mounted: exit 1 ----------------------
# 8000 TiB in one piece is past any machine's address space.
rc=0
timeout 10 "$MOONCAKED" --no-fuse --port 0 --transfer-port 0 --rpc-port 0 \
	--segment-size 8000T --max-segment-size 8000T \
	>"$MC_TMP/b.out" 2>"$MC_TMP/b.err" || rc=$?
expect_eq "mount failure: exit 1" "$rc" 1
check "mount failure: says so" grep -q '^mooncaked: cannot mount' "$MC_TMP/b.err"
check "mount failure: not ready" test ! -s "$MC_TMP/b.out"

# --- the upstream config file ----------------------------------------------
cat >"$MC_TMP/mooncake_config.json" <<'EOF'
{
    "local_hostname": "cfgnode",
    "metadata_server": "http://127.0.0.1:8080/metadata",
    "global_segment_size": 33554432,
    "local_buffer_size": 1073741824,
    "protocol": "TCP",
    "device_name": "",
    "master_server_address": "127.0.0.1:50051",
    "tenant_id": "default",
    "enable_ssd_offload": false,
    "ssd_offload_path": "",
    "enable_client_http_server": false,
    "client_http_port": 9300,
    "http_port": 0,
    "transfer_port": 0
}
EOF
# ("protocol": "TCP": upstream lowercases it; a segment mounted with the
# protocol as written would have been refused)
start_raw --config "$MC_TMP/mooncake_config.json"
http GET /get_all_segments
expect_eq "config local_hostname names the segment" "$HTTP_BODY" cfgnode
http GET '/query_segment?segment=cfgnode'
expect_match "config global_segment_size (number)" "$HTTP_BODY" \
	'Capacity\(bytes\): 33554432$'
check "metadata_server reported unused" \
	grep -q "WARN config: config key 'metadata_server' is unused" "$MC_ERR"
check "master_server_address reported unused" \
	grep -q "'master_server_address'" "$MC_ERR"
check "local_buffer_size reported unused" \
	grep -q "'local_buffer_size'" "$MC_ERR"
# the rest of upstream's MooncakeConfig (its deployment guide's file)
for k in tenant_id enable_ssd_offload ssd_offload_path \
	enable_client_http_server client_http_port; do
	check "$k reported unused" grep -q "WARN config: config key '$k' is unused" "$MC_ERR"
done
expect_match "transfer endpoint uses local_hostname" "$(cat "$MC_OUT")" \
	'mooncaked: transfer cfgnode:[1-9][0-9]*'
stop_with TERM "config daemon: exit 0"

cat >"$MC_TMP/size.json" <<'EOF'
{"local_hostname": "strnode", "global_segment_size": "64mb",
 "http_port": 0, "transfer_port": 0}
EOF
start_raw --config "$MC_TMP/size.json"
http GET '/query_segment?segment=strnode'
expect_match "config global_segment_size (\"64mb\")" "$HTTP_BODY" \
	'Capacity\(bytes\): 67108864$'
check "no warnings without cluster keys" \
	test -z "$(grep -E 'warn|unused' "$MC_ERR")"
stop_with TERM "size daemon: exit 0"

# -D and options override the file, wherever --config stands
start_raw -D local_hostname=dnode --config "$MC_TMP/size.json" \
	-D global_segment_size=16M
http GET /get_all_segments
expect_eq "-D overrides local_hostname" "$HTTP_BODY" dnode
http GET '/query_segment?segment=dnode'
expect_match "-D overrides global_segment_size" "$HTTP_BODY" \
	'Capacity\(bytes\): 16777216$'
stop_with TERM "-D daemon: exit 0"

start_raw --config "$MC_TMP/size.json" --segment-size 0
http GET /get_all_segments
expect_eq "--segment-size 0 mounts nothing" "$HTTP_BODY" ""
http GET /health
expect_eq "/health with no segment" "$HTTP_CODE" 200
stop_with TERM "no-segment daemon: exit 0"

# --- a mount touches no page; --populate makes the segment resident ---------
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$MC_PID/status"; }
start --segment-size 0
r0=$(rss_kb)
http POST /api/mount -d '{"size": 4294967296}'
expect_eq "a 4 GiB mount: 200" "$HTTP_CODE" 200
check "a 4 GiB mount touches no page (RSS +$(($(rss_kb) - r0)) KiB)" \
	[ $(($(rss_kb) - r0)) -lt 65536 ]
stop_with TERM "lazy-mount daemon: exit 0"
start --segment-size 0 --populate
r0=$(rss_kb)
http POST /api/mount -d '{"size": 268435456}'
expect_eq "a 256 MiB mount with --populate: 200" "$HTTP_CODE" 200
check "with --populate it is resident (RSS +$(($(rss_kb) - r0)) KiB)" \
	[ $(($(rss_kb) - r0)) -ge 262144 ]
stop_with TERM "populate daemon: exit 0"

# --- the auth token file: surrounding whitespace is not part of the token ----
printf '  s3cret\n\n' >"$MC_TMP/ok.token"
start --auth-token-file "$MC_TMP/ok.token"
http PUT /api/put/k --data-binary v
expect_eq "put without the token: 401" "$HTTP_CODE" 401
http PUT /api/put/k --data-binary v -H 'Authorization: Bearer s3cret'
expect_eq "put with the trimmed token: 200" "$HTTP_CODE" 200
stop_with TERM "auth daemon: exit 0"

# --- the ports' congestion control (mooncaked(8)) ---------------------------
# lcc [PORT]: the algorithm of the listener on PORT (ss -i names it; the
# connections it accepts inherit it), the transfer port's by default
lcc() {
	ss -tilH "( sport = :${1:-$MC_XPORT} )" | awk 'NR == 2 { print $1 }'
}
# acc: the algorithm of a connection the HTTP port accepted
acc() {
	local cc
	exec 5<>"/dev/tcp/127.0.0.1/$MC_PORT"
	cc=$(ss -tiH "( sport = :$MC_PORT )" | awk 'NR == 2 { print $1 }')
	exec 5>&-
	echo "$cc"
}
SYS_CC=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
if ! command -v ss >/dev/null ||
	! grep -qw cubic /proc/sys/net/ipv4/tcp_available_congestion_control; then
	echo "# no ss, or no cubic in this kernel: the default is not checked"
elif [ "$(id -u)" = 0 ]; then
	start
	expect_eq "the transfer port's default congestion control" "$(lcc)" cubic
	expect_eq "the HTTP port's default congestion control" \
		"$(lcc "$MC_PORT")" cubic
	expect_eq "... and a connection it accepted" "$(acc)" cubic
	expect_eq "no fallback line when the default is set" \
		"$(grep -c "keep the system's congestion control" "$MC_ERR")" 0
	stop_with TERM "default congestion control: exit 0"
	start --transfer-congestion system
	expect_eq "--transfer-congestion system: the system's" "$(lcc)" "$SYS_CC"
	expect_eq "... the HTTP port keeps its own" "$(lcc "$MC_PORT")" cubic
	stop_with TERM "--transfer-congestion system: exit 0"
	start --http-congestion system
	expect_eq "--http-congestion system: the system's" \
		"$(lcc "$MC_PORT")" "$SYS_CC"
	expect_eq "... and a connection it accepted" "$(acc)" "$SYS_CC"
	expect_eq "... the transfer port keeps its own" "$(lcc)" cubic
	stop_with TERM "--http-congestion system: exit 0"
	start --http-congestion reno
	expect_eq "--http-congestion reno" "$(lcc "$MC_PORT")" reno
	stop_with TERM "--http-congestion reno: exit 0"
	# a process without CAP_NET_ADMIN may take only the allowed ones: the
	# default falls back to the system's with one info line, a named one
	# that is not allowed still stops the start
	if ! grep -qw cubic /proc/sys/net/ipv4/tcp_allowed_congestion_control &&
		command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
		as_nobody() {
			exec setpriv --reuid nobody --regid "$(id -g nobody)" \
				--clear-groups "$REAL_MOONCAKED" "$@"
		}
		MOONCAKED=as_nobody
		start
		MOONCAKED=$REAL_MOONCAKED
		expect_eq "without CAP_NET_ADMIN: the system's" "$(lcc)" "$SYS_CC"
		expect_eq "without CAP_NET_ADMIN: one info line says so" \
			"$(grep -c "INFO transfer: connections keep the system's congestion control $SYS_CC: the default cubic cannot be set (not allowed" "$MC_ERR")" 1
		expect_eq "without CAP_NET_ADMIN: the HTTP port's, the system's" \
			"$(lcc "$MC_PORT")" "$SYS_CC"
		expect_eq "... one info line says so" \
			"$(grep -c "INFO http: connections keep the system's congestion control $SYS_CC: the default cubic cannot be set (not allowed" "$MC_ERR")" 1
		stop_with TERM "fallback congestion control: exit 0"
		for p in transfer http; do
			rc=0
			timeout 10 setpriv --reuid nobody \
				--regid "$(id -g nobody)" --clear-groups \
				"$MOONCAKED" --no-fuse --port 0 \
				--transfer-port 0 --rpc-port 0 --segment-size 0 \
				"--$p-congestion" cubic >"$MC_TMP/bad.out" \
				2>"$MC_TMP/bad.err" || rc=$?
			expect_eq "without CAP_NET_ADMIN, --$p-congestion cubic: exit 2" "$rc" 2
			check "... one line naming '--$p-congestion' and why" \
				grep -qF "'--$p-congestion' (${p}_congestion): not allowed" "$MC_TMP/bad.err"
		done
	else
		echo "# cubic allowed to every process, or no setpriv: the fallback is not checked"
	fi
else
	echo "# not root: the default and its fallback are not checked"
fi

mc_done
