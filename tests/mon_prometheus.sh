#!/bin/bash
# mon_prometheus.sh - a real Prometheus scrapes a live mooncaked with
# monitoring/prometheus.yml (its target and intervals changed for the
# test) and monitoring/alerts.yml: every dashboard query and every alert
# expression evaluates through the HTTP API without error and with data;
# a store filled past 95% with leased values and puts that fail show as
# pending alerts, and stopping the daemon makes MooncakedDown pending.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/mon_lib.sh"
mc_need_fuse
check "prometheus is installed" bash -c "command -v prometheus >/dev/null"
command -v prometheus >/dev/null || mc_done
trap 'mc_rc=$?; prom_stop; mc_cleanup "$mc_rc"' EXIT

# Eviction only when an allocation fails, and leases that outlast the
# test: the values put stay, and puts beyond the capacity fail.
mc_start --fuse --segment-size 16M --eviction-high-watermark 1 --lease-ttl 600000

mkdir -p "$MC_TMP/prom"
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$MC_PORT/" \
	-e 's/^\( *\)\(scrape\|evaluation\)_interval: 15s$/\1\2_interval: 1s/' \
	"$MON/prometheus.yml" >"$MC_TMP/prom/prometheus.yml"
cp "$MON/alerts.yml" "$MC_TMP/prom/"
check "the scrape job was pointed at the daemon" \
	grep -q "127.0.0.1:$MC_PORT" "$MC_TMP/prom/prometheus.yml"
expect_eq "every interval shortened to 1s" \
	"$(grep -c '_interval: 1s$' "$MC_TMP/prom/prometheus.yml")" 3
prom_start "$MC_TMP/prom/prometheus.yml"

# scraped: wait until Prometheus holds N samples of up (at most 10 s).
scraped() {
	local n=""
	for _ in $(seq 100); do
		prom_query "count_over_time(up{job=\"mooncaked\"}[1m])"
		n=$(printf '%s' "$PROM_JSON" | jq -r '.data.result[0].value[1] // 0')
		[ "$n" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "only $n scrapes, not $1" >&2
	return 1
}
check "prometheus scrapes the daemon" scraped 2

# --- traffic through every door ---------------------------------------------
# A series born with a value shows no increase to rate(): the labelled
# series that appear with the first error (code="404", code="507") are
# made first, one scrape before the traffic that the checks measure.
curl -s -o /dev/null "$MC_URL/api/get/missing"
curl -s -o /dev/null -X PUT --data-binary @/dev/null "$MC_URL/api/put/empty"
check "prometheus scrapes the first errors" scraped 4
# Expect: 100-continue, so that a refused put (507) is answered before
# the body is sent: a refusal racing with the upload can reach curl as a
# reset connection instead (status 000) on a loaded machine.
put() {
	curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
		-X PUT --data-binary "@$2" "$MC_URL/api/put/$1"
}
head -c 100 /dev/urandom >"$MC_TMP/v100"
head -c 10240 /dev/urandom >"$MC_TMP/v10k"
head -c 307200 /dev/urandom >"$MC_TMP/v300k"
head -c 1000000 /dev/urandom >"$MC_TMP/v1m"
codes=""
for k in v100 v10k v300k; do codes="$codes$(put "$k" "$MC_TMP/$k") "; done
for i in $(seq 16); do codes="$codes$(put "big$i" "$MC_TMP/v1m") "; done
expect_eq "19 puts of four sizes fill 97% of 16 MiB" "$codes" "$(printf '200 %.0s' $(seq 19))"
for k in v100 v10k v300k $(seq -f big%g 16); do
	curl -s -o /dev/null "$MC_URL/query_key?key=$k"          # leases it
	curl -s -o /dev/null "$MC_URL/api/get/$k"
done
codes=""
for i in 1 2 3; do codes="$codes$(put "more$i" "$MC_TMP/v1m") "; done
expect_eq "puts past the capacity fail" "$codes" "507 507 507 "
curl -s -o /dev/null "$MC_URL/api/get/missing"
curl -s -o /dev/null "$MC_URL/api/exist/v100"
curl -s -o /dev/null "$MC_URL/batch_query_keys?keys=v100,missing"
ls "$MC_MNT/keys" >/dev/null
cat "$MC_MNT/keys/v100" "$MC_MNT/summary" >/dev/null

# A READ of v10k's bytes through the transfer port (v1 framing:
# u64 size, u64 address, u8 opcode 0, 7 bytes padding, little endian).
le64() {
	local v=$1 i
	for i in 0 1 2 3 4 5 6 7; do printf '\\x%02x' $(((v >> (8 * i)) & 255)); done
}
desc=$(curl -s "$MC_URL/query_key?key=v10k" | head -n1)
addr=$(printf '%s' "$desc" | jq -r '.buffer_descriptors[0].buffer_address_')
exec 3<>"/dev/tcp/127.0.0.1/$MC_XPORT"
printf "$(le64 10240)$(le64 "$addr")\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00" >&3
timeout 5 head -c 10240 <&3 >"$MC_TMP/xfer.out"
exec 3<&-
check "the transfer port returns v10k's bytes" cmp -s "$MC_TMP/xfer.out" "$MC_TMP/v10k"

# Wait until Prometheus has scraped what the traffic did, then two more
# scrapes so that every rate has samples on both sides.
want=$(curl -s "$MC_URL/metrics" | awk '$1 == "master_put_start_requests_total" { print $2 }')
got=""
for _ in $(seq 100); do
	prom_query 'master_put_start_requests_total{job="mooncaked"}'
	got=$(printf '%s' "$PROM_JSON" | jq -r '.data.result[0].value[1] // empty')
	[ "$got" = "$want" ] && break
	sleep 0.1
done
expect_eq "prometheus scraped the daemon's put count" "$got" "$want"
sleep 2.5

# Some panels must show what the traffic did, not only zeros (checked
# first: the windows are short, and a loaded machine is slow).
nonzero() {
	prom_query "$2"
	local v
	v=$(printf '%s' "$PROM_JSON" | jq -r '[.data.result[].value[1] | tonumber] | max // 0')
	check "$1 ($2 = $v)" awk -v v="$v" 'BEGIN { exit !(v > 0) }'
}
nonzero "puts per second" 'sum(rate(master_put_start_requests_total[1m]))'
nonzero "put failures per second" 'sum(rate(master_put_start_failures_total[1m]))'
nonzero "HTTP p99 latency of the put route" \
	'histogram_quantile(0.99, sum by (route, le) (rate(mooncake_http_request_duration_seconds_bucket{route="/api/put/{key}"}[1m])))'
nonzero "HTTP errors" 'sum(rate(mooncake_http_requests_total{code=~"4..|5.."}[1m]))'
nonzero "values put of 256 KiB to 1 MiB" \
	'sum(increase(master_value_size_bytes_bucket{le="1048576"}[5m])) - sum(increase(master_value_size_bytes_bucket{le="262144"}[5m]))'
nonzero "transfer-port bytes read" 'sum(rate(mooncake_transfer_bytes_total{direction="read"}[1m]))'
nonzero "FUSE reads" 'sum(rate(mooncake_fuse_operations_total{op="read"}[1m]))'
nonzero "per-segment use" 'segment_allocated_bytes'


# --- every dashboard query ----------------------------------------------------
dash_exprs | grafana_expand >"$MC_TMP/exprs"
check "the dashboard has queries" test -s "$MC_TMP/exprs"
bad=""
while IFS= read -r q; do
	prom_query "$q"
	if [ "$PROM_STATUS" != success ] || [ "$PROM_N" = 0 ]; then
		bad="$bad
  $PROM_STATUS, $PROM_N series: $q $(printf '%s' "$PROM_JSON" | jq -r '.error // empty' 2>/dev/null)"
	fi
done <"$MC_TMP/exprs"
expect_eq "every dashboard query evaluates with data" "$bad" ""
prom_query 'label_values_probe' # a name no one exports: no data, no error
expect_eq "a query of an unknown name succeeds empty (so the test can fail)" \
	"$PROM_STATUS $PROM_N" "success 0"
instances=$(curl -s -G --data-urlencode 'match[]=master_total_capacity_bytes' \
	"$PROM_URL/api/v1/label/instance/values" | jq -r '.data[]')
expect_eq "the dashboard's instance variable lists the daemon" "$instances" "127.0.0.1:$MC_PORT"

# --- the alert rules --------------------------------------------------------
rules=$(curl -s "$PROM_URL/api/v1/rules")
expect_eq "prometheus loaded every alert of alerts.yml" \
	"$(printf '%s' "$rules" | jq -r '[.data.groups[].rules[] | select(.type == "alerting") | .name] | sort | join(" ")')" \
	"$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' "$MON/alerts.yml" | sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "every rule evaluated, none in error" \
	"$(printf '%s' "$rules" | jq -r '[.data.groups[].rules[] | select(.health != "ok" or .lastError != null and .lastError != "") | "\(.name): \(.health) \(.lastError)"] | join("; ")')" ""
printf '%s' "$rules" | jq -r '.data.groups[].rules[] | [.name, .query] | @tsv' | tr '\n' '\036' |
	sed 's/\\n/ /g' | tr '\036' '\n' >"$MC_TMP/alert.exprs"
bad=""
missing=""
while IFS=$'\t' read -r name q; do
	prom_query "$q"
	[ "$PROM_STATUS" = success ] || bad="$bad $name"
	# each family an alert reads has data, unless it is a cluster family
	# and this single daemon does not export it
	for n in $(printf '%s\n' "$q" | promql_names); do
		case $n in
		mooncake_cluster_*)
			curl -s "$MC_URL/metrics" | grep -q "^$n" || continue ;;
		esac
		prom_query "$n{job=\"mooncaked\"}"
		[ "$PROM_N" != 0 ] || missing="$missing $name:$n"
	done
done <"$MC_TMP/alert.exprs"
expect_eq "every alert expression evaluates without error" "$bad" ""
expect_eq "every series an alert reads has data" "$missing" ""

# active_alerts: "NAME STATE" of every pending or firing alert, sorted.
active_alerts() {
	curl -s "$PROM_URL/api/v1/alerts" |
		jq -r '.data.alerts[] | "\(.labels.alertname) \(.state)"' | sort | tr '\n' ' '
}
want="MooncakePutsFailing pending MooncakeStoreNearlyFull pending "
for _ in $(seq 100); do
	got=$(active_alerts)
	[ "$got" = "$want" ] && break
	sleep 0.1
done
expect_eq "a full store and failing puts are pending alerts, nothing else" "$got" "$want"
prom_query 'master_allocated_bytes{job="mooncaked"} / master_total_capacity_bytes{job="mooncaked"}'
expect_match "the store is 97% full" "$(printf '%s' "$PROM_JSON" | jq -r '.data.result[0].value[1]')" '^0\.97'

mc_stop
want="MooncakePutsFailing pending MooncakeStoreNearlyFull pending MooncakedDown pending "
for _ in $(seq 100); do
	got=$(active_alerts)
	case $got in *MooncakedDown*) break ;; esac
	sleep 0.1
done
expect_match "a stopped daemon makes MooncakedDown pending" "$got" 'MooncakedDown pending'
check "prometheus logged no error" bash -c "! grep -i 'level=error' '$MC_TMP/prom.log'"
prom_stop
mc_done
