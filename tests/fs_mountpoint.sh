#!/bin/bash
# fs_mountpoint.sh - a mount point that cannot take the control tree
# stops start-up with exit status 2 and one line (mooncaked(8)): one a
# live daemon serves (the second daemon must not hide the first one's
# tree), a regular file, a directory that is not empty; a missing one is
# made, and a dead daemon's mount is still recovered (fs_crash.sh too).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
mc_need_fuse

# refused WANT DIR: a daemon on DIR exits 2 with one line matching WANT,
# at once, and prints nothing on stdout (it never said ready).
refused() {
	local rc=0
	timeout 20 "$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 --segment-size 0 \
		--mountpoint "$2" >"$MC_TMP/r.out" 2>"$MC_TMP/r.err" || rc=$?
	expect_eq "exit 2 for a mount point $3" "$rc" 2
	expect_eq "one line for a mount point $3" "$(wc -l <"$MC_TMP/r.err")" 1
	check "the line says '$1' ($3)" grep -qF -- "$1" "$MC_TMP/r.err"
	check "the line names the mount point ($3)" grep -qF -- "'$2'" "$MC_TMP/r.err"
	expect_eq "nothing on stdout ($3)" "$(cat "$MC_TMP/r.out")" ""
}

mc_start --fuse
echo kept > "$MC_MNT/keys/k"
refused "already mounted" "$MC_MNT" "a live daemon serves"
expect_eq "the first daemon's tree is still there" "$(cat "$MC_MNT/keys/k")" kept
check "... and still its own" test -e "$MC_MNT/ctl/mount"
http GET /health
expect_eq "the first daemon still answers" "$HTTP_CODE" 200
# the same through another spelling of the path
refused "already mounted" "$MC_MNT/../mnt/" "a live daemon serves (another spelling)"
# a daemon that serves it but does not answer: refused at once, never
# waited for (a stat of its tree would wait as long as it is stopped)
kill -STOP "$MC_PID"
t0=$(date +%s)
refused "already mounted" "$MC_MNT" "a stopped daemon serves"
kill -CONT "$MC_PID"
check "... refused at once, not after the stopped daemon woke" \
	test $(($(date +%s) - t0)) -le 5
http GET /health
expect_eq "the stopped daemon answers again" "$HTTP_CODE" 200

: > "$MC_TMP/file"
refused "not a directory" "$MC_TMP/file" "that is a file"
mkdir "$MC_TMP/full" && : > "$MC_TMP/full/something"
refused "not empty" "$MC_TMP/full" "that is not empty"
check "the non-empty directory is left as it was" test -f "$MC_TMP/full/something"
mkdir -p "$MC_TMP/empty"

mc_stop
# missing (with its parents), empty, or a link to an empty directory
# (mounted on that directory): fine
mkdir -p "$MC_TMP/linked"
ln -s "$MC_TMP/linked" "$MC_TMP/link"
for d in "$MC_TMP/new/sub" "$MC_TMP/empty" "$MC_TMP/link"; do
	# the child truncates o.out only when it runs: without this rm the
	# wait below could read the previous daemon's "ready"
	rm -f "$MC_TMP/o.out" "$MC_TMP/o.err"
	timeout 20 "$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 --segment-size 0 \
		--mountpoint "$d" >"$MC_TMP/o.out" 2>"$MC_TMP/o.err" &
	pid=$!
	for _ in $(seq 100); do grep -qs ready "$MC_TMP/o.out" && break; sleep 0.05; done
	expect_eq "a mount point that is ${d##*/}: ready" "$(tail -n1 "$MC_TMP/o.out")" "mooncaked: ready"
	expect_eq "... and the tree is there" "$(cat "$d/health" 2>/dev/null)" OK
	[ "$d" = "$MC_TMP/link" ] && expect_eq "... mounted on the link's directory" \
		"$(grep -c " $MC_TMP/linked fuse" /proc/mounts)" 1
	kill -TERM $pid
	wait $pid
	expect_eq "... then exit 0" "$?" 0
done

# two daemons started at once on one empty directory: one serves it, the
# other exits 2 (they cannot both pass the check and mount one over the
# other)
mkdir -p "$MC_TMP/race"
for i in 1 2; do
	timeout 20 "$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 \
		--segment-size 0 --mountpoint "$MC_TMP/race" \
		>"$MC_TMP/race$i.out" 2>"$MC_TMP/race$i.err" &
	eval "race$i=\$!"
done
for _ in $(seq 100); do
	[ -n "$(cat "$MC_TMP"/race?.out)" ] && ! kill -0 "$race1" 2>/dev/null && break
	[ -n "$(cat "$MC_TMP"/race?.out)" ] && ! kill -0 "$race2" 2>/dev/null && break
	sleep 0.05
done
expect_eq "two at once on one mount point: one ready" \
	"$(cat "$MC_TMP"/race?.out | grep -c '^mooncaked: ready')" 1
expect_eq "... one tree mounted there" \
	"$(grep -c " $MC_TMP/race fuse" /proc/mounts)" 1
check "... the other said why" grep -qE "already mounted|held by another mooncaked" "$MC_TMP"/race?.err
kill -TERM "$race1" "$race2" 2>/dev/null
wait "$race1" "$race2" 2>/dev/null

# a dead daemon's mount (its watchdog killed too) is recovered
mc_start --fuse
for p in $(pgrep -P "$MC_PID"); do kill -KILL "$p"; done
sleep 0.2
kill -KILL "$MC_PID"
wait "$MC_PID" 2>/dev/null
MC_PID=""
mc_start --fuse
expect_eq "a dead daemon's mount point is taken again" "$(cat "$MC_MNT/health")" OK

# --unmount-stale, as the unit's ExecStopPost runs it: a live tree stays;
# after the daemon and its children are killed at once (systemd's SIGKILL
# of the whole group), the dead mount goes
"$MOONCAKED" --mountpoint "$MC_MNT" --unmount-stale 2>"$MC_TMP/us"; rc=$?
expect_eq "--unmount-stale beside a live daemon: exit 0" "$rc" 0
expect_eq "... its tree untouched" "$(cat "$MC_MNT/health")" OK
kill -KILL "$MC_PID" $(pgrep -P "$MC_PID")
wait "$MC_PID" 2>/dev/null
MC_PID=""
sleep 0.2
check "killed together, the daemon leaves a dead mount" grep -q " $MC_MNT " /proc/mounts
"$MOONCAKED" --mountpoint "$MC_MNT" --unmount-stale 2>"$MC_TMP/us"; rc=$?
expect_eq "--unmount-stale then: exit 0" "$rc" 0
check "... the dead mount is gone" bash -c "! grep -q \" $MC_MNT \" /proc/mounts"
expect_match "... and it says so" "$(cat "$MC_TMP/us")" "holds a dead mount, detaching it"
"$MOONCAKED" --mountpoint "$MC_MNT" --unmount-stale 2>"$MC_TMP/us"; rc=$?
expect_eq "nothing to do: exit 0, silently" "$rc:$(cat "$MC_TMP/us")" "0:"
mc_start --fuse
mc_stop
check "a daemon stopped by SIGTERM does not say its tree went" \
	bash -c "! grep -q 'unmounted from outside' '$MC_ERR'"

# --- the tree detached from outside (fusermount3 -u -z, as an operator
# does when a shell's cwd keeps a plain unmount busy)
mc_start --fuse
fusermount3 -u -z "$MC_MNT"
sleep 0.5
expect_match "the daemon says its tree went" "$(grep 'fuse:' "$MC_ERR")" \
	"WARN fuse: the tree at '$MC_MNT' was unmounted from outside; the other doors go on, and a restart mounts it again"
expect_eq "HTTP goes on" "$(curl -s "$MC_URL/health")" OK
refused "held by another mooncaked, which is still running with no tree there (it is starting, or its tree was unmounted from outside" \
	"$MC_MNT" "whose daemon's tree was detached"
mc_stop
mc_done
