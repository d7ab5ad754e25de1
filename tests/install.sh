#!/bin/bash
# install.sh - `make install` into a DESTDIR: the binary, the man pages,
# the example config, the systemd unit and monitoring/ land where the
# configure directories say; the installed binary runs with the installed
# config; the unit passes `systemd-analyze verify` (when systemd is
# here); a reinstall keeps an edited config; `make uninstall` leaves
# nothing behind.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

for v in MC_SBINDIR MC_SYSCONFDIR MC_MANDIR MC_DOCDIR MC_UNITDIR; do
	check "$v is set by the Makefile" test -n "${!v:-}"
done
D=$MC_TMP/dest
# A make of our own inside `make check`: not part of its job server.
submake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" "$@" \
		DESTDIR="$D" >"$MC_TMP/make.log" 2>&1
}
rc=0
submake install || rc=$?
expect_eq "make install DESTDIR=... succeeds" "$rc" 0
[ "$rc" = 0 ] || { cat "$MC_TMP/make.log" >&2; mc_done; }

bin=$D$MC_SBINDIR/mooncaked
conf=$D$MC_SYSCONFDIR/mooncake/mooncaked.json
unit=$D$MC_UNITDIR/mooncaked.service
check "the binary is in sbindir" test -x "$bin"
check "it is the binary just built" cmp -s "$bin" "$MOONCAKED"
for p in man8/mooncaked.8 man5/mooncakefs.5 man7/mooncake-http.7 \
	man7/mooncake-transfer.7 man7/mooncake-rpc.7 man7/mooncake-cluster.7; do
	check "man page $p" test -s "$D$MC_MANDIR/$p"
	out=$(MANWIDTH=80 man -l "$D$MC_MANDIR/$p" 2>/dev/null | head -n 5)
	expect_match "man -l renders the installed $p" "$out" 'NAME'
done
check "the example config in sysconfdir/mooncake" cmp -s "$conf" "$top_srcdir/etc/mooncaked.json"
for f in prometheus.yml alerts.yml alerts_test.yml grafana/mooncaked.json; do
	check "monitoring/$f in docdir" cmp -s "$D$MC_DOCDIR/monitoring/$f" "$top_srcdir/monitoring/$f"
done
check "README in docdir" test -s "$D$MC_DOCDIR/README"

# --- the unit ---------------------------------------------------------------
if [ "$MC_UNITDIR" = no ]; then
	check "no unit when configured without one" bash -c "! find '$D' -name mooncaked.service | grep -q ."
else
	check "the unit in the systemd unit directory" test -s "$unit"
	u=$(cat "$unit" 2>/dev/null)
	expect_match "Type=$MC_SERVICE_TYPE" "$u" "(^|$(printf '\n'))Type=$MC_SERVICE_TYPE($(printf '\n')|\$)"
	expect_match "ExecStart runs the installed binary with the installed config" "$u" \
		"ExecStart=$MC_SBINDIR/mooncaked --config $MC_SYSCONFDIR/mooncake/mooncaked.json"
	expect_match "ExecReload sends SIGHUP" "$u" 'ExecReload=/bin/kill -HUP \$MAINPID'
	expect_match "ExecStopPost detaches a tree a SIGKILL left dead" "$u" \
		"ExecStopPost=-$MC_SBINDIR/mooncaked --config $MC_SYSCONFDIR/mooncake/mooncaked.json --unmount-stale"

	check "no @VARIABLE@ left in the unit" bash -c "! grep -q '@[A-Za-z_]*@' '$unit'"
	# every page installed is one the unit points an operator to
	for p in "$D$MC_MANDIR"/man*/*; do
		n=${p##*/}
		expect_match "Documentation= names ${n%.*}(${n##*.})" "$(grep '^Documentation=' "$unit")" \
			"man:${n%.*}\\(${n##*.}\\)"
	done
	if command -v systemd-analyze >/dev/null; then
		# verify checks that ExecStart's program exists and that man(1)
		# finds the Documentation= pages: point both at the DESTDIR,
		# keep everything else as installed.
		mkdir -p "$MC_TMP/unit"
		sed -e "s|^ExecStart=$MC_SBINDIR/|ExecStart=$D$MC_SBINDIR/|" \
			-e "s|^ExecStopPost=-$MC_SBINDIR/|ExecStopPost=-$D$MC_SBINDIR/|" "$unit" \
			>"$MC_TMP/unit/mooncaked.service"
		rc=0
		out=$(MANPATH=$D$MC_MANDIR systemd-analyze verify "$MC_TMP/unit/mooncaked.service" 2>&1) || rc=$?
		expect_eq "systemd-analyze verify mooncaked.service: rc" "$rc" 0
		expect_eq "systemd-analyze verify mooncaked.service: no remark" "$out" ""
		# ... and it can fail
		sed 's/^Type=.*/Type=bogus/' "$MC_TMP/unit/mooncaked.service" \
			>"$MC_TMP/unit/bad.service"
		out=$(MANPATH=$D$MC_MANDIR systemd-analyze verify "$MC_TMP/unit/bad.service" 2>&1)
		expect_match "systemd-analyze verify notices a bad Type" "$out" 'service type'
	else
		echo "systemd-analyze not found: the unit is not verified"
	fi
fi

# --- the installed binary, with the installed config ---------------------------
out=$("$bin" --version); rc=$?
expect_eq "installed mooncaked --version exits 0" "$rc" 0
expect_match "installed mooncaked --version" "$out" '^mooncaked [0-9]+\.[0-9]+'
MOONCAKED=$bin mc_start --config "$conf"
check "the installed binary started with the installed config" grep -q '^mooncaked: ready' "$MC_OUT"
expect_eq "it answers /health" "$(curl -s "$MC_URL/health")" OK
expect_match "it serves /metrics" "$(curl -s "$MC_URL/metrics")" 'master_total_capacity_bytes 67108864'
mc_stop

# --- a reinstall keeps an edited config; uninstall removes the rest ------------
printf '{"log_level": "debug"}\n' >"$conf"
rc=0
submake install || rc=$?
expect_eq "a second make install succeeds" "$rc" 0
expect_eq "it keeps the edited config" "$(cat "$conf")" '{"log_level": "debug"}'
expect_match "and says so" "$(cat "$MC_TMP/make.log")" 'keeping the existing'
rc=0
submake uninstall || rc=$?
expect_eq "make uninstall succeeds" "$rc" 0
expect_eq "uninstall leaves only the edited config" \
	"$(cd "$D" && find . -type f | sort)" ".$MC_SYSCONFDIR/mooncake/mooncaked.json"
cp "$top_srcdir/etc/mooncaked.json" "$conf"
submake uninstall
expect_eq "uninstall removes an unedited config" "$(cd "$D" && find . -type f)" ""
mc_done
