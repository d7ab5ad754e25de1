#!/bin/bash
# xfer_fdcap.sh - idle transfer-port connections cannot take the file
# descriptors the HTTP door needs (mooncaked(8), LIMITS): with a limit of
# 1600 descriptors, the loops of the transfer port and the RPC stop
# taking connections where the HTTP door's share begins; the ones past
# that are closed at once and the log says so; /health still answers;
# once they go, the port takes connections again.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

ulimit -n 1600 || { echo "cannot set ulimit -n 1600" >&2; exit 1; }
mc_start

# hold PORT N WANT: N connections to the transfer port, each half a
# request head (one byte: the loop takes it, TCP_DEFER_ACCEPT lets it
# through), then says how many the daemon closed (waiting up to 15 s for
# WANT of them), and holds the rest until stdin ends.
cat >"$MC_TMP/hold.py" <<'PY'
import socket, sys, time
port, n, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.send(b"\0")
    socks.append(s)
gone = set()
def look():
    for i, s in enumerate(socks):
        if i in gone:
            continue
        try:
            if s.recv(1, socket.MSG_DONTWAIT) == b"":
                gone.add(i)
        except BlockingIOError:
            pass
        except OSError:
            gone.add(i)
# a loaded machine may take a while to accept them all: up to 15 s for
# the closes expected, then a last look for any past them
end = time.time() + 15
while time.time() < end and len(gone) < want:
    look()
    time.sleep(0.2)
time.sleep(1)
look()
print(len(gone), flush=True)
sys.stdin.read()
PY
mkfifo "$MC_TMP/hold.in"
python3 "$MC_TMP/hold.py" "$MC_XPORT" 600 200 <"$MC_TMP/hold.in" >"$MC_TMP/hold.out" &
HOLD=$!
exec 7>"$MC_TMP/hold.in"
for _ in $(seq 300); do [ -s "$MC_TMP/hold.out" ] && break; sleep 0.1; done
closed=$(cat "$MC_TMP/hold.out")
echo "of 600 idle transfer connections the daemon closed $closed"
# the cap: 1600 less the HTTP door's share (1356), or a quarter: 400
check "connections past the cap are closed" [ "${closed:-0}" -ge 150 ]
check "... and those under it are kept" [ "${closed:-600}" -le 250 ]
fds=$(ls "/proc/$MC_PID/fd" | wc -l)
check "the daemon keeps descriptors free ($fds of 1600 open)" [ "$fds" -lt 500 ]
code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$MC_URL/health")
expect_eq "/health answers meanwhile" "$code" 200
expect_match "the log says why" "$(grep 'transfer' "$MC_ERR" | grep 'refused')" \
	'connection\(s\) refused: [0-9]+ are open, the most the descriptor limit leaves beside the other doors'
expect_match "the start said what a low limit costs" "$(grep 'file descriptors' "$MC_ERR")" \
	'only 1600 file descriptors \(ulimit -n\), fewer than the 2124 wanted: the transfer port and the master RPC get fewer connections'
exec 7>&-
wait "$HOLD"
sleep 0.5
python3 "$MC_TMP/hold.py" "$MC_XPORT" 20 0 </dev/null >"$MC_TMP/hold2.out"
expect_eq "once they are gone, new connections are kept" "$(cat "$MC_TMP/hold2.out")" 0
mc_stop
mc_done
