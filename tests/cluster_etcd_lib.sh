#!/usr/bin/env bash
# cluster_etcd_lib.sh - the scripts' etcd helper (tests/etcd_lib.sh) works:
# etcd starts on free ports, answers the v3 gateway, keeps its data over a
# restart, stops answering when paused and when stopped, and leaves
# nothing behind.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/etcd_lib.sh"
trap 'mc_rc=$?; etcd_cleanup; mc_cleanup "$mc_rc"' EXIT

# range KEY64: the value (base64) etcd holds for KEY64, or nothing
range() {
	curl -s -m 1 "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$1\"}" |
		sed -n 's/.*"value":"\([^"]*\)".*/\1/p'
}

etcd_start || { echo "etcd_start failed" >&2; exit 1; }
check "etcd runs" kill -0 "$ETCD_PID"
# key "mc-test", value "survives", in the gateway's base64
check "put through the gateway" curl -sf -o /dev/null -m 2 "$ETCD_URL/v3/kv/put" \
	-d '{"key":"bWMtdGVzdA==","value":"c3Vydml2ZXM="}'
expect_eq "range finds it" "$(range bWMtdGVzdA==)" "c3Vydml2ZXM="

etcd_pause
expect_eq "a paused etcd does not answer" "$(range bWMtdGVzdA==)" ""
etcd_resume
expect_eq "it answers once resumed" "$(range bWMtdGVzdA==)" "c3Vydml2ZXM="

old_url=$ETCD_URL
etcd_stop
check "a stopped etcd refuses" [ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 "$old_url/v3/kv/range" -d '{}')" = 000 ]
etcd_restart || { echo "etcd_restart failed" >&2; exit 1; }
expect_eq "same URL after a restart" "$ETCD_URL" "$old_url"
expect_eq "the data survived the restart" "$(range bWMtdGVzdA==)" "c3Vydml2ZXM="

dir=$ETCD_DIR pid=$ETCD_PID
etcd_cleanup
check "etcd is gone after cleanup" [ ! -e "/proc/$pid" ]
check "its directory is gone" [ ! -e "$dir" ]
mc_done
