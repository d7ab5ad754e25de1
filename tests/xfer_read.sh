#!/bin/bash
# xfer_read.sh - READs through the transfer port of the real daemon: the
# exact bytes of a value with v1 and v2 requests, rejections outside any
# replica, many connections at once, READs racing replaces and removes,
# and the transfer metrics.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# addr_of KEY: the first replica's buffer_address_ from /query_key.
addr_of() {
	addr_in "$(curl -s "$MC_URL/query_key?key=$1")"
}

# metric NAME DIRECTION: the sample's value (0 when absent).
metric() {
	curl -s "$MC_URL/metrics" |
		sed -n "s/^$1{direction=\"$2\"} \([0-9.e+]*\)$/\1/p" | head -n1
}

mc_start
check "transfer port announced" [ -n "$MC_XPORT" ]

head -c 1048576 /dev/urandom >"$MC_TMP/big"
printf 'hello, transfer port' >"$MC_TMP/small"
head -c 100000 /dev/urandom >"$MC_TMP/mid"
for k in big small mid; do
	http PUT "/api/put/$k" --data-binary @"$MC_TMP/$k"
	expect_eq "put $k" "$HTTP_CODE" 200
done
expect_eq "read metrics start at 0" "$(metric mooncake_transfer_bytes_total read)" 0

# v1 and v2 READs of each replica return the exact bytes.
for k in big small mid; do
	a=$(addr_of "$k")
	n=$(stat -c %s "$MC_TMP/$k")
	check "$k has an address" [ -n "$a" ]
	for v in v1 v2; do
		"$XC" 127.0.0.1 "$MC_XPORT" read "$a" "$n" "$v" >"$MC_TMP/got"
		expect_eq "$v read of $k exits 0" "$?" 0
		check "$v read of $k is exact" cmp -s "$MC_TMP/got" "$MC_TMP/$k"
	done
	# a range inside the replica
	"$XC" 127.0.0.1 "$MC_XPORT" read $((a + 5)) 10 >"$MC_TMP/got"
	check "inner range of $k" cmp -s "$MC_TMP/got" \
		<(tail -c +6 "$MC_TMP/$k" | head -c 10)
done

# Outside any replica: v2 gets status 1 and nothing else, v1 a close.
a=$(addr_of small)
for req in "4096 16" "1 1" "$a 0" "$a 100000000" "18446744073709551615 2"; do
	set -- $req
	"$XC" 127.0.0.1 "$MC_XPORT" read "$1" "$2" v2 >"$MC_TMP/got" 2>/dev/null
	expect_eq "v2 read $req rejected" "$?" 3
	expect_eq "v2 read $req returns no data" "$(stat -c %s "$MC_TMP/got")" 0
	"$XC" 127.0.0.1 "$MC_XPORT" read "$1" "$2" v1 >"$MC_TMP/got" 2>/dev/null
	expect_eq "v1 read $req closes" "$?" 4
	expect_eq "v1 read $req returns no data" "$(stat -c %s "$MC_TMP/got")" 0
done
# the daemon's own memory outside the store is not readable
"$XC" 127.0.0.1 "$MC_XPORT" read $((a - 4096 * 4096)) 8 v2 >/dev/null 2>&1
expect_eq "read below the segment rejected" "$?" 3
expect_match "rejections counted" "$(metric mooncake_transfer_rejections_total read)" '^([1-9][0-9]+)$'

# 32 clients x 100 READs at once, each on its own connection.
a=$(addr_of mid)
for _ in $(seq 100); do cat "$MC_TMP/mid"; done >"$MC_TMP/mid100"
pids=()
for i in $(seq 32); do
	"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 100000 v2 100 >"$MC_TMP/c$i" &
	pids+=($!)
done
bad=0
for i in $(seq 32); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
	cmp -s "$MC_TMP/c$i" "$MC_TMP/mid100" || bad=$((bad + 1))
	rm -f "$MC_TMP/c$i"
done
expect_eq "32 x 100 concurrent reads all exact" "$bad" 0

# READs racing replaces and removes: a whole value or a rejection.
head -c 65536 /dev/zero | tr '\0' 'A' >"$MC_TMP/race"
http PUT /api/put/race --data-binary @"$MC_TMP/race"
(
	for i in $(seq 60); do
		c=$(printf "\\$(printf '%03o' $((66 + i % 20)))")
		head -c 65536 /dev/zero | tr '\0' "$c" >"$MC_TMP/race.w"
		if [ $((i % 5)) = 3 ]; then     # the last step is a put
			curl -s -X DELETE "$MC_URL/api/remove/race?force=true" >/dev/null
		else
			curl -s -X PUT --data-binary @"$MC_TMP/race.w" \
				"$MC_URL/api/put/race" >/dev/null
		fi
	done
) &
writer=$!
mixed=0 whole=0 rejected=0 tries=0
while kill -0 "$writer" 2>/dev/null || [ $((whole + rejected)) -lt 20 ]; do
	tries=$((tries + 1))
	[ "$tries" -le 3000 ] || break
	a=$(addr_of race)
	[ -n "$a" ] || continue
	rc=0
	"$XC" 127.0.0.1 "$MC_XPORT" read "$a" 65536 v2 >"$MC_TMP/rg" 2>/dev/null || rc=$?
	if [ "$rc" = 0 ]; then
		first=$(head -c 1 "$MC_TMP/rg")
		n=$(tr -d "$first" <"$MC_TMP/rg" | wc -c)
		size=$(stat -c %s "$MC_TMP/rg")
		if [ "$n" = 0 ] && [ "$size" = 65536 ]; then
			whole=$((whole + 1))
		else
			mixed=$((mixed + 1))
		fi
	elif [ "$rc" = 3 ]; then
		rejected=$((rejected + 1))
	else
		mixed=$((mixed + 1))
	fi
done
wait "$writer"
expect_eq "no READ returned a mix of two values" "$mixed" 0
check "some racing READs returned a value" [ "$whole" -gt 0 ]

expect_match "read bytes counted" "$(metric mooncake_transfer_bytes_total read)" '^[1-9][0-9]*(e\+[0-9]+)?$'
expect_match "read requests counted" "$(metric mooncake_transfer_requests_total read)" '^[1-9][0-9]*$'
expect_eq "no writes counted" "$(metric mooncake_transfer_bytes_total write)" 0

mc_stop
mc_done
