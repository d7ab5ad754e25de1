#!/bin/bash
# fs_crash.sh - a daemon killed with SIGKILL leaves no dead mount behind,
# and a daemon started on a mount point that does hold a dead mount (its
# watchdog killed too) recovers it and mounts cleanly.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
mc_need_fuse

# mounted: is a FUSE file system (alive or dead) mounted on $MC_MNT?
mounted() { grep -qF " $MC_MNT fuse" /proc/mounts; }
unmounted() { ! mounted; }

# kill9 [watchdog-too]: SIGKILL the daemon (and first its unmount watchdog).
kill9() {
	if [ "${1:-}" = watchdog-too ]; then
		for p in $(pgrep -P "$MC_PID"); do kill -KILL "$p"; done
		sleep 0.2
	fi
	kill -KILL "$MC_PID"
	wait "$MC_PID" 2>/dev/null
	MC_PID=""
	rm -f "$MC_OUT"
}

mc_start --fuse
echo 'kept' > "$MC_MNT/keys/k"
expect_eq "first mount works" "$(cat "$MC_MNT/keys/k")" kept

kill9
for _ in $(seq 50); do mounted || break; sleep 0.1; done
check "SIGKILL leaves no mount behind" unmounted
check "the mount point is usable" ls "$MC_MNT"

# The kernel may release the socket fusermount3 watches before the FUSE
# device: fusermount3 then found the tree alive (ECONNABORTED, not
# ENOTCONN) and left it mounted, about one SIGKILL in four on a loaded
# machine. A child of the daemon holds the socket until the tree is dead.
left=0
for round in $(seq 10); do
	mc_start --fuse
	[ "$round" = 1 ] && check "a child of the daemon guards the unmount" \
		[ -n "$(pgrep -P "$MC_PID" -x mooncaked)" ]
	kill9
	for _ in $(seq 50); do mounted || break; sleep 0.1; done
	if mounted; then
		left=$((left + 1))
		fusermount3 -u -z "$MC_MNT" 2>/dev/null
	fi
done
expect_eq "ten SIGKILLs leave no mount behind" "$left" 0

# The guard lives as long as the daemon: it must not share the daemon's
# resident segment (each page would be copied at the daemon's next write
# into it, and held twice). Its resident size is compared with a guard's
# beside a small unpopulated segment, so that what an instrumented build
# (ASan's shadow and heap) adds to every process cancels out.
guard_rss() {
	local guard
	guard=$(pgrep -P "$MC_PID" -x mooncaked | head -n1)
	awk '/^Rss:/ { print $2 }' "/proc/$guard/smaps_rollup" 2>/dev/null
}
mc_start --fuse --segment-size 256M --populate
rss=$(guard_rss)
mc_stop

mc_start --fuse
base=$(guard_rss)
check "the guard holds no copy of a populated 256 MiB segment (Rss ${rss:-?} kB, ${base:-?} kB beside an empty one)" \
	[ "$((${rss:-999999999} - ${base:-0}))" -lt 131072 ]
expect_eq "remount on the same mount point" "$(cat "$MC_MNT/health")" OK
check "a fresh store" [ ! -e "$MC_MNT/keys/k" ]

# Straight back up after SIGKILL: the old watchdog's unmount must hit the
# dead mount, not the new one.
kill9
mc_start --fuse
expect_eq "immediate restart" "$(cat "$MC_MNT/health")" OK
sleep 0.5
expect_eq "and the new mount stays" "$(cat "$MC_MNT/health")" OK
check "no watchdog of the dead daemon is left" [ "$(pgrep -x fusermount3 -a | grep -cF -- "$MC_MNT")" = 1 ]

kill9 watchdog-too
check "a dead mount is left" mounted
expect_match "and it is dead" "$(stat "$MC_MNT" 2>&1)" 'Transport endpoint is not connected'
mc_start --fuse
expect_eq "start recovers the dead mount" "$(cat "$MC_MNT/health")" OK
echo v > "$MC_MNT/keys/after"
expect_eq "and serves it" "$(cat "$MC_MNT/keys/after")" v
expect_match "the recovery is logged" "$(cat "$MC_ERR")" 'dead mount'

mc_stop
check "a clean stop unmounts" unmounted

# Without fusermount3 there is no auto_unmount: the daemon's watchdog
# process detaches the mount when the daemon dies.
printf '#!/bin/sh\nPATH=/nonexistent exec "%s" "$@"\n' "$MOONCAKED" > "$MC_TMP/nofm"
chmod +x "$MC_TMP/nofm"
MOONCAKED=$MC_TMP/nofm
rm -f "$MC_OUT"
mc_start --fuse
expect_eq "mounted without fusermount3" "$(cat "$MC_MNT/health")" OK
check "no fusermount3 watches it" [ -z "$(pgrep -P "$MC_PID" -x fusermount3)" ]
kill9
for _ in $(seq 50); do mounted || break; sleep 0.1; done
check "the watchdog leaves no mount behind" unmounted
mc_done
