# tests/mon_lib.sh - helpers of the tests/mon_*.sh scripts (monitoring/:
# the Prometheus scrape job, the alert rules, the Grafana dashboard), on
# top of tests/lib.sh (sourced first by the script).

MON=${top_srcdir:-$(dirname "$0")/..}/monitoring
DASH=$MON/grafana/mooncaked.json

# dash_exprs: every query of the dashboard, one a line.
dash_exprs() {
	jq -r '.. | objects | select(has("expr")) | .expr' "$DASH"
}

# grafana_expand: replace the dashboard's variables by what Grafana would
# send (stdin to stdout): every instance, a 1 m rate window, a 5 m range.
grafana_expand() {
	sed -e 's/\$__rate_interval/1m/g' -e 's/\$__interval/5s/g' \
		-e 's/\$__range/5m/g' -e 's/\$instance/.*/g' \
		-e 's/\${instance}/.*/g'
}

# promql_names: the metric names a PromQL expression (stdin, one a line)
# selects, one a line, sorted: strings, label matchers, ranges, numbers,
# durations and the label lists of by/without/on/ignoring/group_* go
# first; what is left and not followed by "(" (a function or an
# aggregation) and not an operator keyword is a metric name.
promql_names() {
	sed -E -e 's/"([^"\\]|\\.)*"//g' -e "s/'([^'\\\\]|\\\\.)*'//g" \
		-e 's/\{[^}]*\}//g' -e 's/\[[^]]*\]//g' \
		-e 's/(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)/ /g' \
		-e 's/(^|[^a-zA-Z0-9_:])[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?[a-z]*/\1 /g' |
		grep -oE '[a-zA-Z_:][a-zA-Z0-9_:]*[[:space:]]*\(?' |
		grep -v '($' | sed 's/[[:space:]]//g' |
		grep -vxE 'and|or|unless|offset|bool|by|without|on|ignoring|group_left|group_right|inf|nan|Inf|NaN' |
		sort -u
}

# exported_names FILE: the names a /metrics body (FILE) lets a query use:
# each family that has at least one sample, and for a histogram its
# _bucket, _sum and _count series.
exported_names() {
	awk '
	$1 == "#" && $2 == "TYPE" { type[$3] = $4; next }
	/^#/ || NF == 0 { next }
	{ n = $1; sub(/\{.*/, "", n); seen[n] = 1 }
	END {
		for (f in type) {
			if (type[f] == "histogram") {
				if (seen[f "_bucket"]) print f "_bucket"
				if (seen[f "_sum"]) print f "_sum"
				if (seen[f "_count"]) print f "_count"
			} else if (seen[f]) print f
		}
	}' "$1" | sort -u
}

# unknown_names EXPRFILE METRICSFILE: the names the expressions in
# EXPRFILE use that METRICSFILE does not export, one a line.
unknown_names() {
	promql_names <"$1" >"$MC_TMP/used.names"
	exported_names "$2" >"$MC_TMP/exported.names"
	comm -23 "$MC_TMP/used.names" "$MC_TMP/exported.names"
}

# free_port: a TCP port nobody listens on right now (for programs that
# cannot take port 0 and say which port they got), below the kernel's
# ephemeral range, so that no other test's port-0 bind or outgoing
# connection is handed it before the program binds it.
free_port() {
	local p lo hi
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 11000 ] || lo=60000
	for _ in $(seq 50); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# prom_start CONFIG: run the real prometheus on a free loopback port with
# CONFIG and a fresh data directory; sets PROM_PID, PROM_URL. Fails the
# script when it does not answer /-/ready within 20 s.
PROM_PID=""
prom_start() {
	local port tries
	for tries in 1 2 3; do
		port=$(free_port) || break
		prometheus --config.file="$1" --storage.tsdb.path="$MC_TMP/prom-data" \
			--web.listen-address="127.0.0.1:$port" --log.level=warn \
			>"$MC_TMP/prom.log" 2>&1 &
		PROM_PID=$!
		PROM_URL=http://127.0.0.1:$port
		for _ in $(seq 200); do
			mc_child "$PROM_PID" || break
			[ "$(curl -s -o /dev/null -w '%{http_code}' "$PROM_URL/-/ready")" = 200 ] &&
				return 0
			sleep 0.1
		done
		mc_reap "$PROM_PID"
		PROM_PID=""
	done
	echo "prometheus did not start:" >&2
	cat "$MC_TMP/prom.log" >&2
	exit 1
}

prom_stop() {
	[ -n "$PROM_PID" ] || return 0
	mc_reap "$PROM_PID"
	PROM_PID=""
}

# prom_query EXPR: an instant query through the HTTP API; the JSON answer
# in PROM_JSON, its status in PROM_STATUS, its number of series or
# samples in PROM_N.
prom_query() {
	PROM_JSON=$(curl -s -G --data-urlencode "query=$1" "$PROM_URL/api/v1/query")
	PROM_STATUS=$(printf '%s' "$PROM_JSON" | jq -r '.status // "no answer"' 2>/dev/null)
	PROM_N=$(printf '%s' "$PROM_JSON" | jq -r '.data.result | length' 2>/dev/null)
	: "${PROM_STATUS:=no answer}" "${PROM_N:=0}"
}
