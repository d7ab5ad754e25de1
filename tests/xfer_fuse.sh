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
mc_done
