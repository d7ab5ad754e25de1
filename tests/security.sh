#!/bin/bash
# security.sh - the security defaults, tried on the live daemon: both
# ports bind loopback unless told otherwise; with a token, every
# mutating route of the route table (web/route.c, read here so a new
# route is covered the day it is added) refuses a request without it or
# with a wrong one, the two-phase put included, and changes nothing;
# shm names reach nothing outside /dev/shm, a symlink in /dev/shm
# included; the FUSE tree is closed to other users without
# --allow-other (and open with it: the control); the transfer port
# moves no byte outside live store buffers.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
XC=${XFER_CLIENT:-${top_builddir:-.}/tests/xfer_client}
ROUTES=${top_srcdir:-.}/web/route.c

# --- loopback by default ------------------------------------------------------
mc_start
for p in "$MC_PORT" "$MC_XPORT"; do
	addr=$(ss -ltnH "sport = :$p" | awk '{print $4}' | head -n1)
	expect_eq "port $p listens on loopback by default" "${addr%:*}" 127.0.0.1
done
mc_stop

# --- the token on every mutating route -----------------------------------------
printf 's3cret-token\n' >"$MC_TMP/token"
mc_start --auth-token-file "$MC_TMP/token"
# "METHODS PATH PREFIX" for each route whose methods include a mutating one
# (an entry may span lines: join each up to its "},"). Routes flagged
# WEB_ROUTE_NO_AUTH are exempt by design (route.c says why) and listed.
entries=$(awk '/^[[:space:]]*\{ ?[A-Z| ]+, *"\//{e=$0; if ($0 !~ /\},/) {while ((getline l) > 0) {e=e " " l; if (l ~ /\},/) break}} print e}' "$ROUTES")
echo "$entries" | grep NO_AUTH | sed -E 's/^\s*\{ ?([A-Z| ]+), *"([^"]*)".*/exempt from the token by design: \1 \2/'
routes=$(echo "$entries" | grep -v NO_AUTH |
	sed -E 's/^\s*\{ ?([A-Z| ]+), *"([^"]*)", *(true|false).*/\1 \2 \3/')
n=0
while read -r line; do
	path=$(echo "$line" | awk '{print $(NF-1)}')
	prefix=$(echo "$line" | awk '{print $NF}')
	[ "$prefix" = true ] && path="${path}sec-key"
	for m in POST PUT DELETE; do
		echo "$line" | grep -qw "$m" || continue
		n=$((n + 1))
		for hdr in "" "Authorization: Bearer wrong" "Authorization: Basic czNjcmV0LXRva2Vu" \
			"Authorization: Bearer s3cret-token-and-more"; do
			code=$(curl -s -o /dev/null -w '%{http_code}' -X "$m" ${hdr:+-H "$hdr"} \
				-d '{"key":"sec-key","value":"x","size":16777216,"segment_ids":["x"]}' \
				"$MC_URL$path")
			expect_eq "$m $path ${hdr:-without a token}: 401" "$code" 401
		done
	done
done <<<"$routes"
check "the route table was read ($n mutating routes)" [ "$n" -ge 10 ]
http GET /api/get/sec-key
expect_eq "nothing was put without the token" "$HTTP_CODE" 404
http GET /get_all_segments
segs_before=$HTTP_BODY
# The two-phase put: each step needs the token.
T=(-H "Authorization: Bearer s3cret-token")
http POST /api/v1/put_start "${T[@]}" -d '{"key":"tp","size":5}'
expect_eq "put_start with the token" "$HTTP_CODE" 200
http POST /api/v1/put_end -d '{"key":"tp"}'
expect_eq "put_end without the token: 401" "$HTTP_CODE" 401
http GET /api/get/tp
expect_eq "and the put is not published" "$HTTP_CODE" 404
http POST /api/v1/put_revoke -d '{"key":"tp"}'
expect_eq "put_revoke without the token: 401" "$HTTP_CODE" 401
http POST /api/v1/put_revoke "${T[@]}" -d '{"key":"tp"}'
expect_eq "put_revoke with the token" "$HTTP_CODE" 200
http PUT /api/put/ok "${T[@]}" --data-binary v
expect_eq "a put with the token" "$HTTP_CODE" 200
http GET /api/get/ok
expect_eq "reads need no token" "$HTTP_CODE" 200
mc_stop

# --- shm names stay in /dev/shm ------------------------------------------------
mc_start --fuse
for name in "../etc/passwd" "/../etc/passwd" "a/b" ".." "." "/" "" \
	"..%2Fetc" "$(printf 'x%.0s' $(seq 256))"; do
	http POST /api/mount_shm -d "{\"size\":16777216,\"name\":\"$name\"}"
	# 400: not a name; 404: a name of no object in /dev/shm
	check "mount_shm name '${name:0:20}': refused ($HTTP_CODE)" \
		bash -c "[ '$HTTP_CODE' = 400 ] || [ '$HTTP_CODE' = 404 ]"
	echo "size=16M shm=$name" >"$MC_MNT/ctl/mount" 2>/dev/null
	check "ctl/mount shm='${name:0:20}': refused" [ $? != 0 ]
done
# A symlink in /dev/shm is not followed, whatever it points to.
head -c $((32 << 20)) /dev/zero >"$MC_TMP/target"
link=/dev/shm/mc-sec-$$
ln -sf "$MC_TMP/target" "$link"
http POST /api/mount_shm -d "{\"size\":16777216,\"name\":\"${link#/dev/shm/}\"}"
check "mount_shm through a symlink: refused ($HTTP_CODE)" [ "$HTTP_CODE" != 200 ]
expect_match "and the answer says why" "$HTTP_BODY" '"error"'
echo "size=16M shm=${link#/dev/shm/}" >"$MC_MNT/ctl/mount" 2>/dev/null
check "ctl/mount through a symlink: refused" [ $? != 0 ]
rm -f "$link"
http GET /get_all_segments
check "no segment came of it" [ "$(echo "$HTTP_BODY" | grep -c .)" -le "$(echo "$segs_before" | grep -c .)" ]
# An object another user may write is not mounted: its writer could
# shrink it under the store, whose next read of it would be SIGBUS.
obj=/dev/shm/mc-sec-own-$$
for how in "other-writable 666" "group-writable 620"; do
	rm -f "$obj"; head -c $((16 << 20)) /dev/zero >"$obj"; chmod "${how#* }" "$obj"
	http POST /api/mount_shm -d "{\"size\":16777216,\"name\":\"${obj#/dev/shm/}\"}"
	expect_eq "mount_shm of an object ${how% *}: 403" "$HTTP_CODE" 403
	expect_match "... saying why" "$HTTP_BODY" "can be written by another user"
	echo "size=16M shm=${obj#/dev/shm/}" >"$MC_MNT/ctl/mount" 2>"$MC_TMP/e"
	check "... and ctl/mount: EPERM" grep -q "Operation not permitted" "$MC_TMP/e"
done
if command -v setpriv >/dev/null; then
	rm -f "$obj"
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \
		"umask 077; head -c $((16 << 20)) /dev/zero >'$obj'"
	http POST /api/mount_shm -d "{\"size\":16777216,\"name\":\"${obj#/dev/shm/}\"}"
	expect_eq "mount_shm of another user's object: 403" "$HTTP_CODE" 403
fi
rm -f "$obj"; head -c $((16 << 20)) /dev/zero >"$obj"; chmod 600 "$obj"
http POST /api/mount_shm -d "{\"size\":16777216,\"name\":\"${obj#/dev/shm/}\"}"
expect_eq "the daemon's own object, writable by it alone: mounted" "$HTTP_CODE" 200
mc_stop
rm -f "$obj"

# --- one request cannot tie the store up: a mount of millions of segments ----
mc_start --fuse --max-segment-size 16M
t0=$(date +%s%N)
http POST /api/mount -d '{"size":175921860444160}'
t1=$(date +%s%N)
expect_eq "a 160 TiB mount in 16 MiB segments: 507" "$HTTP_CODE" 507
expect_match "and it says why" "$HTTP_BODY" 'more than 4096 segments'
check "refused before any work ($(((t1 - t0) / 1000000)) ms; minutes before)" \
	[ $(((t1 - t0) / 1000000)) -lt 5000 ]
echo 'size=160t' >"$MC_MNT/ctl/mount" 2>"$MC_TMP/e"
check "ctl/mount size=160t: refused" grep -q 'No space left' "$MC_TMP/e"
http POST /api/mount -d '{"size":16777216000}'
expect_eq "1000 segments of 16 MiB still mount" "$HTTP_CODE" 200
mc_stop
# the limit itself: 4096 segments mount, one byte more does not
mc_start --no-fuse --segment-size 0 --max-segment-size 16M
http POST /api/mount -d '{"size":68719476737}'
expect_eq "4096 segments of 16 MiB and a byte: 507" "$HTTP_CODE" 507
http POST /api/mount -d '{"size":68719476736}'
expect_eq "exactly 4096 segments of 16 MiB: mounted" "$HTTP_CODE" 200
expect_eq "... as 4096 segments" "$(echo "$HTTP_BODY" | grep -o '"[0-9a-f-]\{36\}"' | wc -l)" 4096
mc_stop

# --- the FUSE tree is its owner's -----------------------------------------------
if [ -c /dev/fuse ] && [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$MC_TMP"
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	mc_start --fuse
	check "another user cannot list the tree" bash -c "! $nobody ls '$MC_MNT' 2>/dev/null"
	check "nor read its health" bash -c "! $nobody cat '$MC_MNT/health' 2>/dev/null"
	mc_stop
	mc_start --fuse --allow-other
	expect_eq "with --allow-other another user reads it (the control)" \
		"$($nobody cat "$MC_MNT/health")" OK
	mc_stop
else
	echo "no /dev/fuse, not root or no setpriv: the FUSE ownership check is left out"
fi

# --- the transfer port stays inside live buffers --------------------------------
mc_start --lease-ttl 100
addr_in() { printf '%s' "$1" | grep -o '"buffer_address_": *[0-9]*' | head -n1 | grep -o '[0-9]*$'; }
curl -s -X PUT --data-binary 0123456789 "$MC_URL/api/put/v" >/dev/null
http GET '/query_key?key=v'
a=$(addr_in "$HTTP_BODY")
"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 10 v2 >"$MC_TMP/got"
expect_eq "a READ inside a value" "$(cat "$MC_TMP/got")" 0123456789
for req in "read $((a - 1)) 2" "read $((a + 9)) 2" "read $a 11" "read 0 10" \
	"read 18446744073709551615 1" "read $a 4096" \
	"write $a 10" "write $((a + 10)) 10"; do
	set -- $req
	head -c "${3:0:5}" /dev/zero 2>/dev/null | "$XC" 127.0.0.1 "$MC_XPORT" $req v2 >/dev/null 2>&1
	expect_eq "transfer $req: rejected" "$?" 3
done
http POST /api/v1/put_start -d '{"key":"open","size":10}'
w=$(addr_in "$HTTP_BODY")
"$XC" 127.0.0.1 "$MC_XPORT" read "$w" 10 v2 >/dev/null 2>&1
expect_eq "a READ of an open put's buffer: rejected" "$?" 3
curl -s -X DELETE "$MC_URL/api/remove/v?force=true" >/dev/null
# A removed value's bytes stay readable while the read lease /query_key
# granted lasts (that is the lease's promise), not a moment longer.
sleep 0.3
"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 10 v2 >/dev/null 2>&1
expect_eq "a READ of a removed value: rejected" "$?" 3
mc_stop
mc_done
