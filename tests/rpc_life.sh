#!/usr/bin/env bash
# rpc_life.sh - a Mooncake client's life against the real daemon over the
# master RPC (mooncake-rpc(7)): tests/rpc_life does the client's part
# (its own memory and data port, puts, reads, batches, expiry) and checks
# the HTTP and FUSE views; this script starts and restarts the daemon
# around it, and checks the --rpc-port option itself.
. "${top_srcdir:-.}/tests/lib.sh"

LIFE=${top_builddir:-.}/tests/rpc_life
port=$("$LIFE" free-port)

fuse=()
[ -e /dev/fuse ] && fuse=(--fuse)
mc_start "${fuse[@]}" --rpc-port "$port"
expect_match "the daemon announces the RPC port" "$(cat "$MC_OUT")" \
	"^mooncaked: rpc 127\.0\.0\.1:$port\$"
check "a client's whole life" "$LIFE" life "$port" "$MC_PORT" ${MC_MNT:+"$MC_MNT"}

# A second daemon cannot have the port: it says so and stops.
out=$(timeout 10 "$MOONCAKED" --no-fuse --port 0 --transfer-port 0 \
	--rpc-port "$port" --segment-size 0 2>&1 >/dev/null); rc=$?
expect_eq "a taken RPC port stops the start" "$rc" 1
expect_match "and names it" "$out" \
	"master RPC: cannot listen on .* port $port: .*--rpc-port"
mc_stop

# Under a metadata cluster id the client publishes its descriptors, and
# the daemon looks them up to read its memory, under mooncake/ID/
# (mooncake-transfer(7)).
mc_start --no-fuse --rpc-port "$port" --metadata-cluster-id c1
check "a client's life under a cluster id" \
	env MC_METADATA_CLUSTER_ID=c1 "$LIFE" life "$port" "$MC_PORT"
mc_stop

# Restarted, the daemon knows no client: they remount.
mc_start --rpc-port "$port"
check "remount after a restart" "$LIFE" remount "$port" "$MC_PORT"
mc_stop

# A frame that trickles in slower than 1 KiB/s once --header-timeout has
# passed is closed (the rule of HTTP bodies), long before the 30 s stall.
mc_start --no-fuse --rpc-port "$port" --header-timeout 1000
cat >"$MC_TMP/trickle.py" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
# a header that announces a 64 KiB body, whose bytes then come 16 at a time
s.sendall(struct.pack("<BBBBIIII", 0x15, 0, 0, 0, 1, 1, 65536, 0))
t0 = time.monotonic()
s.settimeout(0.1)
while time.monotonic() - t0 < 8:
    try:
        if s.recv(1) == b"":
            break
    except socket.timeout:
        pass
    except OSError:
        break
    try:
        s.send(b"x" * 16)  # 160 bytes a second
    except OSError:
        break
print("%.1f" % (time.monotonic() - t0))
PY
took=$(python3 "$MC_TMP/trickle.py" "$port")
echo "a frame trickled at 160 B/s was closed after $took s"
check "a trickled frame is closed within 4 s" \
	python3 -c "import sys; sys.exit(not float('$took') < 4)"
expect_match "the log says why" "$(cat "$MC_ERR")" \
	'WARN rpc: closing a connection whose request arrives too slowly'
mc_stop

# --rpc-port 0: no RPC at all.
fails() { ! "$@" >/dev/null 2>&1; }
mc_start --rpc-port 0
check "no rpc line with --rpc-port 0" fails grep -q '^mooncaked: rpc' "$MC_OUT"
check "nothing listens" fails "$LIFE" remount "$port" "$MC_PORT"
mc_done
