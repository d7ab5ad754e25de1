#!/bin/bash
# man_pages.sh - every page in man/ as a reader meets it: it renders with
# man -l without a warning; every mooncake page it names exists and every
# section it points at is there; every JSON error body mooncake-http(7)
# quotes is one the code sends (a page once printed
# "Unmountfailedforoneormoresegments"); and the EXAMPLES of
# mooncake-http(7), mooncakefs(5) and mooncaked(8) run against a live
# daemon as written, with the port, mount point and ids of this run put in.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
check "man is installed" bash -c 'command -v man >/dev/null'
command -v man >/dev/null || mc_done

MAN=$top_srcdir/man
SHM=mc-man-$$
trap 'mc_rc=$?; rm -f "/dev/shm/$SHM-kv" "/dev/shm/$SHM-seg"; mc_cleanup "$mc_rc"' EXIT
render() { MANWIDTH=400 man -l "$1" 2>/dev/null; }

# --- rendering ------------------------------------------------------------------
pages=$(ls "$MAN"/*.[1-8])
check "there are pages" test -n "$pages"
for p in $pages; do
	n=$(basename "$p")
	warn=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
	expect_eq "$n renders without a warning" "$warn" ""
	text=$(render "$p")
	for s in NAME DESCRIPTION 'SEE ALSO'; do
		expect_match "$n has $s" "$text" "(^|$(printf '\n'))$s($(printf '\n')|\$)"
	done
done

# --- the README points at every page ---------------------------------------------
for p in $pages; do
	n=$(basename "$p")
	check "README, Manual pages, names man/$n" \
		bash -c "sed -n '/^Manual pages\$/,\$p' '$top_srcdir/README' | grep -qF 'man -l man/$n '"
done

# --- cross-references ---------------------------------------------------------------
# sections PAGE: the section and subsection titles of a page, one a line.
sections() { render "$1" | sed -n 's/^ \{0,3\}\([A-Z][A-Z0-9 :,()-]*[A-Z)]\)$/\1/p'; }
for p in $pages; do
	n=$(basename "$p")
	text=$(render "$p")
	# mooncake pages named: they exist
	for ref in $(printf '%s' "$text" | grep -oE 'mooncake[a-z-]*\([0-9]\)' | sort -u); do
		f=${ref%(*}.${ref#*(}
		f=${f%)}
		check "$n names $ref, which exists" test -f "$MAN/$f"
	done
	# "PAGE(N), SECTION": SECTION is a title of PAGE
	printf '%s' "$text" | tr '\n' ' ' | grep -oE '(mooncake[a-z-]*)\([0-9]\), [A-Z][A-Z]+( [A-Z]+)*' | sort -u |
		while IFS= read -r ref; do
			f=$(printf '%s' "$ref" | sed 's/(\([0-9]\)),.*/.\1/')
			sec=${ref#*, }
			[ -f "$MAN/$f" ] || continue
			sections "$MAN/$f" | grep -qxF "$sec" ||
				echo "$n: $ref: no section $sec in $f"
		done >"$MC_TMP/badref"
	expect_eq "$n points at sections that exist in other pages" "$(cat "$MC_TMP/badref")" ""
	# "(see SECTION)", "see SECTION below": a title of this page
	printf '%s' "$text" | tr '\n' ' ' | grep -oE '\(see [A-Z][A-Z]+( [A-Z]+)*|see [A-Z][A-Z]+( [A-Z]+)* (below|above)|under [A-Z][A-Z]+( [A-Z]+)* (below|above)' |
		sed -E 's/^\(?(see|under) //; s/ (below|above)$//' | sort -u |
		while IFS= read -r sec; do
			sections "$p" | grep -qxF "$sec" || echo "$n: no section $sec"
		done >"$MC_TMP/badsec"
	expect_eq "$n points at its own sections that exist" "$(cat "$MC_TMP/badsec")" ""
done

# --- the error bodies of mooncake-http(7) are the code's -------------------------
# The code's strings with adjacent literals joined ("a " "b" -> "a b").
cat "$top_srcdir"/web/*.c "$top_srcdir"/src/*.c "$top_srcdir"/daemon/*.c \
	"$top_srcdir"/metadata/*.c 2>/dev/null |
	sed -z -E 's/"[[:space:]]*\n[[:space:]]*"//g' >"$MC_TMP/code"
# in_code MSG: MSG is a string of the code; a quoted placeholder ('KEY')
# stands for a format's %s, and "Invalid X," for "Invalid %s,".
in_code() {
	local re
	re=$(printf '%s' "$1" | sed -e 's/[][\\.^$*+?(){}|/]/\\&/g' \
		-e "s/'[A-Z_]*'/'[^']*'/g" -e 's/^Invalid [a-z_]*,/Invalid [^,]*,/')
	grep -qE -- "\"$re\"" "$MC_TMP/code"
}
render "$MAN/mooncake-http.7" | grep -oE '"error":"[^"]*"' | sed 's/^"error":"//; s/"$//' | sort -u |
	while IFS= read -r msg; do
		case $msg in *...* | MESSAGE | [A-Z_]*[A-Z]) continue ;; esac
		in_code "$msg" || echo "$msg"
	done >"$MC_TMP/badmsg"
expect_eq "every error body mooncake-http(7) quotes is in the code" "$(cat "$MC_TMP/badmsg")" ""
in_code "Unmountfailedforoneormoresegments" && echo caught >"$MC_TMP/canfail"
expect_eq "(and a mangled one is not)" "$(cat "$MC_TMP/canfail" 2>/dev/null)" ""

# --- the examples -------------------------------------------------------------------
# examples PAGE: the example lines of PAGE's EXAMPLES section (.nf/.EX
# blocks only, roff escapes undone), a line continued with \ or | joined
# to the next.
examples() {
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$1" |
		awk '/^\.(nf|EX)/ { on = 1; next } /^\.(fi|EE)/ { on = 0; print "@@"; next } on' |
		sed -e 's/\\\\/\x01/g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\e/\\/g' -e 's/\\&//g' \
			-e 's/\x01/\\/g' |
		awk '{ if (c != "") { sub(/^ +/, " "); c = c $0 } else c = $0
		       if (c ~ /(\\|\|)$/) { sub(/\\$/, "", c); next }
		       print c; c = "" }'
}

# The daemon the examples talk to, with the control tree.
mc_start --fuse --segment-size 64M
MAIN_PORT=$MC_PORT
export HOME=$MC_TMP/home
mkdir -p "$HOME" "$MC_TMP/ex"
head -c 1048576 /dev/urandom >"$HOME/blob"
cp "$HOME/blob" "$MC_TMP/ex/weights.bin"
printf 's3cret\n' >"$MC_TMP/token"
ID=""
DAEMONS=()

# start_example ARGS: a daemon an example starts, on ports of its own
# (never 8080 on a shared machine) and without the control tree; the
# example's later lines talk to it.
start_example() {
	local out=$MC_TMP/ex-daemon.$#.$RANDOM
	eval "set -- $*"
	(cd "$MC_TMP/ex" && exec "$MOONCAKED" "$@" --port 0 --transfer-port 0 --rpc-port 0 \
		--no-fuse >"$out" 2>"$out.err") &
	DAEMONS+=($!)
	for _ in $(seq 100); do grep -q '^mooncaked: ready' "$out" && break; sleep 0.05; done
	check "the example's daemon starts: mooncaked $*" grep -q '^mooncaked: ready' "$out"
	MC_PORT=$(sed -n 's|^mooncaked: http http://[^:]*:\([0-9]*\)/$|\1|p' "$out")
}
stop_examples() {
	local pid
	for pid in "${DAEMONS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	DAEMONS=()
	MC_PORT=$MAIN_PORT
}

# run_example LINE: runs one example line in the examples' shell (cd
# persists), with this run's port, ids and paths; RC and OUT are its
# exit status and output.
run_example() {
	local cmd=$1
	cmd=${cmd//127.0.0.1:8080/127.0.0.1:$MC_PORT}
	cmd=${cmd//localhost:8080/127.0.0.1:$MC_PORT}
	cmd=${cmd//\/mnt\/mooncake/$MC_MNT}
	cmd=${cmd//\/etc\/mooncake\/token/$MC_TMP/token}
	cmd=${cmd//kvcache/$SHM-kv}
	cmd=${cmd//\/dev\/shm\/seg/\/dev\/shm\/$SHM-seg}
	cmd=${cmd//shm=seg/shm=$SHM-seg}
	cmd=${cmd//localhost:40123/localhost:$MC_XPORT}
	[ -n "$ID" ] && cmd=${cmd//3f0c9a52-8d0e-4b51-9a7e-1c2d3e4f5a6b/$ID}
	[ -n "$ID" ] && cmd=${cmd//\[\"ID\"\]/[\"$ID\"]}
	if [[ $cmd == "mooncaked "* ]]; then
		start_example "${cmd#mooncaked }"
		RC=0 OUT=""
		return
	fi
	# in this shell, not a $(...): cd and exec 3<> must persist
	eval "$cmd" >"$MC_TMP/ex.out" 2>&1 </dev/null
	RC=$?
	OUT=$(cat "$MC_TMP/ex.out")
	local id
	id=$(printf '%s' "$OUT" | grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' | tail -n1)
	[ -n "$id" ] && ID=$id
	return 0
}

# mooncake-http(7): each line exits 0 and every answer it gets is below
# 400 (curl exits 0 on a 404 too); promtool's only complaint is the
# upstream names its METRICS section lists (exit 3, no error).
mkdir -p "$MC_TMP/heads"
curl() { command curl -D "$MC_TMP/heads/$BASHPID.$RANDOM" "$@"; }
cd "$MC_TMP/ex" || exit 1
while IFS= read -r line; do
	[ "$line" = @@ ] && { stop_examples; continue; }
	rm -f "$MC_TMP/heads/"*
	run_example "${line% &}"
	for code in $(cat "$MC_TMP/heads/"* 2>/dev/null | sed -n 's|^HTTP/[0-9.]* \([0-9]*\).*|\1|p'); do
		check "  HTTP $code below 400: $line" test "$code" -lt 400
	done
	case $line in
	*"promtool check metrics"*)
		expect_eq "http example '$line': lint remarks only (exit 3)" "$RC" 3
		check "  and no error" bash -c "! printf '%s' \"\$1\" | grep -qi error" _ "$OUT"
		for name in $(printf '%s\n' "$OUT" | awk '{ print $1 }' | sort -u); do
			check "  its remark on $name is explained in METRICS" \
				grep -qF "$name" <(render "$MAN/mooncake-http.7" | sed -n '/^METRICS/,/^EXAMPLES/p')
		done
		;;
	*) expect_eq "http example runs: $line" "$RC" 0 ;;
	esac
done < <(examples "$MAN/mooncake-http.7")
stop_examples
unset -f curl

# mooncaked(8): its daemons start with the upstream config file that
# CONFIGURATION FILE shows.
sed -n '/^\.SH CONFIGURATION FILE/,/^\.SH /p' "$MAN/mooncaked.8" |
	awk '/^\.EX/ { on = 1; b = ""; next } /^\.EE/ { on = 0; last = b; next } on { b = b $0 "\n" } END { printf "%s", last }' |
	sed -e 's/\\-/-/g' >"$MC_TMP/ex/mooncake_config.json"
check "mooncaked(8) shows a config file" jq -e . "$MC_TMP/ex/mooncake_config.json" >/dev/null
while IFS= read -r line; do
	[ "$line" = @@ ] && { stop_examples; continue; }
	run_example "${line% &}"
	expect_eq "mooncaked(8) example runs: $line" "$RC" 0
done < <(examples "$MAN/mooncaked.8")
stop_examples

# mooncakefs(5): a transcript; a command whose output starts with the
# shell's or the tool's complaint is expected to fail, and ctl/error
# must read as shown (digits aside).
examples "$MAN/mooncakefs.5" | grep -v '^@@$' >"$MC_TMP/fs.ex"
mapfile -t ex <"$MC_TMP/fs.ex"
for ((i = 0; i < ${#ex[@]}; i++)); do
	line=${ex[i]}
	[[ $line == '$ '* ]] || continue
	next=${ex[i + 1]:-}
	run_example "${line#\$ }"
	if [[ $next =~ ^(rm|bash|cp|cat|echo):\  ]]; then
		check "mooncakefs(5) example fails as shown: ${line#\$ }" test "$RC" != 0
	else
		expect_eq "mooncakefs(5) example runs: ${line#\$ }" "$RC" 0
	fi
	if [ "$line" = '$ cat ctl/error' ]; then
		expect_eq "  ctl/error reads as shown" "$(printf '%s' "$OUT" | tr 0-9 0 | tr -s 0)" \
			"$(printf '%s' "$next" | tr 0-9 0 | tr -s 0)"
	fi
done
cd / || exit 1
mc_stop
mc_done
