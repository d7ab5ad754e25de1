#!/bin/bash
# readme_tour.sh - the README's one-minute tour, typed literally against a
# live daemon (its port and mount point put in): every command succeeds,
# every HTTP answer is below 400, except the one the tour shows failing
# on purpose (its comment says "Invalid argument").
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }

# the section from its title to the next title (a line over dashes)
awk '/^A one-minute tour$/ { on = 1; getline; next }
     on && /^---/ { exit }
     on { if (prev != "") print prev; prev = $0 }' "$top_srcdir/README" |
	sed -n 's/^    \([^ #].*\)$/\1/p' >"$MC_TMP/tour"
check "the tour has commands" test "$(wc -l <"$MC_TMP/tour")" -ge 20

mc_start --fuse --segment-size 64M
# every curl of the tour reports its status on stderr
curl() { command curl -w '%{stderr}HTTP %{http_code}\n' "$@"; }
cd "$MC_TMP" || exit 1
n=0
while IFS= read -r line; do
	cmd=${line//127.0.0.1:8080/127.0.0.1:$MC_PORT}
	cmd=${cmd//\/mnt\/mooncake/$MC_MNT}
	eval "$cmd" >"$MC_TMP/out" 2>"$MC_TMP/err" </dev/null
	rc=$?
	n=$((n + 1))
	codes=$(sed -n 's/^HTTP \([0-9]*\)$/\1/p' "$MC_TMP/err" | tr '\n' ' ')
	case $line in
	*'"Invalid argument"'*)
		check "tour: fails as it says: $line" test "$rc" != 0
		expect_match "  with EINVAL" "$(cat "$MC_TMP/err")" 'Invalid argument'
		;;
	*)
		expect_eq "tour: $line" "$rc" 0
		[ "$rc" = 0 ] || cat "$MC_TMP/err" >&2
		for c in $codes; do
			check "  HTTP $c below 400: $line" test "$c" -lt 400
		done
		;;
	esac
	case $line in
	*/ctl/error*)
		expect_match "  ctl/error names the typo" "$(cat "$MC_TMP/out")" "ctl/mount: unknown token 'bogus=1'" ;;
	*"remove/greeting"*)
		expect_eq "  the value is gone" "$(command curl -s "$MC_URL/api/exist/greeting")" '{"exists": false}' ;;
	esac
done <"$MC_TMP/tour"
check "every line ran ($n)" test "$n" = "$(wc -l <"$MC_TMP/tour")"
cd / || exit 1
mc_stop
mc_done
