#!/bin/bash
# fs_tree.sh - the control tree: every file and its mode, ctl/mount and
# ctl/unmount (read-back of ids, every errno, spec round trip, grace), the
# views against HTTP, and the operations keys/ refuses.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
mc_need_fuse

mc_start --fuse --lease-ttl 500
M=$MC_MNT
SHM="mc-fs-tree-$$"
trap 'mc_rc=$?; rm -f "/dev/shm/$SHM"; mc_cleanup "$mc_rc"' EXIT

# err CMD...: the error text a command prints (its stdout is dropped).

# --- every file and its mode ------------------------------------------------
seg=$(ls "$M/segments/localhost" | grep -v '^used$\|^capacity$' | head -n1)
S="$M/segments/localhost/$seg"
expect_match "boot segment id" "$seg" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
expect_eq "root" "$(ls "$M" | tr '\n' ' ')" "ctl health keys metadata metrics replicas segments summary "
expect_eq "ctl" "$(ls "$M/ctl" | tr '\n' ' ')" "error mount unmount "
expect_eq "ctl/error before any error" "$(cat "$M/ctl/error")" ""
expect_eq "segment files" "$(ls "$S" | sort | tr '\n' ' ')" \
	"endpoint location protocol size source spec state used "
for f in ctl/mount:600 ctl/unmount:200 health:444 metrics:444 summary:444 \
	keys:755 replicas:555 segments:555 ctl:555 \
	segments/localhost:555 segments/localhost/used:444 \
	segments/localhost/capacity:444 "segments/localhost/$seg:555"; do
	expect_eq "mode of ${f%:*}" "$(stat -c %a "$M/${f%:*}")" "${f#*:}"
done
for f in size used protocol location state source endpoint spec; do
	expect_eq "mode of ID/$f" "$(stat -c %a "$S/$f")" 444
done
expect_eq "health" "$(cat "$M/health")" OK
expect_eq "health ends with a newline" "$(tail -c1 "$M/health" | od -An -c | tr -d ' ')" '\n'
expect_eq "size" "$(cat "$S/size")" 67108864
expect_eq "used" "$(cat "$S/used")" 0
expect_eq "protocol" "$(cat "$S/protocol")" tcp
expect_eq "location is one empty line" "$(od -An -c "$S/location" | tr -d ' ')" '\n'
expect_eq "state" "$(cat "$S/state")" ok
expect_eq "source" "$(cat "$S/source")" alloc
expect_eq "endpoint" "$(cat "$S/endpoint")" "localhost:$MC_XPORT"
expect_eq "spec" "$(cat "$S/spec")" "size=67108864 protocol=tcp name=localhost"
expect_eq "capacity" "$(cat "$M/segments/localhost/capacity")" 67108864

# --- views = HTTP bodies -----------------------------------------------------
http GET /query_segment?segment=localhost
expect_eq "used = /query_segment" "Used(bytes): $(cat "$M/segments/localhost/used")" \
	"$(sed -n 2p "$HTTP_BODY_FILE")"
http GET /get_all_segments
expect_eq "segments = /get_all_segments" "$(ls "$M/segments")" "$HTTP_BODY"
http GET /metrics
expect_eq "metrics families = /metrics" "$(grep '^# TYPE' "$M/metrics")" \
	"$(grep '^# TYPE' "$HTTP_BODY_FILE")"
expect_match "fuse ops counted" "$(cat "$M/metrics")" \
	'mooncake_fuse_operations_total\{op="open"\} [1-9]'
http GET /metrics/summary
expect_eq "summary = /metrics/summary" "$(cut -d'|' -f1-3 "$M/summary")" \
	"$(printf '%s\n' "$HTTP_BODY" | cut -d'|' -f1-3)"
expect_eq "summary ends with a newline" "$(tail -c1 "$M/summary" | od -An -c | tr -d ' ')" '\n'

# --- ctl/mount ----------------------------------------------------------------
echo 'size=32M location=rack:1' > "$M/ctl/mount"
check "echo size=32M > ctl/mount" [ $? = 0 ]
exec 3<>"$M/ctl/mount"
echo 'size=16M name=other protocol=tcp' >&3
ids=$(cat <&3)
exec 3>&-
expect_match "ids read back on the same fd" "$ids" '^[0-9a-f-]{36}$'
id2=$ids
check "new segment is listed" [ -d "$M/segments/other/$id2" ]
expect_eq "spec of a named segment" "$(cat "$M/segments/other/$id2/spec")" \
	"size=16777216 protocol=tcp name=other"
id1=$(ls "$M/segments/localhost" | grep -v "^used$\|^capacity$\|^$seg$")
expect_eq "location" "$(cat "$M/segments/localhost/$id1/location")" rack:1
expect_eq "capacity sums over the name" "$(cat "$M/segments/localhost/capacity")" \
	$((64 << 20 | 32 << 20))
# dd reads the ids back through the same descriptor too
out=$(exec 3<>"$M/ctl/mount"; printf 'size=16M' >&3; dd bs=4096 count=1 <&3 2>/dev/null)
expect_match "dd read-back" "$out" '^[0-9a-f-]{36}$'
id3=$out
# A program reads the ids from offset 0 to end of file, byte-exact, in
# reads of any size; so does one that reads on from where its write
# left the offset (the shell's exec 3<>; echo >&3; cat <&3).
FDIO=${top_builddir:-.}/tests/fdio
for how in pread lseek after; do
	for chunk in 4096 7 1; do
		out=$("$FDIO" "$M/ctl/mount" 'size=16M' $how $chunk; echo "rc=$?")
		expect_match "$how read-back in $chunk-byte reads" \
			"$(printf '%s' "$out" | tr '\n' '|')" \
			'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[|]rc=0$'
	done
done
out=$(exec 3<>"$M/ctl/mount"; echo 'size=16M' >&3; cat <&3; echo "rc=$?")
expect_match "echo >&3; cat <&3 read-back" "$(printf '%s' "$out" | tr '\n' '|')" \
	'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[|]rc=0$'
# (unmount them again: the tests below count this name's segments)
for id in $(ls "$M/segments/localhost" | grep -v "^used$\|^capacity$\|^$seg$\|^$id1$\|^$id3$"); do
	echo "$id" > "$M/ctl/unmount"
done
http GET /get_all_segments
expect_eq "HTTP sees the new name" "$HTTP_BODY" "$(printf 'localhost\nother')"

# spec round trip: writing a spec back mounts an equal segment
cat "$M/segments/localhost/$id1/spec" > "$M/ctl/mount"
id4=$(ls "$M/segments/localhost" | grep -v "^used$\|^capacity$\|^$seg$\|^$id1$\|^$id3$")
expect_match "round trip made one segment" "$id4" '^[0-9a-f-]{36}$'
expect_eq "round trip spec" "$(cat "$M/segments/localhost/$id4/spec")" \
	"$(cat "$M/segments/localhost/$id1/spec")"
expect_eq "round trip spec text" "$(cat "$M/segments/localhost/$id4/spec")" \
	"size=33554432 protocol=tcp location=rack:1 name=localhost"

# shm mount, its spec, and its round trip
truncate -s 4M "/dev/shm/$SHM"
exec 3<>"$M/ctl/mount"
echo "size=4M shm=/$SHM offset=0" >&3
sid=$(cat <&3)
exec 3>&-
expect_eq "shm source" "$(cat "$M/segments/localhost/$sid/source")" "shm:$SHM+0"
expect_eq "shm spec" "$(cat "$M/segments/localhost/$sid/spec")" \
	"size=4194304 shm=$SHM offset=0 protocol=tcp name=localhost"
# the same bytes twice would hold two values in one place
expect_match "a shm range mounted already" \
	"$(err bash -c "cat '$M/segments/localhost/$sid/spec' > '$M/ctl/mount'")" 'File exists'
expect_match "ctl/error names the segment" "$(cat "$M/ctl/error")" \
	"bytes 0 to 4194304 of shm object '$SHM' are mounted already, as segment '$sid'"
expect_match "a part of it too" \
	"$(err bash -c "echo 'size=4096 shm=$SHM offset=4190208' > '$M/ctl/mount'")" 'File exists'
cp "$M/segments/localhost/$sid/spec" "$MC_TMP/shm.spec"
echo "$sid" > "$M/ctl/unmount"
exec 3<>"$M/ctl/mount"
cat "$MC_TMP/shm.spec" >&3
sid2=$(cat <&3)
exec 3>&-
expect_eq "shm round trip once unmounted" "$(cat "$M/segments/localhost/$sid2/spec")" \
	"$(cat "$MC_TMP/shm.spec")"
sid=$sid2

# every errno of ctl/mount, with the daemon's one-line reason
expect_match "unknown token" "$(err bash -c "echo 'size=1M bogus=1' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "logged why" "$(tail -n1 "$MC_ERR")" "WARN ctl/mount: unknown token 'bogus=1'"
expect_match "and ctl/error tells the shell" "$(cat "$M/ctl/error")" \
	"^[0-9-]+T[0-9:]+Z ctl/mount: unknown token 'bogus=1'\$"
expect_eq "ctl/error is the owner's, read-only" "$(stat -c %a "$M/ctl/error")" 400
expect_match "ctl/error cannot be written" "$(err bash -c "echo x > '$M/ctl/error'")" 'Permission denied'
expect_match "bad number" "$(err bash -c "echo 'size=12Q' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "repeated token" "$(err bash -c "echo 'size=1M size=2M' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "offset without shm" "$(err bash -c "echo 'size=1M offset=0' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "no size" "$(err bash -c "echo 'name=x' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "no such shm object" "$(err bash -c "echo 'size=1M shm=mc-fs-none-$$' > '$M/ctl/mount'")" 'No such file or directory'
expect_match "unknown protocol" "$(err bash -c "echo 'size=16M protocol=xyz' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "shm range past the end" "$(err bash -c "echo 'size=8M shm=$SHM' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "shm offset not page aligned" "$(err bash -c "echo 'size=1M shm=$SHM offset=100' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "bad shm name" "$(err bash -c "echo 'size=1M shm=a/b' > '$M/ctl/mount'")" 'Invalid argument'
# a name is a metric label, which is UTF-8: stray bytes would collide
expect_match "a name that is not UTF-8" "$(err bash -c "echo 'size=16M name=bad%FFbyte' > '$M/ctl/mount'")" 'Invalid argument'
expect_match "logged why" "$(tail -n1 "$MC_ERR")" "segment name must be UTF-8"
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	expect_match "rdma without a device" "$(err bash -c "echo 'size=16M protocol=rdma' > '$M/ctl/mount'")" 'Operation not supported'
fi
expect_match "no memory" "$(err bash -c "echo 'size=8000000t' > '$M/ctl/mount'")" 'No space left on device'
head -c 5000 /dev/zero | tr '\0' ' ' > "$MC_TMP/big"
expect_match "message too long" "$(err dd if="$MC_TMP/big" of="$M/ctl/mount" bs=5000 count=1)" 'Argument list too long'
expect_match "ctl/unmount too long" "$(err dd if="$MC_TMP/big" of="$M/ctl/unmount" bs=5000 count=1)" 'Argument list too long'
expect_eq "failed mounts mounted nothing" "$(ls "$M/segments/localhost" | wc -l)" 7

# --- ctl/unmount -------------------------------------------------------------
expect_match "unmount unknown id" "$(err bash -c "echo 00000000-0000-0000-0000-000000000000 > '$M/ctl/unmount'")" 'No such file or directory'
expect_match "unmount bad grace" "$(err bash -c "echo '$id1 grace=x' > '$M/ctl/unmount'")" 'Invalid argument'
expect_match "unmount grace too long" "$(err bash -c "echo '$id1 grace=3601' > '$M/ctl/unmount'")" 'Invalid argument'
expect_match "unmount no id" "$(err bash -c "echo 'grace=1' > '$M/ctl/unmount'")" 'Invalid argument'
expect_match "unmount unknown token" "$(err bash -c "echo '$id1 force=1' > '$M/ctl/unmount'")" 'Invalid argument'
expect_match "unmount one bad id unmounts nothing" \
	"$(err bash -c "echo '$id1 $id4 nope' > '$M/ctl/unmount'")" 'No such file or directory'
check "id1 still there" [ -d "$M/segments/localhost/$id1" ]
echo "$id1 grace=1" > "$M/ctl/unmount"
expect_eq "draining" "$(cat "$M/segments/localhost/$id1/state")" draining
for _ in $(seq 40); do [ -d "$M/segments/localhost/$id1" ] || break; sleep 0.1; done
check "gone after the grace period" [ ! -d "$M/segments/localhost/$id1" ]
# one message, both kinds, an id written twice unmounted once
echo "$id4 $sid $sid2 $id3 $id4" > "$M/ctl/unmount"
check "alloc and shm unmounted together" [ ! -e "$M/segments/localhost/$sid" ] && [ ! -e "$M/segments/localhost/$id4" ]
check "the shm object stays" [ -e "/dev/shm/$SHM" ]
echo "$id2" > "$M/ctl/unmount"
check "last segment of a name takes its directory" [ ! -e "$M/segments/other" ]
expect_eq "HTTP agrees" "$(curl -s "$MC_URL/get_all_segments")" localhost

# --- what the tree refuses -------------------------------------------------
expect_match "write a view" "$(err bash -c "echo x > '$M/metrics'")" 'Permission denied'
expect_match "read ctl/unmount" "$(err cat "$M/ctl/unmount")" 'Permission denied'
expect_match "mkdir in keys" "$(err mkdir "$M/keys/d")" 'Operation not permitted'
expect_match "create outside keys" "$(err touch "$M/segments/x")" 'denied|not permitted'
echo v > "$M/keys/k"
expect_match "rename in keys" "$(err mv "$M/keys/k" "$M/keys/k2")" 'Operation not permitted'
expect_match "link in keys" "$(err ln "$M/keys/k" "$M/keys/k2")" 'Operation not permitted'
expect_match "chmod in keys" "$(err chmod 600 "$M/keys/k")" 'Operation not permitted'
expect_match "chown to another user" "$(err chown nobody "$M/keys/k")" 'Operation not permitted'
# what a file already has is no change: the tools that copy modes and
# owners along do not fail
check "chmod to the mode a key has" chmod 644 "$M/keys/k"
check "chmod to the mode of ctl/mount" chmod 600 "$M/ctl/mount"
check "chown to the owner and group a key has" chown "$(id -u):$(id -g)" "$M/keys/k"
printf 'copied' >"$MC_TMP/src"
chmod 644 "$MC_TMP/src"
check "cp -p into keys" cp -p "$MC_TMP/src" "$M/keys/cp-p"
check "cp -a into keys" cp -a "$MC_TMP/src" "$M/keys/cp-a"
(cd "$MC_TMP" && tar -cf one.tar src)
check "tar -x into keys" tar -xf "$MC_TMP/one.tar" -C "$M/keys"
expect_eq "what they copied" "$(cat "$M/keys/cp-p" "$M/keys/cp-a" "$M/keys/src")" \
	copiedcopiedcopied
expect_match "mkfifo in keys" "$(err mkfifo "$M/keys/fifo")" 'Operation not permitted'
expect_match "mknod in ctl" "$(err mknod "$M/ctl/fifo" p)" 'Operation not permitted'
expect_match "rm a view" "$(err rm -f "$M/health")" 'Operation not permitted|Permission denied'
: > "$M/ctl/mount"
check "truncating a ctl file is a no-op" [ $? = 0 ]

mc_stop
mc_done
