#!/bin/bash
# daemon_service.sh - what systemd and an operator meet (mooncaked(8),
# SIGNALS, LOGGING): READY=1 only once HTTP, the transfer port and the
# control tree are up, and never when a door cannot come up; RELOADING=1
# and READY=1 around a SIGHUP; STOPPING=1 on SIGTERM; SIGHUP re-reads
# the config file (log level and auth token at once, other changes
# reported and kept, a bad file changes nothing and says why in one
# line); every log line is "TIME LEVEL subsystem: message", or
# "<PRIO>LEVEL subsystem: message" into the journal; a busy port names
# --port; make run passes ARGS.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }

RECV=${top_builddir:-.}/tests/notify_recv
RPID=""
trap 'mc_rc=$?; [ -n "$RPID" ] && kill "$RPID" 2>/dev/null; mc_cleanup "$mc_rc"' EXIT

# listen NAME: a fresh NOTIFY_SOCKET at $MC_TMP/NAME.sock, its messages
# one a line in $MC_TMP/NAME.log.
listen() {
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null
	rm -f "$MC_TMP/$1.sock"
	"$RECV" "$MC_TMP/$1.sock" >"$MC_TMP/$1.log" &
	RPID=$!
	for _ in $(seq 50); do [ -S "$MC_TMP/$1.sock" ] && break; sleep 0.05; done
	NOTIFY_LOG=$MC_TMP/$1.log
	export NOTIFY_SOCKET=$MC_TMP/$1.sock
}

# await FILE REGEX: until a line of FILE matches (5 s at most).
await() {
	for _ in $(seq 100); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- sd_notify ---------------------------------------------------------------
if [ "${MC_SERVICE_TYPE:-notify}" = notify ]; then
	listen up
	mc_start --fuse
	check "READY=1 reaches NOTIFY_SOCKET" await "$NOTIFY_LOG" '^READY=1'
	# At READY=1 every door answers.
	expect_eq "then /health answers 200" "$(curl -s -o /dev/null -w '%{http_code}' "$MC_URL/health")" 200
	check "then the control tree is mounted" mountpoint -q "$MC_MNT"
	check "then the transfer port accepts" bash -c ": >/dev/tcp/127.0.0.1/$MC_XPORT"
	kill -HUP "$MC_PID"
	check "SIGHUP: RELOADING=1" await "$NOTIFY_LOG" '^RELOADING=1'
	for _ in $(seq 100); do
		[ "$(grep -c '^READY=1' "$NOTIFY_LOG")" -ge 2 ] && break
		sleep 0.05
	done
	expect_eq "then READY=1 again" "$(grep -c '^READY=1' "$NOTIFY_LOG")" 2
	mc_stop
	check "SIGTERM: STOPPING=1" await "$NOTIFY_LOG" '^STOPPING=1'
	expect_eq "in this order" "$(cut -d' ' -f1 "$NOTIFY_LOG" | tr '\n' ' ')" \
		"READY=1 RELOADING=1 READY=1 STOPPING=1 "

	# A door that cannot come up: no READY=1, ever.
	mc_start --no-fuse
	taken=$MC_PORT
	listen busy
	rc=0
	timeout 10 "$MOONCAKED" --no-fuse --port "$taken" --transfer-port 0 --rpc-port 0 \
		--segment-size 0 >"$MC_TMP/b.out" 2>"$MC_TMP/b.err" || rc=$?
	expect_eq "HTTP port in use: exit 1" "$rc" 1
	expect_match "and the message names --port" "$(cat "$MC_TMP/b.err")" \
		"^mooncaked: cannot start the HTTP server: cannot listen on '127.0.0.1:$taken': the port is in use; choose another with --port\$"
	rc=0
	timeout 10 "$MOONCAKED" --no-fuse --port 0 --transfer-port "$MC_XPORT" --rpc-port 0 \
		--segment-size 0 >"$MC_TMP/b.out" 2>"$MC_TMP/b.err" || rc=$?
	expect_eq "transfer port in use: exit 1" "$rc" 1
	expect_match "and the message names --transfer-port" "$(cat "$MC_TMP/b.err")" \
		'Address already in use; choose another with --transfer-port$'
	rc=0
	timeout 10 "$MOONCAKED" --mountpoint /proc/mc-none/tree --port 0 --rpc-port 0 \
		--transfer-port 0 --segment-size 0 >"$MC_TMP/b.out" 2>"$MC_TMP/b.err" || rc=$?
	expect_eq "a control tree that cannot mount: exit 1" "$rc" 1
	sleep 0.2
	expect_eq "no READY=1 from a daemon that could not start" "$(cat "$NOTIFY_LOG")" ""
	mc_stop
	unset NOTIFY_SOCKET
else
	echo "built without libsystemd: the unit is Type=$MC_SERVICE_TYPE, no sd_notify to check"
fi

# --- SIGHUP: re-read the config file ------------------------------------------
cfg=$MC_TMP/mooncaked.json
printf 'one\n' >"$MC_TMP/token"
printf '{"log_level": "info", "auth_token_file": "%s"}\n' "$MC_TMP/token" >"$cfg"
mc_start --config "$cfg"
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary v ${2:+-H "Authorization: Bearer $2"} "$MC_URL/api/put/$1"; }
expect_eq "no token: 401" "$(put k)" 401
expect_eq "token one: 200" "$(put k one)" 200

# hup: SIGHUP, and wait for the reload to be logged; RELOAD holds the
# lines it logged.
hup() {
	local n
	n=$(grep -c 'daemon: SIGHUP' "$MC_ERR")
	kill -HUP "$MC_PID"
	for _ in $(seq 100); do
		[ "$(grep -c 'daemon: SIGHUP' "$MC_ERR")" -gt "$n" ] &&
			tail -n 1 "$MC_ERR" | grep -qE 'daemon: (reloaded|reload: .*nothing (else )?changed)' && break
		sleep 0.05
	done
	RELOAD=$(awk -v n="$n" '/daemon: SIGHUP/ { c++ } c > n' "$MC_ERR")
}

printf 'two\n' >"$MC_TMP/token"
printf '{"log_level": "debug", "auth_token_file": "%s"}\n' "$MC_TMP/token" >"$cfg"
hup
expect_match "reload logs the new level" "$RELOAD" 'INFO daemon: reload: log level debug \(was info\)'
expect_match "and the new token, not its value" "$RELOAD" 'INFO daemon: reload: the auth token changed'
check "the token's value is never logged" bash -c "! grep -q 'two' '$MC_ERR'"
expect_eq "the old token: 401 at once" "$(put k one)" 401
expect_eq "the new token: 200 at once" "$(put k two)" 200
check "debug lines at once" await "$MC_ERR" "DEBUG put: 'k' \\(1 bytes, 1 replicas\\)"

# A setting that cannot change: reported, one line, and kept.
printf '{"log_level": "debug", "auth_token_file": "%s", "replica_num": 2}\n' "$MC_TMP/token" >"$cfg"
hup
expect_match "replica_num cannot change" "$RELOAD" \
	"WARN daemon: reload: 'replica_num' cannot change while running \\(2 now, keeping 1\\)"
expect_eq "one line for it" "$(printf '%s\n' "$RELOAD" | grep -c 'cannot change')" 1
expect_eq "the command line still wins over the file (--port 0)" \
	"$(printf '%s\n' "$RELOAD" | grep -c http_port)" 0
put r two >/dev/null
expect_eq "and it keeps its value: one replica" "$(curl -s "$MC_URL/query_key?key=r" | wc -l)" 1

# A file that does not parse, a bad value, an unknown key, an unreadable
# token file: nothing changes, one line says why.
bad_reload() {
	local desc=$1 why=$2
	hup
	expect_eq "$desc: one ERROR line" "$(printf '%s\n' "$RELOAD" | grep -c '^ERROR ')" 1
	expect_match "$desc: it says why" "$RELOAD" "ERROR daemon: reload: $why; nothing changed"
	expect_eq "$desc: the token is unchanged" "$(put k two)" 200
	check "$desc: the level is unchanged" await "$MC_ERR" "DEBUG put: 'k'"
	: >"$MC_TMP/mark"
}
printf '{"log_level": "warn",' >"$cfg"
bad_reload "malformed file" "malformed config file '$cfg': unexpected end of data at byte 21"
printf '{"log_level": "loud"}' >"$cfg"
bad_reload "bad value" "invalid value 'loud' for 'log_level': not a log level \\(error, warn, info, debug\\)"
printf '{"log_levle": "warn"}' >"$cfg"
bad_reload "unknown key" "unknown key 'log_levle' in config file '$cfg'"
printf '{"log_level": "warn", "log_level": "info"}' >"$cfg"
bad_reload "a key given twice" "malformed config file '$cfg': key 'log_level' given twice"
printf '{"log_level": "warn", "auth_token_file": "%s"}' "$MC_TMP/nope" >"$cfg"
bad_reload "unreadable token file" "invalid value '$MC_TMP/nope' for 'auth_token_file': cannot read it: No such file or directory"
rm -f "$cfg"
bad_reload "a config file gone" "cannot read config file '$cfg': No such file or directory"

# Dropping the token from the file opens mutating requests again.
printf '{"log_level": "info"}\n' >"$cfg"
hup
expect_match "auth off is said" "$RELOAD" 'no auth token: mutating requests are open'
expect_eq "no token needed now" "$(put k)" 200

# --- the log line -------------------------------------------------------------
bad=$(grep -vE '^(ERROR|WARN|INFO|DEBUG) [a-z/_]+: .' "$MC_ERR")
expect_eq "every log line is LEVEL subsystem: message" "$bad" ""
mc_stop

# Into the journal (JOURNAL_STREAM names stderr): the syslog priority.
: >"$MC_TMP/journal"
JOURNAL_STREAM=$(stat -c '%d:%i' "$MC_TMP/journal") "$MOONCAKED" --no-fuse \
	--port 0 --transfer-port 0 --rpc-port 0 --segment-size 16M >"$MC_TMP/j.out" 2>>"$MC_TMP/journal" &
jpid=$!
await "$MC_TMP/j.out" '^mooncaked: ready'
kill -TERM "$jpid"
wait "$jpid"
bad=$(grep -vE '^<[3467]>(ERROR|WARN|INFO|DEBUG) [a-z/_]+: .' "$MC_TMP/journal")
expect_eq "into the journal: <PRIO>LEVEL subsystem: message" "$bad" ""
expect_match "e.g. the mount" "$(cat "$MC_TMP/journal")" "^<6>INFO segment: mounted '"
# a failed start too: its line at the error priority, a config warning
# at the warning one, so journalctl -p warning shows why it stopped
: >"$MC_TMP/journal"
rc=0
JOURNAL_STREAM=$(stat -c '%d:%i' "$MC_TMP/journal") "$MOONCAKED" --no-fuse \
	-D metadata_server=x --port abc >/dev/null 2>>"$MC_TMP/journal" || rc=$?
expect_eq "a bad option into the journal: exit 2" "$rc" 2
expect_eq "... its lines, with their priorities" "$(cat "$MC_TMP/journal")" \
	"<4>WARN config: config key 'metadata_server' is unused (a Mooncake client's setting: mooncaked is the store)
<3>mooncaked: invalid value 'abc' for '--port': not a port number"

# --- a standard error nobody reads -------------------------------------------
# A pipe (a supervisor that reads only stdout) or a socket (a stalled
# journald) that fills costs log lines, never a request or the stop; the
# next line that goes says how many were lost (mooncaked(8), LOGGING).
cat >"$MC_TMP/unread.py" <<'PY'
import http.client, os, socket, subprocess, sys, time
kind, daemon, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "pipe":
    fifo = os.path.join(tmp, "unread.fifo")
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR)          # a reader that never reads
    err = os.open(fifo, os.O_WRONLY)
else:
    keep, err = socket.socketpair()
    err = err.detach()
out = open(os.path.join(tmp, "unread.out"), "w+")
d = subprocess.Popen([daemon, "--no-fuse", "--port", "0", "--transfer-port", "0",
                      "--rpc-port", "0", "--segment-size", "16M"],
                     stdout=out, stderr=err)
os.close(err)
import atexit
atexit.register(lambda: d.poll() is None and d.kill())
for _ in range(200):
    out.seek(0)
    t = out.read()
    if "mooncaked: ready" in t:
        break
    time.sleep(0.05)
port = int(t.split("http://127.0.0.1:")[1].split("/")[0])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
for i in range(3000):                        # 3000 logged 400s: ~300 KiB
    c.request("POST", "/api/mount", body=b"garbage")
    r = c.getresponse(); r.read()
    assert r.status == 400, r.status
h = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
h.request("GET", "/health"); r = h.getresponse()
print("health", r.status, r.read().decode().strip())
rd = os.fdopen(keep, "rb", 0) if kind == "pipe" else keep.makefile("rb", 0)
drained = b""
if kind == "pipe":
    os.set_blocking(keep, False)
else:
    keep.setblocking(False)
def drain():
    global drained
    while True:
        try:
            b = rd.read(65536)
        except (BlockingIOError, OSError):
            return
        if not b:
            return
        drained += b
drain()
c.request("POST", "/api/mount", body=b"garbage"); c.getresponse().read()
d.terminate()
t0 = time.time()
try:
    rc = d.wait(10)
except subprocess.TimeoutExpired:
    rc = "hung"
    d.kill()
print("exit", rc, "in time" if time.time() - t0 < 10 else "late")
drain()
lost = [l for l in drained.decode(errors="replace").splitlines() if "were not logged" in l]
print("said", lost[-1].split(":")[0] + ": N lines were not logged: " + lost[-1].split(": ", 2)[-1] if lost else "nothing")
PY
for kind in pipe socket; do
	rm -f "$MC_TMP/unread.fifo"
	expect_eq "stderr a $kind nobody reads: requests answered, the stop on time, the loss said" \
		"$(timeout 60 python3 "$MC_TMP/unread.py" $kind "$MOONCAKED" "$MC_TMP" 2>&1)" \
		"health 200 OK
exit 0 in time
said WARN log: N lines were not logged: standard error was full"
done

# --- make run ARGS ------------------------------------------------------------
out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -n -C "${top_builddir:-.}" run ARGS='--port 9090' 2>&1)
expect_match "make run passes ARGS to the daemon" "$out" 'daemon/mooncaked --port 9090'
mc_done
