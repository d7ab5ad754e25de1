#!/bin/bash
# fs_keys.sh - keys/ and replicas/: binary values byte for byte through cp
# and cat, encoded names, the tree and HTTP in both directions, rm, stat,
# errors at close(2), readers during puts, and a large listing.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
mc_need_fuse

mc_start --fuse --segment-size 64M --max-body 40M --lease-ttl 2000
M=$MC_MNT
K=$M/keys

# --- values of several sizes, byte for byte ---------------------------------
for n in 1 4095 4096 65537 1048576 3000001; do
	head -c "$n" /dev/urandom > "$MC_TMP/v$n"
	cp "$MC_TMP/v$n" "$K/v$n"
	check "cp then cat, $n bytes" cmp -s "$MC_TMP/v$n" "$K/v$n"
	expect_eq "st_size, $n bytes" "$(stat -c %s "$K/v$n")" "$n"
	curl -s -o "$MC_TMP/h$n" "$MC_URL/api/get/v$n"
	check "cp then HTTP get, $n bytes" cmp -s "$MC_TMP/v$n" "$MC_TMP/h$n"
done
# dd with big blocks, and a value made of every byte
head -c 20000000 /dev/urandom > "$MC_TMP/big"
dd if="$MC_TMP/big" of="$K/big" bs=1M 2>/dev/null
dd if="$K/big" of="$MC_TMP/big.out" bs=1M 2>/dev/null
check "dd bs=1M both ways" cmp -s "$MC_TMP/big" "$MC_TMP/big.out"
# A value's preferred I/O size is one request: cp writes 1 MiB at a time.
expect_eq "st_blksize of a value" "$(stat -c %o "$K/v1")" 1048576
fw() { curl -s "$MC_URL/metrics" | awk '$1 == "mooncake_fuse_operations_total{op=\"write\"}" { print $2 }'; }
w0=$(fw)
cp "$MC_TMP/v3000001" "$K/cp3m"
expect_eq "cp of 3000001 bytes: three writes" "$(($(fw) - w0))" 3
check "and its bytes" cmp -s "$MC_TMP/v3000001" "$K/cp3m"

# --- writes of odd sizes and at offsets land byte for byte ------------------
# Bytes never stored before, so a piece that missed its place cannot find
# them left in the segment. One writer in odd-sized pieces, its put
# buffer growing under them; read back over HTTP.
head -c 3000017 /dev/urandom >"$MC_TMP/pat"
sha() { sha256sum | cut -d' ' -f1; }
dd if="$MC_TMP/pat" of="$K/pieces" bs=100003 2>/dev/null
expect_eq "odd-sized pieces, over HTTP" \
	"$(curl -s "$MC_URL/api/get/pieces" | sha)" "$(sha <"$MC_TMP/pat")"
# One writer skipping runs of zeros (dd conv=sparse seeks over them): its
# writes land at offsets past the end, the gaps read as zeros.
{
	head -c 300001 "$MC_TMP/pat"
	head -c 2000000 /dev/zero
	tail -c 1500000 "$MC_TMP/pat"
	head -c 777777 /dev/zero
	head -c 100 "$MC_TMP/pat"
} >"$MC_TMP/holes"
dd if="$MC_TMP/holes" of="$K/holes" bs=65537 conv=sparse 2>/dev/null
expect_eq "writes past the end, over HTTP" \
	"$(curl -s "$MC_URL/api/get/holes" | sha)" "$(sha <"$MC_TMP/holes")"
# Writers into a stored value, each at its offset (a new key, then
# written into); the same on a plain file.
scatter() { # FILE
	dd if="$MC_TMP/pat" of="$1" bs=4099 skip=3 seek=777 count=300 \
		conv=notrunc 2>/dev/null
	dd if="$MC_TMP/pat" of="$1" bs=1000 skip=10 seek=5 count=2000 \
		conv=notrunc 2>/dev/null
	dd if="$MC_TMP/pat" of="$1" bs=777 skip=1000 seek=1500 count=900 \
		conv=notrunc 2>/dev/null
}
scatter "$K/scatter"
scatter "$MC_TMP/scatter"
expect_eq "writes into a stored value, over HTTP" \
	"$(curl -s "$MC_URL/api/get/scatter" | sha)" "$(sha <"$MC_TMP/scatter")"
# gone before the space is needed again (a get's lease may hold them)
for i in $(seq 50); do
	rm -f "$K/pieces" "$K/holes" "$K/scatter" "$K/cp3m" 2>/dev/null && break
	sleep 0.1
done

for i in $(seq 0 255); do printf "\\$(printf %03o "$i")"; done > "$MC_TMP/bytes"
cp "$MC_TMP/bytes" "$K/bytes"
check "every byte value" cmp -s "$MC_TMP/bytes" "$K/bytes"

# --- a put through the tree counts one PutStart and one PutEnd --------------------
pm() {
	curl -s "$MC_URL/metrics" | awk '$1 == "master_put_start_requests_total" { s = $2 }
		$1 == "master_put_end_requests_total" { e = $2 }
		$1 == "master_put_revoke_requests_total" { r = $2 }
		END { print s + 0, e + 0, r + 0 }'
}
counted_as() { # WHAT "S E R" CMD...: CMD moves PutStart, PutEnd, PutRevoke by S, E, R
	local a0 a1 a2 b0 b1 b2
	read -r a0 a1 a2 <<<"$(pm)"
	"${@:3}"
	read -r b0 b1 b2 <<<"$(pm)"
	expect_eq "$1: PutStart, PutEnd, PutRevoke" "$((b0 - a0)) $((b1 - a1)) $((b2 - a2))" "$2"
}
counted() { counted_as "$1" "1 1 0" "${@:2}"; }
counted "echo > a new key" sh -c "echo hi > '$K/cnt1'"
counted "echo > the same key" sh -c "echo hi2 > '$K/cnt1'"
counted "echo >> it" sh -c "echo hi3 >> '$K/cnt1'"
counted "cp of 4 KiB" cp "$MC_TMP/v4096" "$K/cnt2"
counted "cp of 64 KiB + 1" cp "$MC_TMP/v65537" "$K/cnt3"
counted "cp of 1 MiB" cp "$MC_TMP/v1048576" "$K/cnt4"
expect_eq "what was counted is what is stored" "$(cat "$K/cnt1")" "$(printf 'hi2\nhi3')"
check "the 4 KiB value whole" cmp -s "$MC_TMP/v4096" "$K/cnt2"
# A file whose put buffer cannot grow in place (values were put right after
# it meanwhile) goes on on the heap: still its one put, not a second PutStart.
moved_put() {
	local i=0 w
	rm -f "$MC_TMP/go"
	{
		head -c 100000 "$MC_TMP/big"
		while [ ! -e "$MC_TMP/go" ]; do sleep 0.05; done
		head -c 2000000 "$MC_TMP/big"
	} | dd of="$K/moved" bs=64k 2>/dev/null &
	w=$!
	# one writer, one open file: its first bytes are in before the puts
	while [ "$(stat -c %s "$K/moved" 2>/dev/null)" != 100000 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	for i in $(seq 20); do
		curl -s -X PUT --data-binary @"$MC_TMP/v65537" "$MC_URL/api/put/after$i" >/dev/null
	done
	touch "$MC_TMP/go"
	wait $w
}
counted_as "a put that moved to the heap, and 20 HTTP puts" "21 21 0" moved_put
head -c 100000 "$MC_TMP/big" > "$MC_TMP/moved"
head -c 2000000 "$MC_TMP/big" >> "$MC_TMP/moved"
check "the moved value whole" cmp -s "$MC_TMP/moved" "$K/moved"

# --- HTTP -> tree --------------------------------------------------------------
curl -s -X PUT --data-binary @"$MC_TMP/v65537" "$MC_URL/api/put/from-http" >/dev/null
check "HTTP put then cat" cmp -s "$MC_TMP/v65537" "$K/from-http"
curl -s -X PUT --data-binary 'second' "$MC_URL/api/put/from-http" >/dev/null
expect_eq "HTTP replace is visible at once" "$(cat "$K/from-http")" second
expect_eq "stat follows" "$(stat -c %s "$K/from-http")" 6
curl -s -X DELETE "$MC_URL/api/remove/from-http" >/dev/null
check "HTTP remove is visible at once" [ ! -e "$K/from-http" ]
echo again > "$K/from-http"
expect_eq "writing a name removed over HTTP makes it again" "$(cat "$K/from-http")" again

# --- names: '/', '%', dots, control bytes ----------------------------------------
echo slash > "$K/a%2Fb"
echo pct > "$K/100%25"
echo dot > "$K/%2E"
echo dots > "$K/%2E%2E"
echo nl > "$K/x%0Ay"
curl -s "$MC_URL/get_all_keys" > "$MC_TMP/all"
check "key a/b over HTTP" grep -qx 'a/b' "$MC_TMP/all"
check "key 100% over HTTP" grep -qx '100%' "$MC_TMP/all"
check "key . over HTTP" grep -qx '\.' "$MC_TMP/all"
expect_eq "get a/b over HTTP" "$(curl -s "$MC_URL/api/get/a%2Fb")" slash
expect_eq "get 100% over HTTP" "$(curl -s "$MC_URL/api/get/100%25")" pct
expect_eq "get . over HTTP" "$(curl -s --path-as-is "$MC_URL/api/get/%2E")" dot
curl -s -X PUT --data-binary 'pp' "$MC_URL/api/put/p%2Fq%25r" >/dev/null
expect_eq "HTTP key p/q%r is p%2Fq%25r" "$(cat "$K/p%2Fq%25r")" pp
ls "$K" > "$MC_TMP/ls"
for n in 'a%2Fb' '100%25' '%2E' '%2E%2E' 'x%0Ay' 'p%2Fq%25r'; do
	check "ls shows $n" grep -qxF -- "$n" "$MC_TMP/ls"
done
check "a name that is not an encoding names nothing" [ ! -e "$K/a%2fb" ]
expect_match "nor can it be created: EINVAL" "$(err bash -c "echo x > '$K/a%2fb'")" 'Invalid argument'
expect_match "ctl/error says what the name should be" "$(cat "$M/ctl/error")" \
	"keys: cannot create 'a%2fb': not a key's file name \\(only %, / and control bytes are written %XX, in capitals\\)\$"
expect_match "a needless escape: EINVAL" "$(err bash -c "echo x > '$K/%41'")" 'Invalid argument'
expect_match "a raw newline: EINVAL" "$(err bash -c "echo x > '$K/a
b'")" 'Invalid argument'
expect_match "shown as \\x0a in ctl/error" "$(cat "$M/ctl/error")" "cannot create 'a\\\\x0ab'"
check "and a lookup of it is still ENOENT" [ ! -e "$K/%41" ]
long=$(head -c 300 /dev/zero | tr '\0' k)
curl -s -X PUT --data-binary 'long' "$MC_URL/api/put/$long" >/dev/null
check "a key too long for a name is not listed" [ "$(ls "$K" | grep -c kkkk)" = 0 ]
expect_eq "but HTTP has it" "$(curl -s "$MC_URL/api/get/$long")" long

# --- replicas/ ----------------------------------------------------------------
expect_eq "replicas mode" "$(stat -c %a "$M/replicas/a%2Fb")" 444
expect_eq "replicas/KEY = /query_key" \
	"$(sed 's/"buffer_address_":[0-9]*//' "$M/replicas/a%2Fb")" \
	"$(curl -s "$MC_URL/query_key?key=a%2Fb" | sed 's/"buffer_address_":[0-9]*//')"
expect_match "replicas body" "$(cat "$M/replicas/a%2Fb")" '^\{"transport_endpoint_":"localhost:[0-9]+","buffer_descriptors":\[\{"size_":6,'
expect_match "replicas is read-only" "$(err bash -c "echo x > '$M/replicas/a%2Fb'")" 'Permission denied'
check "replicas of a missing key" [ ! -e "$M/replicas/nope" ]

# --- rm, and the lease that blocks it --------------------------------------------
# The lease is 2 s: a stall of the machine longer than that between the
# read and the rm (seen on a loaded CI host) would let the rm through.
# Such a try proves nothing either way: put the key back, try again.
for try in 1 2 3; do
	t0=$(date +%s%N)
	cat "$M/replicas/a%2Fb" >/dev/null
	rm_err=$(err rm "$K/a%2Fb")
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 1500 ] && break
	[ -e "$K/a%2Fb" ] && break
	echo "fs_keys: the read and the rm took $(((t1 - t0) / 1000000)) ms, past the lease; again" >&2
	echo slash > "$K/a%2Fb"
done
expect_match "rm of a leased key" "$rm_err" 'Device or resource busy'
expect_match "ctl/error says why and for how long" "$(cat "$M/ctl/error")" \
	"^[0-9-]+T[0-9:]+Z keys: rm of 'a/b' refused: key 'a/b' has a read lease for [0-2]\\.[0-9] s more \\(a reader asked for its replicas\\); rm it then\$"
expect_match "and the log, as a warning" "$(tail -n1 "$MC_ERR")" "WARN keys: rm of 'a/b' refused: key 'a/b' has a read lease"
sleep 2.2
rm "$K/a%2Fb"
check "rm after the lease" [ ! -e "$K/a%2Fb" ]
http GET "/api/exist/a%2Fb"
expect_match "HTTP agrees" "$HTTP_BODY" 'false'
expect_match "rm of a missing key" "$(err rm "$K/nope")" 'No such file'

# --- writes: O_TRUNC replaces, append, errors at close ----------------------------
printf 'long value' > "$K/w"
printf 'short' > "$K/w"
expect_eq "O_TRUNC replaces" "$(cat "$K/w")" short
printf '+more' >> "$K/w"
expect_eq "append" "$(cat "$K/w")" short+more
printf 'S' | dd of="$K/w" conv=notrunc 2>/dev/null
expect_eq "write without O_TRUNC edits" "$(cat "$K/w")" Short+more
truncate -s 3 "$K/w"
expect_eq "truncate" "$(cat "$K/w")" Sho
touch "$K/empty"
check "an empty file makes no key" [ ! -e "$K/empty" ]
head -c 41M /dev/zero > "$MC_TMP/toobig"
toobig() { err cp "$MC_TMP/toobig" "$K/toobig" > "$MC_TMP/toobig.err"; }
counted_as "a put whose write failed is revoked" "1 0 1" toobig
expect_match "over --max-body" "$(cat "$MC_TMP/toobig.err")" 'File too large'
expect_match "a failed write fails the put, logged" "$(grep 'keys: put' "$MC_ERR" | tail -n1)" \
	"WARN keys: put of 'toobig' failed: a write failed: File too large"
expect_match "and kept in ctl/error" "$(cat "$M/ctl/error")" "keys: put of 'toobig' failed: a write failed: File too large"
check "and nothing was stored" [ ! -e "$K/toobig" ]
# --- a file is committed once, when its writer is done with it --------------------
# The kernel flushes at every close of a descriptor, at a child's exec and
# exit, and fsync asks too: none of these may publish half a value; the
# writer's own last close does, and reports the put (mooncakefs(5), keys/).
echo ORIGINAL > "$K/pk"
pyseq() {
	python3 - "$MC_URL" "$K" >"$MC_TMP/pk.out" <<'PY'
import os, sys, subprocess, urllib.request
H, K = sys.argv[1], sys.argv[2]
get = lambda: urllib.request.urlopen(H + '/api/get/pk').read().decode().strip()
fd = os.open(K + '/pk', os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
os.write(fd, b'part1-')
print('fstat of the writer', os.fstat(fd).st_size)
subprocess.run(['/bin/true'])          # fork+exec: the child's close-on-exec flush
print('after a fork+exec', get())
pid = os.fork()                        # a child that inherits it and exits
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print('after a child exit', get())
os.close(os.dup(fd))                   # a dup closed, the file still held
print('after close of a dup', get())
os.fsync(fd)
print('after fsync', get())
os.write(fd, b'part2')
os.close(fd)
print('after the close', get())
PY
}
counted "open, fork+exec, fork, dup, fsync, close: one put" pyseq
expect_eq "python: published only at its close" "$(cat "$MC_TMP/pk.out")" \
	"fstat of the writer 6
after a fork+exec ORIGINAL
after a child exit ORIGINAL
after close of a dup ORIGINAL
after fsync ORIGINAL
after the close part1-part2"
echo old > "$K/half"
halves() {
	{
		head -c 100000 /dev/zero | tr '\0' a
		curl -s "$MC_URL/api/get/half" >"$MC_TMP/half.mid"
		printf b
	} >"$K/half"
}
counted "{ a; b; } > keys/k: one put" halves
expect_eq "HTTP never sees the first half" "$(head -c 10 "$MC_TMP/half.mid")" old
expect_eq "the whole value after" "$(curl -s "$MC_URL/api/get/half" | wc -c)" 100001
echo old > "$K/ex"
exec3() {
	exec 3>"$K/ex"
	echo part1 >&3
	curl -s "$MC_URL/api/get/ex" >"$MC_TMP/ex.mid"
	echo part2 >&3
	exec 3>&-
}
counted "exec 3>keys/k; echo >&3 twice; exec 3>&-: one put" exec3
expect_eq "HTTP never sees part1 alone" "$(cat "$MC_TMP/ex.mid")" old
expect_eq "both parts after" "$(cat "$K/ex")" "$(printf 'part1\npart2')"
# One process, two open files of one key (two threads each writing it,
# say): each close(2) of its own last descriptor commits, though the
# other is still open for writing; a dup of the first still holds it. A
# child holds both open files, so no release commits in their place.
twofiles() {
	exec 3>"$K/two" 4>"$K/two"
	sleep 60 &
	echo one >&3
	exec 5>&3 3>&-
	curl -s -o /dev/null -w "%{http_code}" "$MC_URL/api/get/two" >"$MC_TMP/two.dup"
	exec 5>&-
	curl -s "$MC_URL/api/get/two" >"$MC_TMP/two.first"
	echo two >&4
	exec 4>&-
	curl -s "$MC_URL/api/get/two" >"$MC_TMP/two.second"
	kill $!
}
twofiles
expect_eq "a dup of the first file left open: not yet" "$(cat "$MC_TMP/two.dup")" 404
expect_eq "its last close, the second still open: committed" "$(cat "$MC_TMP/two.first")" one
expect_eq "the second's close: its value" "$(cat "$MC_TMP/two.second")" two
# A failed write poisons the file: the prefix a child wrote is not stored.
echo old > "$K/prefix"
prefix() { (head -c 40M /dev/zero; printf x) >"$K/prefix" 2>/dev/null; }
counted_as "a prefix before EFBIG is revoked, not put" "1 0 1" prefix
expect_eq "the old value stays" "$(cat "$K/prefix")" old
expect_match "and ctl/error says why" "$(cat "$M/ctl/error")" "keys: put of 'prefix' failed: a write failed: File too large"
# EFBIG counts one PutStart and one PutRevoke wherever the bytes waited:
# in a put buffer (above), on the heap (a write into a stored value), or
# nowhere yet (a first write already past --max-body); ftruncate(2) past
# it fails like a write, poisoning the file (mooncakefs(5), keys/).
pyefbig() { # KEY OP: OP on an open file of KEY; prints each errno
	python3 - "$K/$1" "$2" <<'PY'
import errno, os, sys
path, op = sys.argv[1], sys.argv[2]
def e(what, f):
    try:
        f()
        print(what, 'ok')
    except OSError as x:
        print(what, errno.errorcode[x.errno])
if op == 'name':
    e('truncate', lambda: os.truncate(path, 41 << 20))
    sys.exit(0)
fd = os.open(path, os.O_WRONLY | (os.O_TRUNC if op == 'first' else 0))
if op == 'edit':
    e('write', lambda: [os.write(fd, b'x' * (1 << 20)) for _ in range(41)])
elif op == 'first':
    e('write', lambda: os.pwrite(fd, b'x', 41 << 20))
else:
    e('ftruncate', lambda: os.ftruncate(fd, 41 << 20))
e('write after', lambda: os.write(fd, b'y'))
e('close', lambda: os.close(fd))
PY
}
efbig_run() { out=$(pyefbig "$ek" "$eop"); }
efbig() { # KEY OP ERRORS WHAT
	local ek=$1 eop=$2 out
	echo old > "$K/$1"
	counted_as "EFBIG, $2: a PutStart and a PutRevoke" "1 0 1" efbig_run
	expect_eq "EFBIG, $2: the errors" "$out" "$3"
	expect_eq "EFBIG, $2: the old value stays" "$(cat "$K/$1")" old
	expect_match "EFBIG, $2: ctl/error says why" "$(cat "$M/ctl/error")" \
		"keys: put of '$1' failed: a $4 failed: File too large\$"
	expect_match "EFBIG, $2: logged" "$(grep 'keys: put' "$MC_ERR" | tail -n1)" \
		"WARN keys: put of '$1' failed: a $4 failed: File too large"
}
efbig eb1 edit "write EFBIG
write after EFBIG
close EFBIG" write
efbig eb2 first "write EFBIG
write after EFBIG
close EFBIG" write
efbig eb3 ftrunc "ftruncate EFBIG
write after EFBIG
close EFBIG" truncate
efbig eb4 name "truncate EFBIG" truncate
expect_match "truncate(1) past --max-body" "$(err truncate -s 41M "$K/eb1")" 'File too large'
expect_match "and ctl/error again" "$(cat "$M/ctl/error")" "keys: put of 'eb1' failed: a truncate failed"
expect_eq "the value stays" "$(cat "$K/eb1")" old

# --- fstat of an open file describes that file --------------------------------------
fstat_open() {
	python3 - "$MC_URL" "$K" <<'PY'
import os, sys, mmap, urllib.request
H, K = sys.argv[1], sys.argv[2]
def req(m, k, v=None):
    urllib.request.urlopen(urllib.request.Request(H + '/api/' + m + '/' + k, data=v, method='PUT' if v else 'DELETE')).read()
req('put', 'fa', b'A' * 1000)
fd = os.open(K + '/fa', os.O_RDONLY)
req('put', 'fa', b'B' * 100000)
print('replaced', os.fstat(fd).st_size, len(os.pread(fd, 1 << 20, 0)))
m = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
print('mapped', len(m), m[len(m) - 1:].decode())
req('remove', 'fa')
print('removed', os.fstat(fd).st_size)
req('put', 'fw', b'base')
w = os.open(K + '/fw', os.O_RDWR)
os.pwrite(w, b'0123456789', 4)
print('writer', os.fstat(w).st_size)
os.close(w)
PY
}
expect_eq "fstat: the opened version, the bytes written" "$(fstat_open 2>&1)" \
	"replaced 1000 1000
mapped 1000 A
removed 1000
writer 14"
echo v > "$K/c"
expect_eq "cat <&3 of a key removed over HTTP" \
	"$( (exec 3<"$K/c"; curl -s -X DELETE "$MC_URL/api/remove/c" >/dev/null; cat <&3) 2>&1)" v
# A put through the tree beside an open two-phase put of its key: neither
# refuses the other, and the one that ends last holds the key
# (mooncakefs(5), keys/).
http POST /api/v1/put_start -d '{"key":"po","size":7}'
expect_eq "put_start beside the tree" "$HTTP_CODE" 200
check "a put through the tree is not refused by an open put" \
	sh -c "printf 'tree' > '$K/po'"
expect_eq "and holds the key until the open put ends" "$(cat "$K/po")" tree
http POST /api/v1/put_end -d '{"key":"po"}'
expect_eq "the open put still ends" "$HTTP_CODE" 200
expect_eq "and, ending last, holds the key" "$(stat -c %s "$K/po")" 7
curl -s -X DELETE "$MC_URL/api/remove_all?force=true" >/dev/null
# --- readers during puts never see a torn value --------------------------------------
head -c 1000000 /dev/zero | tr '\0' a > "$MC_TMP/A"
head -c 1500000 /dev/zero | tr '\0' b > "$MC_TMP/B"
cp "$MC_TMP/A" "$K/race"
( for i in $(seq 30); do cp "$MC_TMP/B" "$K/race"; cp "$MC_TMP/A" "$K/race"; done ) &
writer=$!
torn=0
for r in 1 2 3; do
	(
		bad=0
		for i in $(seq 40); do
			cat "$K/race" > "$MC_TMP/r$r"
			cmp -s "$MC_TMP/r$r" "$MC_TMP/A" || cmp -s "$MC_TMP/r$r" "$MC_TMP/B" || bad=$((bad + 1))
		done
		exit $bad
	) &
	readers="${readers:-} $!"
done
for p in $readers; do wait "$p" || torn=$((torn + 1)); done
wait "$writer"
expect_eq "readers saw A or B whole" "$torn" 0

# --- a listing of many keys streams whole ---------------------------------------------
for i in $(seq 0 99); do
	curl -s -X PUT --data-binary v "$MC_URL/api/put/many%2F$i" -o /dev/null
done
for i in $(seq 100 2999); do echo "m$i" > "$K/many%2F$i"; done
expect_eq "ls of 3000 keys" "$(ls "$K" | grep -c '^many%2F')" 3000
expect_eq "each once" "$(ls "$K" | grep '^many%2F' | sort -u | wc -l)" 3000
expect_eq "ls = /get_all_keys" "$(curl -s "$MC_URL/get_all_keys" | grep -c '^many/')" 3000

mc_stop

# --- no space: a put cannot evict leased values ----------------------------------------
# 64 MiB hold two 30 MiB values; a third cannot evict them while they are
# leased (reading replicas/KEY leases it for --lease-ttl, mooncakefs(5)).
# A daemon of its own, whose leases outlast the test: 2 s leases read
# again every 0.1 s lapsed when a loaded CI machine stalled for longer
# than that before the third put, whose eviction then took fill1.
mc_start --fuse --segment-size 64M --max-body 40M --lease-ttl 600000
M=$MC_MNT
K=$M/keys
head -c 30M /dev/urandom > "$MC_TMP/v30"
cp "$MC_TMP/v30" "$K/fill1"
cp "$MC_TMP/v30" "$K/fill2"
cat "$M/replicas/fill1" "$M/replicas/fill2" >/dev/null
expect_match "no space: the error of close(2)" "$(err cp "$MC_TMP/v30" "$K/fill3")" 'No space left on device'
expect_match "logged why" "$(grep 'keys: put' "$MC_ERR" | tail -n1)" "put of 'fill3' failed: no space"
check "the old values stay" cmp -s "$MC_TMP/v30" "$K/fill1"
check "both of them" cmp -s "$MC_TMP/v30" "$K/fill2"

mc_stop

# --- df, file times, a put revoked by an unmount, no segment at all -----------------
mc_start --fuse --segment-size 64M
M=$MC_MNT
K=$M/keys
for i in 1 2 3; do head -c 1000000 /dev/urandom > "$K/s$i"; done
# statfs(2) is the store: its capacity and free bytes in 4 KiB blocks,
# its keys as the files (mooncakefs(5), NOTES).
used=$(cat "$M/segments/localhost/used")
expect_eq "statfs: 4 KiB blocks of the capacity, the free ones, the keys, 255" \
	"$(stat -f -c '%s %S %b %f %a %c %l' "$M")" \
	"4096 4096 16384 $(((64 * 1048576 - used) / 4096)) $(((64 * 1048576 - used) / 4096)) 3 255"
expect_match "df shows the store" "$(df -B1M --output=size,used "$M" | tail -n1)" '^ *64 +[3-4]$'
# The store keeps no time per value: every file shows the mount time,
# and setting a time is accepted and changes nothing.
t0=$(stat -c %Y "$M")
sleep 1.1
echo again > "$K/s1"
expect_eq "a rewritten key keeps the mount time" "$(stat -c '%X %Y %Z' "$K/s1")" "$t0 $t0 $t0"
check "touch -d of a key succeeds" touch -d 2001-01-01 "$K/s1"
expect_eq "and changes nothing" "$(stat -c %Y "$K/s1") $(cat "$K/s1")" "$t0 again"
# A put whose segment is unmounted while it is written fails at close,
# and says so in ctl/error (not only in the log). 1 MiB: its buffer is
# trimmed where it was written, not placed anew at the close.
seg0=$(basename "$(ls -d "$M"/segments/localhost/*-*)")
revoked() {
	python3 - "$M" "$seg0" <<'PY'
import errno, os, sys
M, seg = sys.argv[1], sys.argv[2]
def ctl(name, msg):
    f = os.open(M + '/ctl/' + name, os.O_WRONLY); os.write(f, msg); os.close(f)
fd = os.open(M + '/keys/rv', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'z' * (1 << 20))   # into the only segment
ctl('mount', b'size=64M')
ctl('unmount', seg.encode())
try:
    os.close(fd)
    print('close ok')
except OSError as e:
    print('close', errno.errorcode[e.errno])
PY
}
rv_run() { out=$(revoked); }
counted_as "a put revoked by an unmount: a failed PutEnd" "1 1 0" rv_run
expect_eq "its close: ETIMEDOUT" "$out" "close ETIMEDOUT"
expect_match "ctl/error says why" "$(cat "$M/ctl/error")" \
	"keys: put of 'rv' failed: the put of key 'rv' was revoked: a segment it wrote to was unmounted\$"
check "nothing was stored" [ ! -e "$K/rv" ]
# No segment at all: the first write fails, and every later write and
# close (mooncakefs(5), ENOSPC).
seg1=$(basename "$(ls -d "$M"/segments/localhost/*-*)")
echo "$seg1" > "$M/ctl/unmount"
nospace() {
	python3 - "$K/ns" >"$MC_TMP/ns.out" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
for what, f in [('write', lambda: os.write(fd, b'hi')), ('write', lambda: os.write(fd, b'ho')),
                ('fsync', lambda: os.fsync(fd)), ('close', lambda: os.close(fd))]:
    try:
        f()
        print(what, 'ok')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
PY
}
counted_as "no segment: a failed PutStart" "1 0 0" nospace
expect_eq "ENOSPC from write, write, fsync, close" "$(cat "$MC_TMP/ns.out")" \
	"write ENOSPC
write ENOSPC
fsync ENOSPC
close ENOSPC"
expect_match "ctl/error says why" "$(cat "$M/ctl/error")" \
	"keys: put of 'ns' failed: a write failed: No space left on device\$"
expect_eq "statfs of no segment (its values went with it)" "$(stat -f -c "%b %f %c" "$M")" "0 0 0"

mc_stop

# A truncate past what the machine can hold (under a --max-body that
# allows it) fails as a write of the same size does: ENOSPC.
mc_start --fuse --segment-size 16M --max-body 1T
echo hi >"$MC_MNT/keys/t"
expect_match "truncate -s 1000G of a stored value: ENOSPC" \
	"$(truncate -s 1000G "$MC_MNT/keys/t" 2>&1)" "No space left on device"
expect_eq "and the value stays" "$(cat "$MC_MNT/keys/t")" hi
mc_stop

# --- a writer killed before it closed its file stores nothing ----------------
# The kernel closes a killed process's files, which would commit half a
# value over a whole one; a writer that exits without closing (as
# programs do) still stores what it wrote.
mc_start --fuse --segment-size 64M
K=$MC_MNT/keys
head -c 2M /dev/urandom >"$MC_TMP/good"
cp "$MC_TMP/good" "$K/model"
killed() { # SIGNAL: a writer of 1 MiB of the next 2 killed by SIGNAL
	python3 - "$K/model" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, bytes(1 << 20))
time.sleep(30)
os.write(fd, bytes(1 << 20))
PY
	local w=$!
	sleep 1
	kill "-$1" "$w"
	wait "$w" 2>/dev/null
}
for sig in TERM HUP KILL; do
	killed "$sig"
	check "killed by SIG$sig: the old value stays" cmp -s "$MC_TMP/good" "$K/model"
done
expect_match "ctl/error says why" "$(cat "$MC_MNT/ctl/error")" \
	"keys: put of 'model' failed: its writer \(pid [0-9]+\) was killed before it closed the file; the value stays as it was\$"
python3 - "$K/exited" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'whole')
os._exit(0)
PY
expect_eq "a writer that exits without closing stores its value" "$(cat "$K/exited")" whole
# exit(3) kills a process's other threads, which may be the ones that
# close its files: a normal exit of several threads stores all the same
lost=0
for i in $(seq 12); do
	python3 - "$K/threaded" "$i" <<'PY'
import os, sys, threading, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'run' + sys.argv[2].encode())
for _ in range(8):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
time.sleep(0.05)
os._exit(0)
PY
	[ "$(cat "$K/threaded")" = "run$i" ] || lost=$((lost + 1))
done
expect_eq "a writer of nine threads that exits stores its value (12 runs)" "$lost" 0
# a child that inherited the file outlives its killed opener: its writes
# go on (no error to retry for ever) and what it writes is a put of its own
python3 - "$K/inherit" >"$MC_TMP/inherit.out" <<'PY'
import os, signal, sys, time
r, w = os.pipe()
opener = os.fork()
if opener == 0:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b'PART')
    if os.fork() == 0:       # the child: inherits fd, outlives the opener
        os.close(w)
        os.read(r, 1)
        time.sleep(0.3)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            n = os.write(fd, b'CHILD')
            os.close(fd)
            print('child wrote', n)
        except OSError as e:
            print('child', e.strerror)
        sys.stdout.flush()
        os._exit(0)
    time.sleep(30)
    os._exit(0)
time.sleep(0.5)
os.kill(opener, signal.SIGKILL)
os.waitpid(opener, 0)
os.close(r)
os.write(w, b'x')
time.sleep(1)
PY
expect_eq "the inheritor's write and close succeed" "$(cat "$MC_TMP/inherit.out")" "child wrote 5"
expect_eq "... and store what it wrote" "$(cat "$K/inherit")" CHILD
expect_match "the killed opener's bytes were dropped" "$(grep "put of 'inherit'" "$MC_ERR")" \
	"its writer \\(pid [0-9]+\\) was killed before it closed the file"
(head -c 1M /dev/zero; exec sleep 30) | cat >"$K/exited" &
cat_pid=$!
sleep 1
kill "$cat_pid"
wait "$cat_pid" 2>/dev/null
expect_eq "cat in a pipe killed: the old value stays" "$(cat "$K/exited")" whole
mc_stop
mc_done
