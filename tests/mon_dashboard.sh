#!/bin/bash
# mon_dashboard.sh - monitoring/grafana/mooncaked.json: valid JSON, the
# panels the dashboard promises, and every metric name its queries use
# is one that a live daemon's /metrics exports (with the FUSE tree
# mounted, so that the FUSE family is there too).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/mon_lib.sh"
mc_need_fuse

# --- the file ---------------------------------------------------------------
check "the dashboard is valid JSON" jq empty "$DASH"
expect_eq "its uid" "$(jq -r .uid "$DASH")" mooncaked
expect_eq "panel ids are unique" \
	"$(jq '[.. | objects | select(has("gridPos")) | .id] | (length == (unique | length))' "$DASH")" true
expect_eq "every query names its data source variable" \
	"$(jq '[.. | objects | select(has("expr")) | .datasource.uid] | unique' -c "$DASH")" \
	'["${datasource}"]'
expect_eq "every panel but the rows has a query" \
	"$(jq '[.panels[] | select(.type != "row") | select((.targets // []) | length == 0)] | length' "$DASH")" 0
dash_exprs >"$MC_TMP/exprs"
check "the dashboard has queries" test -s "$MC_TMP/exprs"

# The panels the dashboard is for, by what they query.
has_query() { grep -qE -- "$2" "$MC_TMP/exprs" || { echo "no query for $1" >&2; false; }; }
check "capacity per segment" has_query capacity 'sum by \(segment\) \(segment_total_capacity_bytes'
check "use per segment" has_query use 'sum by \(segment\) \(segment_allocated_bytes'
check "keys" has_query keys 'master_key_count'
check "request rates by operation" has_query requests 'rate\(master_put_start_requests_total'
check "failure rates by operation" has_query failures 'rate\(master_get_replica_list_failures_total'
check "value-size distribution" has_query sizes 'master_value_size_bytes_bucket'
check "HTTP latency quantiles by route" has_query latency \
	'histogram_quantile\(0\.99, sum by \(route, le\) \(rate\(mooncake_http_request_duration_seconds_bucket'
check "evictions" has_query evictions 'rate\(master_evicted_key_count'
check "transfer-port throughput" has_query transfer 'rate\(mooncake_transfer_bytes_total'
check "FUSE operations" has_query fuse 'rate\(mooncake_fuse_operations_total'

# --- the name check can fail ------------------------------------------------
printf '%s\n' 'sum by (le) (rate(no_such_family_total{route="master_key_count"}[5m]))' \
	'master_key_count offset 10m > 1e3 and on (instance) group_left(segment) other_bucket / 0.95' \
	>"$MC_TMP/bad.exprs"
expect_eq "promql_names finds the names and only them" \
	"$(promql_names <"$MC_TMP/bad.exprs" | tr '\n' ' ')" \
	"master_key_count no_such_family_total other_bucket "
printf '# HELP master_key_count k\n# TYPE master_key_count gauge\nmaster_key_count 1\n# HELP h h\n# TYPE h histogram\nh_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n# HELP e e\n# TYPE e counter\n' \
	>"$MC_TMP/fake.metrics"
expect_eq "exported_names: families with samples, histogram series" \
	"$(exported_names "$MC_TMP/fake.metrics" | tr '\n' ' ')" \
	"h_bucket h_count h_sum master_key_count "
expect_eq "unknown_names flags what /metrics lacks" \
	"$(unknown_names "$MC_TMP/bad.exprs" "$MC_TMP/fake.metrics" | tr '\n' ' ')" \
	"no_such_family_total other_bucket "

# --- against a live daemon ----------------------------------------------------
mc_start --fuse
curl -s -o /dev/null -X PUT --data-binary 'hello' "$MC_URL/api/put/greeting"
curl -s "$MC_URL/metrics" >"$MC_TMP/metrics"
check "the daemon exports the FUSE family over HTTP" \
	grep -q '^mooncake_fuse_operations_total{' "$MC_TMP/metrics"
unknown=$(unknown_names "$MC_TMP/exprs" "$MC_TMP/metrics")
expect_eq "every name the dashboard queries is in /metrics" "$unknown" ""
expect_eq "the instance variable's series is in /metrics" \
	"$(printf '%s\n' "$(jq -r '.templating.list[] | select(.name == "instance") | .definition' "$DASH")" |
		sed 's/label_values(\([a-z_]*\),.*/\1/' | unknown_names /dev/stdin "$MC_TMP/metrics")" ""
mc_stop
mc_done
