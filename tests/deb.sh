#!/bin/bash
# deb.sh - the Debian package, as an operator builds and installs it:
# `make dist`, then `dpkg-buildpackage -us -uc -b` in the unpacked tree
# builds mooncaked_*.deb; lintian finds no error in it; `apt-get install
# ./mooncaked_*.deb` gives a mooncaked that runs, its man pages, the
# conffile and the unit; `apt-get purge` takes it all away again. Needs
# root (apt-get) and dpkg-dev, debhelper and lintian; part of
# `make check-all`, not of `make check` (it builds everything again).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ "$(id -u)" = 0 ] || { echo "not root: apt-get cannot install the package"; exit 77; }
for t in dpkg-buildpackage dh lintian apt-get; do
	check "$t is installed" bash -c "command -v $t >/dev/null"
done
if dpkg-query -W -f='${Status}' mooncaked 2>/dev/null | grep -q 'ok installed'; then
	echo "mooncaked is installed on this machine already; not replacing it" >&2
	exit 1
fi
trap 'mc_rc=$?; apt_get purge -y mooncaked >/dev/null 2>&1; mc_cleanup "$mc_rc"' EXIT

# apt_get ARGS: apt-get, waiting for another apt or dpkg to let go of
# the lock (the machine is shared) for up to two minutes.
apt_get() {
	local rc
	for _ in $(seq 60); do
		rc=0
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=2 "$@" || rc=$?
		[ "$rc" = 0 ] && return 0
		fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 || return "$rc"
		sleep 2
	done
	return "$rc"
}

version=$("$MOONCAKED" --version | awk '{ print $2 }')
rc=0
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" dist \
	>"$MC_TMP/dist.log" 2>&1 || rc=$?
mv "$top_builddir/mooncaked-$version.tar.gz" "$MC_TMP/" 2>/dev/null
expect_eq "make dist" "$rc" 0
[ "$rc" = 0 ] || tail -20 "$MC_TMP/dist.log" >&2
tarball=$MC_TMP/mooncaked-$version.tar.gz
check "the tarball exists" test -s "$tarball"
mkdir -p "$MC_TMP/build"
tar -C "$MC_TMP/build" -xzf "$tarball"
src=$MC_TMP/build/mooncaked-$version
check "the tarball carries debian/" test -x "$src/debian/rules"
expect_eq "debian/changelog's version is the daemon's" \
	"$(cd "$src" && dpkg-parsechangelog -S Version)" "$version"

# `make check` runs in the tree already; the package build need not.
rc=0
(cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) \
	>"$MC_TMP/build.log" 2>&1 || rc=$?
expect_eq "dpkg-buildpackage -us -uc -b" "$rc" 0
# nocheck: configure did not ask for the tests' tools (debian/rules)
expect_match "nocheck configures without make check" "$(cat "$MC_TMP/build.log")" \
	'make check: +no'
[ "$rc" = 0 ] || { tail -40 "$MC_TMP/build.log" >&2; mc_done; }
deb=$(ls "$MC_TMP/build"/mooncaked_"$version"_*.deb 2>/dev/null | head -n1)
check "it built mooncaked_${version}_ARCH.deb" test -s "$deb"

lintian --tag-display-limit 0 "$deb" >"$MC_TMP/lintian" 2>&1
expect_eq "lintian finds no error" "$(grep '^E:' "$MC_TMP/lintian")" ""
grep -v '^E:' "$MC_TMP/lintian" | sed 's/^/lintian: /'

contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/sbin/mooncaked ./etc/mooncake/mooncaked.json \
	./lib/systemd/system/mooncaked.service \
	./usr/share/man/man8/mooncaked.8.gz ./usr/share/man/man5/mooncakefs.5.gz \
	./usr/share/man/man7/mooncake-http.7.gz ./usr/share/man/man7/mooncake-transfer.7.gz \
	./usr/share/man/man7/mooncake-rpc.7.gz \
	./usr/share/doc/mooncaked/monitoring/alerts.yml \
	./usr/share/doc/mooncaked/monitoring/grafana/mooncaked.json; do
	expect_match "the package holds $f" "$contents" "^$f\$"
done
expect_match "the config is a conffile" "$(dpkg-deb -f "$deb" Conffiles 2>/dev/null; dpkg-deb -I "$deb" conffiles)" \
	'^/etc/mooncake/mooncaked.json$'

# --- install it, as an operator would ----------------------------------------
rc=0
apt_get install -y -q "$deb" >"$MC_TMP/apt.log" 2>&1 || rc=$?
expect_eq "apt-get install ./mooncaked_*.deb" "$rc" 0
[ "$rc" = 0 ] || cat "$MC_TMP/apt.log" >&2
expect_eq "/usr/sbin/mooncaked --version" "$(/usr/sbin/mooncaked --version)" "mooncaked $version"
expect_eq "man finds mooncaked(8)" "$(man -w 8 mooncaked)" /usr/share/man/man8/mooncaked.8.gz
for p in "5 mooncakefs" "7 mooncake-http" "7 mooncake-transfer" "7 mooncake-rpc"; do
	out=$(MANWIDTH=80 man $p 2>/dev/null | head -n 5)
	expect_match "man $p renders" "$out" 'NAME'
done
u=$(cat /lib/systemd/system/mooncaked.service)
expect_match "the unit runs /usr/sbin/mooncaked with /etc/mooncake/mooncaked.json" "$u" \
	'ExecStart=/usr/sbin/mooncaked --config /etc/mooncake/mooncaked.json'
MOONCAKED=/usr/sbin/mooncaked mc_start --config /etc/mooncake/mooncaked.json
expect_eq "the installed daemon answers /health" "$(curl -s "$MC_URL/health")" OK
mc_stop

rc=0
apt_get purge -y -q mooncaked >"$MC_TMP/apt.log" 2>&1 || rc=$?
expect_eq "apt-get purge mooncaked" "$rc" 0
check "the binary is gone" test ! -e /usr/sbin/mooncaked
check "the config is gone" test ! -e /etc/mooncake/mooncaked.json
mc_done
