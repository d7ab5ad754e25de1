# tests/web_lib.sh - helpers shared by the tests/web_*.sh scripts, on top
# of tests/lib.sh (sourced first by the script).

# wait_healthy: /health answers 200 (the daemon sets ready right around
# its "ready" line); fails the check after 5 s.
wait_healthy() {
	local code=""
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$MC_URL/health")
		[ "$code" = 200 ] && break
		sleep 0.05
	done
	expect_eq "/health answers 200 after start" "$code" 200
}

# hdr NAME: a header's value from the last `http` call's headers
# (curl -D "$MC_TMP/hdr"), without the CR.
hdr() {
	sed -n "s/^$1: *//Ip" "$MC_TMP/hdr" | tr -d '\r' | head -n1
}

# metric NAME: the value of an unlabelled series on a fresh /metrics.
metric() {
	curl -s "$MC_URL/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}

# raw BYTES: send BYTES (printf %b escapes) on a new connection and keep
# what comes back until the server closes (or 5 s pass) in $RAW_FILE;
# RAW_STATUS is the first status code, RAW_BODY the first body.
RAW_FILE="$MC_TMP/raw"
raw() {
	printf '%b' "$1" > "$MC_TMP/raw.req"
	raw_file "$MC_TMP/raw.req"
}

# raw_file FILE: the same with the request bytes taken from FILE as is.
raw_file() {
	exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
	cat "$1" >&3 2>/dev/null
	timeout 5 cat <&3 >"$RAW_FILE" 2>/dev/null
	exec 3<&-
	RAW_STATUS=$(head -n1 "$RAW_FILE" | sed -n 's|^HTTP/1\.[01] \([0-9]*\).*|\1|p')
	RAW_BODY=$(sed '1,/^\r$/d' "$RAW_FILE")
}

# still_healthy DESC: the daemon answers /health after DESC.
still_healthy() {
	local code
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$MC_URL/health")
	expect_eq "/health still 200 after $1" "$code" 200
}
