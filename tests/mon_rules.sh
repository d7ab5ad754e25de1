#!/bin/bash
# mon_rules.sh - monitoring/ as promtool sees it: the scrape job and the
# alert rules are valid, alerts_test.yml has a firing and a not-firing
# case for every alert and passes, and each alert made worse (a table of
# mutations below) makes it fail, so that it can.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/mon_lib.sh"

if [ -z "${PROMTOOL:-}" ]; then PROMTOOL=$(command -v promtool || true); fi
check "promtool is available (PROMTOOL)" test -n "$PROMTOOL"
[ -n "$PROMTOOL" ] || mc_done

rc=0
out=$("$PROMTOOL" check config "$MON/prometheus.yml" 2>&1) || rc=$?
expect_eq "promtool check config prometheus.yml" "$rc" 0
expect_match "prometheus.yml loads alerts.yml" "$out" 'SUCCESS: 1 rule files found'

alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' "$MON/alerts.yml")
n=$(printf '%s\n' "$alerts" | grep -c .)
rc=0
out=$("$PROMTOOL" check rules "$MON/alerts.yml" 2>&1) || rc=$?
expect_eq "promtool check rules alerts.yml" "$rc" 0
expect_match "promtool counts every alert ($n)" "$out" "SUCCESS: $n rules found"
for a in MooncakedDown MooncakeStoreNearlyFull MooncakeEvictionsClimbing \
	MooncakePutsFailing MooncakeClusterNoLeader MooncakeClusterLeaderDown; do
	expect_match "alerts.yml has $a" "$alerts" "^$a\$"
done

# Each alert has a case where it fires (exp_alerts with an entry) and one
# where it does not (exp_alerts: []).
for a in $alerts; do
	cases=$(awk -v a="$a" '
		/alertname:/ { cur = $2; next }
		cur == a && /exp_alerts: *\[\]/ { print "quiet"; cur = ""; next }
		cur == a && /exp_alerts: *$/ { print "fires"; cur = "" }
	' "$MON/alerts_test.yml" | sort -u | tr '\n' ' ')
	expect_eq "alerts_test.yml fires and silences $a" "$cases" "fires quiet "
done

rc=0
out=$("$PROMTOOL" test rules "$MON/alerts_test.yml" 2>&1) || rc=$?
expect_eq "promtool test rules alerts_test.yml" "$rc" 0
[ "$rc" = 0 ] || printf '%s\n' "$out" >&2

# mutate DESC SED: alerts.yml edited by SED must fail alerts_test.yml.
mkdir -p "$MC_TMP/mut"
cp "$MON/alerts_test.yml" "$MC_TMP/mut/"
mutate() {
	sed -e "$2" "$MON/alerts.yml" >"$MC_TMP/mut/alerts.yml"
	if cmp -s "$MON/alerts.yml" "$MC_TMP/mut/alerts.yml"; then
		check "mutation '$1' applies to alerts.yml" false
		return
	fi
	check "alerts_test.yml catches: $1" \
		bash -c "! (cd '$MC_TMP/mut' && '$PROMTOOL' test rules alerts_test.yml) >/dev/null 2>&1"
}
mutate "down without waiting" 's/^\(        for: \)1m$/\10m/'
mutate "nearly full at 85%" 's/ > 0\.95$/ > 0.85/'
mutate "nearly full at once" '/MooncakeStoreNearlyFull/,/for:/s/for: 10m/for: 1m/'
mutate "evictions: any trickle counts" 's/\[10m\]) > 0\.1$/[10m]) > 0.0001/'
mutate "evictions: any rise counts" 's/> 2 \* rate/> 1 * rate/'
mutate "puts failing at 20%" 's/^\(            \)> 0\.05$/\1> 0.2/'
mutate "puts failing at 0.1%" 's/^\(            \)> 0\.05$/\1> 0.001/'
mutate "batch put failures ignored" '/+ rate(master_batch_put_start_failed_items_total/d'
mutate "a cluster's followers fire too" 's/(mooncake_cluster_is_leader{job="mooncaked"} == 0)/(mooncake_cluster_is_leader{job="mooncaked"} == 2)/'
mutate "a single daemon is dropped" 's/unless on (instance) (mooncake_cluster_is_leader{job="mooncaked"} == 0)/unless on (instance) (mooncake_cluster_is_leader{job="mooncaked"} == 0 or master_allocated_bytes{job="mooncaked"} >= 0)/'
mutate "no leader across all jobs" 's/sum by (job) (mooncake_cluster_is_leader/sum (mooncake_cluster_is_leader/'
mutate "no leader waits 5m" 's/for: 30s/for: 5m/'
mutate "leader remembered 15m" 's/is_leader{job="mooncaked"}\[5m\]/is_leader{job="mooncaked"}[15m]/'
mutate "any node down is the leader" 's/max_over_time(mooncake_cluster_is_leader{job="mooncaked"}\[5m\]) == 1/max_over_time(mooncake_cluster_is_leader{job="mooncaked"}[5m]) >= 0/'

mc_done
