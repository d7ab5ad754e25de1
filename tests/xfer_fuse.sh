#!/bin/bash
# xfer_fuse.sh - the transfer port and the control filesystem see the same
# objects: bytes written through a two-phase put show in keys/, and a
# value written with cp into keys/ reads back exactly through the port.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

mc_need_fuse
command -v fusermount3 >/dev/null || { echo "no fusermount3"; exit 77; }

mc_start --fuse

# put_start -> WRITE -> put_end, then cat in keys/
head -c 200000 /dev/urandom >"$MC_TMP/v"
http POST /api/v1/put_start -d '{"key":"viaport","size":200000}'
expect_eq "put_start" "$HTTP_CODE" 200
a=$(addr_in "$HTTP_BODY")
check "an open put is not in keys/" [ ! -e "$MC_MNT/keys/viaport" ]
"$XC" 127.0.0.1 "$MC_XPORT" write "$a" 200000 v2 <"$MC_TMP/v"
expect_eq "write exits 0" "$?" 0
http POST /api/v1/put_end -d '{"key":"viaport"}'
expect_eq "put_end" "$HTTP_CODE" 200
check "port-written bytes readable in keys/" cmp -s "$MC_MNT/keys/viaport" "$MC_TMP/v"

# cp into keys/ -> READ through the port
head -c 70000 /dev/urandom >"$MC_TMP/w"
cp "$MC_TMP/w" "$MC_MNT/keys/viafs"
check "cp into keys/ succeeded" [ "$?" = 0 ]
a=$(addr_in "$(cat "$MC_MNT/replicas/viafs" 2>/dev/null ||
	curl -s "$MC_URL/query_key?key=viafs")")
"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 70000 v2 >"$MC_TMP/got"
check "FUSE-written bytes read through the port" cmp -s "$MC_TMP/got" "$MC_TMP/w"

mc_stop

# Clients that come and go while the daemon forks (fusermount3 at the
# mount, the tree's guard): a child holds each socket for a moment, so
# close() did not take a closed connection out of the epoll set, and its
# next event named the freed connection (a crash in about one start and
# stop in four). Each round: a daemon on a fixed port with short READs
# (rejected, then closed) coming from before its start to after its stop.
read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
hammer() {
	local hdr='\x40\0\0\0\0\0\0\0\0\x10\0\0\0\0\0\0\x80\0\0\0\0\0\0\0'
	while :; do
		{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || continue
		printf "$hdr" >&3 2>/dev/null
		exec 3<&-
	done
}
crashed=0
for round in $(seq 10); do
	xp=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
	hammer "$xp" &
	hp=$!
	mc_start --fuse --transfer-port "$xp"
	sleep 0.5
	kill -TERM "$MC_PID"
	rc=0
	wait "$MC_PID" || rc=$?
	MC_PID=""
	kill "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
	[ "$rc" = 0 ] || { crashed=$((crashed + 1)); echo "round $round: exit status $rc"; }
done
expect_eq "ten starts and stops under connecting clients, no crash" "$crashed" 0
mc_done
