#!/bin/bash
# web_page.sh - the status page (GET / and /status) in a real browser:
# Debian's chromium, headless, against a live daemon with several
# segments (hostile names among them, one draining) and values of four
# sizes. The DOM must hold every segment with its used and capacity
# figures, the draining state, the value-size histogram and the last
# minute's counts; nothing a user named may become markup; no script and
# no outside asset; and the screenshot must not be blank.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
check "chromium is installed (bootstrap installs it)" test -n "$CHROMIUM"
[ -n "$CHROMIUM" ] || mc_done

# browse MODE URL OUT: chromium headless with the flags this machine's
# closed network needs, a fresh profile each time; MODE is dump-dom
# (the DOM to OUT) or screenshot (a PNG to OUT).
browse() {
	local args=(--headless --no-sandbox --disable-gpu --disable-quic
		--no-first-run --disable-background-networking
		--disable-component-update --disable-sync
		--user-data-dir="$MC_TMP/profile-$RANDOM" --window-size=1400,1200)
	if [ "$1" = dump-dom ]; then
		timeout 60 "$CHROMIUM" "${args[@]}" --dump-dom "$2" >"$3" 2>>"$MC_TMP/chromium.log"
	else
		timeout 60 "$CHROMIUM" "${args[@]}" --screenshot="$3" "$2" \
			>>"$MC_TMP/chromium.log" 2>&1
	fi
}

mc_start --segment-size 64M
default_id=$(sed -n "s/.*segment: mounted '\([0-9a-f-]*\)'.*/\1/p" "$MC_ERR" | head -n1)
check "the default segment's id is logged" test -n "$default_id"

mount() { curl -s -X POST "$MC_URL/api/mount" -d "$1" | jq -r '.segment_ids[0]'; }
evil='<script>alert(1)</script>'
id_evil=$(mount "$(jq -cn --arg n "$evil" --arg l '"><img src=x onerror=alert(2)>' \
	'{size: 16777216, name: $n, location: $l}')")
id_drain=$(mount '{"size": 33554432, "name": "drainer"}')
id_third=$(mount '{"size": 16777216, "name": "third"}')
for id in "$id_evil" "$id_drain" "$id_third"; do
	expect_match "mounted a segment" "$id" '^[0-9a-f-]{36}$'
done

# Values of four sizes: 3 x 100 B, 2 x 10 KiB, 1 x 300 KiB, 1 x 2 MiB.
for n in 1 2 3; do head -c 100 /dev/urandom >"$MC_TMP/v"; curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/v" "$MC_URL/api/put/small$n"; done
for n in 1 2; do head -c 10240 /dev/urandom >"$MC_TMP/v"; curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/v" "$MC_URL/api/put/mid$n"; done
head -c 307200 /dev/urandom >"$MC_TMP/v"; curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/v" "$MC_URL/api/put/large"
head -c 2097152 /dev/urandom >"$MC_TMP/v"; curl -s -o /dev/null -X PUT --data-binary @"$MC_TMP/v" "$MC_URL/api/put/huge"
curl -s -o /dev/null "$MC_URL/api/get/missing"
http POST /api/unmount -d "{\"segment_ids\": [\"$id_drain\"], \"grace_period_seconds\": 600}"
expect_eq "one segment starts draining" "$HTTP_CODE" 200

# --- the page as curl sees it -------------------------------------------------
http GET / -D "$MC_TMP/hdr"
expect_eq "GET / answers 200" "$HTTP_CODE" 200
expect_match "as HTML" "$(grep -i '^content-type:' "$MC_TMP/hdr")" 'text/html; charset=utf-8'
page=$HTTP_BODY
http GET /status
expect_eq "GET /status answers 200" "$HTTP_CODE" 200
expect_match "the same page" "$HTTP_BODY" '<h2>Segments</h2>'
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$MC_URL/status")
expect_eq "HEAD /status answers 200" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MC_URL/")
expect_eq "POST / is 405" "$code" 405
check "no script in the page" bash -c "! grep -qi '<script' '$HTTP_BODY_FILE'"
check "no outside asset (src=, link, @import, url(), http:// in href)" \
	bash -c "! grep -qiE '<[a-z][^>]* (src|srcset)=|<link|@import|url\(|href=\"(https?:)?//' '$HTTP_BODY_FILE'"
expect_match "the hostile name is text" "$page" '&lt;script&gt;alert\(1\)&lt;/script&gt;'
expect_match "the hostile location cannot leave its cell" "$page" \
	'&quot;&gt;&lt;img src=x onerror=alert\(2\)&gt;'

# --- the DOM as chromium built it ---------------------------------------------
browse dump-dom "$MC_URL/" "$MC_TMP/dom.html"
check "chromium dumped the DOM" test -s "$MC_TMP/dom.html"
dom=$(cat "$MC_TMP/dom.html")
check "no script element in the DOM" bash -c "! grep -qi '<script' '$MC_TMP/dom.html'"
check "no img element in the DOM" bash -c "! grep -qi '<img' '$MC_TMP/dom.html'"
# row ID: the segment's table row, one line of the DOM
row() { grep -o "<tr id=\"seg-$1\".*</tr>" "$MC_TMP/dom.html" | sed 's|</tr>.*||'; }
for id in "$default_id" "$id_evil" "$id_drain" "$id_third"; do
	r=$(row "$id")
	check "the DOM has a row for segment $id" test -n "$r"
	used=$(printf '%s' "$r" | sed -n 's|.*class="num used"><span title="\([0-9]*\) bytes".*|\1|p')
	size=$(printf '%s' "$r" | sed -n 's|.*class="num size"><span title="\([0-9]*\) bytes".*|\1|p')
	check "segment $id: used and size shown" test -n "$used" -a -n "$size"
done
# The figures are the store's: the sums per name match /query_segment.
r=$(row "$id_third")
used=$(printf '%s' "$r" | sed -n 's|.*class="num used"><span title="\([0-9]*\) bytes".*|\1|p')
size=$(printf '%s' "$r" | sed -n 's|.*class="num size"><span title="\([0-9]*\) bytes".*|\1|p')
http GET "/query_segment?segment=third"
expect_eq "used of 'third' as /query_segment says" "Used(bytes): $used" "$(sed -n 2p "$HTTP_BODY_FILE")"
expect_eq "capacity of 'third' as /query_segment says" "Capacity(bytes): $size" "$(sed -n 3p "$HTTP_BODY_FILE")"
r=$(row "$id_drain")
expect_match "the draining segment is marked" "$r" 'class="draining"'
# (600 s from the unmount: a loaded machine may take a few to render)
expect_match "and says when it goes" "$r" 'draining, goes in (5[4-9][0-9]|600) s'
r=$(row "$default_id")
expect_match "a segment that is not draining is ok" "$r" 'class="state-ok">ok<'
http GET /metrics
total=$(awk '$1 == "master_allocated_bytes" { print $2 }' "$HTTP_BODY_FILE")
cap=$(awk '$1 == "master_total_capacity_bytes" { print $2 }' "$HTTP_BODY_FILE")
expect_match "the store's used figure" "$dom" "id=\"used\"><dt>used</dt><dd><span title=\"$total bytes\">"
expect_match "the store's capacity figure" "$dom" "id=\"capacity\"><dt>capacity</dt><dd><span title=\"$cap bytes\">"
expect_match "four segments, one draining" "$dom" 'id="nsegments"><dt>segments</dt><dd>4 <span class="state-draining">\(1 draining\)'
expect_match "seven keys" "$dom" 'id="keys"><dt>keys</dt><dd>7<'
counts=$(grep -o 'class="class" data-count="[0-9]*"' "$MC_TMP/dom.html" | grep -o '[0-9]*' | tr '\n' ' ')
expect_eq "the histogram: 3 up to 4 KiB, 2 to 64 KiB, 1 to 1 MiB, 1 to 4 MiB" \
	"$counts" "3 2 0 1 1 0 0 0 "
expect_match "the last minute counts the puts" "$dom" \
	'<tr id="op-PutStart"><td>PutStart</td><td class="num">7</td>'
expect_match "and the failed get" "$dom" \
	'<tr id="op-GetReplicaList"><td>GetReplicaList</td><td class="num">1</td><td class="num">[0-9.]+/s</td><td class="num bad">1</td>'
expect_match "endpoints are linked" "$dom" '<a href="/metrics"><code>/metrics</code></a>'
expect_match "and those with a parameter shown" "$dom" '<code>/query_key\?key=KEY</code>'
expect_match "... /metadata too" "$dom" '<code>/metadata\?key=KEY</code>'
# every link of the page answers
bad=""
for l in $(grep -o 'href="/[^"]*"' "$MC_TMP/dom.html" | sed 's/^href="//; s/"$//' | sort -u); do
	c=$(curl -s -o /dev/null -w '%{http_code}' "$MC_URL$l")
	[ "$c" = 200 ] || bad="$bad $l:$c"
done
expect_eq "every link answers 200" "$bad" ""
check "... and the page has links" grep -q 'href="/get_all_keys"' "$MC_TMP/dom.html"

# --- pixels -----------------------------------------------------------------
browse screenshot "$MC_URL/" "$MC_TMP/page.png"
printf '<!DOCTYPE html><html><body></body></html>' >"$MC_TMP/blank.html"
browse screenshot "file://$MC_TMP/blank.html" "$MC_TMP/blank.png"
check "chromium took both screenshots" test -s "$MC_TMP/page.png" -a -s "$MC_TMP/blank.png"
a=$(stat -c %s "$MC_TMP/page.png" 2>/dev/null || echo 0)
b=$(stat -c %s "$MC_TMP/blank.png" 2>/dev/null || echo 1)
check "the screenshot is not blank ($a bytes against $b for an empty page)" \
	test "$a" -gt $((5 * b))
[ "$MC_FAIL" = 0 ] || { echo "chromium said:" >&2; tail -n 20 "$MC_TMP/chromium.log" >&2; }
mc_stop
mc_done
