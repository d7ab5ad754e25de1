#!/bin/bash
# readme_cluster.sh - the README's "Three nodes on one machine", typed
# literally (etcd's data directory and the mount points put under a
# temporary directory, the install line and the pause left to this
# script): every command succeeds, every HTTP answer is below 400, the
# value put through one node reads back through the others, and the
# last line stops every node cleanly: each exits 0 having left the
# cluster (its etcd lease revoked, so etcd must outlive the nodes). It
# needs the README's ports
# (2379, 2380, 18081-18083, 18091-18093) free.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
command -v "${ETCD:-etcd}" >/dev/null || { echo "no etcd"; exit 1; }

# Those ports are the machine's, not this run's: a second run at the same
# time (another worktree's make check) waits here for the first to end
# instead of failing on ports in use. The lock is this shell's file
# descriptor 9, closed in every command the README runs (below), so a
# node that outlives the script cannot hold it.
lock=/tmp/mooncaked-readme-ports-2379-2380-18081-18093.lock
exec 9>>"$lock"
command -v flock >/dev/null || { echo "no flock (util-linux)"; exit 1; }
if ! flock -w 900 9; then
	echo "another run has held $lock for 900 s"
	exit 1
fi

awk '/^Three nodes on one machine$/ { on = 1; getline; next }
     on && /^---/ { exit }
     on { if (prev != "") print prev; prev = $0 }' "$top_srcdir/README" |
	sed -n 's/^    \([^ #].*\)$/\1/p' >"$MC_TMP/steps"
check "the section has commands" test "$(wc -l <"$MC_TMP/steps")" -ge 10

stop_all() {
	local rc=$? p
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	for i in 1 2 3; do
		mountpoint -q "$MC_TMP/mc$i" 2>/dev/null && fusermount3 -u -z "$MC_TMP/mc$i"
	done
	mc_cleanup "$rc"
}
trap stop_all EXIT

curl() { command curl -s -w '%{stderr}HTTP %{http_code}\n' "$@"; }
cd "$top_builddir" || exit 1
n=0
while IFS= read -r line; do
	cmd=${line//\/tmp\/mc-etcd/@T@/etcd}
	cmd=${cmd//\/tmp\/mc/@T@/mc}
	cmd=${cmd//@T@/$MC_TMP}
	cmd=${cmd//.\/daemon\/mooncaked/$MOONCAKED}
	case $line in
	*apt-get*) continue ;; # the machine has it, or this script said so
	sleep*)
		# a leader that serves every node and lists the three nodes'
		# memory, however loaded (or instrumented) the machine
		for _ in $(seq 300); do
			all=1
			for p in 18081 18082 18083; do
				[ "$(command curl -s -m 2 http://127.0.0.1:$p/get_all_segments |
					grep -c .)" = 3 ] || all=0
			done
			[ "$all" = 1 ] && break
			sleep 0.1
		done
		continue ;;
	esac
	# the nodes' jobs by pid: the README's own line may wait for them
	case $line in kill*) for j in 1 2 3 4; do jpid[j]=$(jobs -p %$j); done ;; esac
	eval "$cmd" >"$MC_TMP/out" 2>"$MC_TMP/err" </dev/null 9>&-
	rc=$?
	n=$((n + 1))
	codes=$(sed -n 's/^HTTP \([0-9]*\)$/\1/p' "$MC_TMP/err" | tr '\n' ' ')
	expect_eq "readme: $line" "$rc" 0
	[ "$rc" = 0 ] || cat "$MC_TMP/err" >&2
	for c in $codes; do
		check "  HTTP $c below 400: $line" test "$c" -lt 400
	done
	case $line in
	*/api/cluster*)
		expect_eq "  three nodes" "$(grep -o '"role":' "$MC_TMP/out" | wc -l)" 3 ;;
	*get_all_segments*)
		expect_eq "  three segments" "$(cat "$MC_TMP/out")" "$(printf 'node1\nnode2\nnode3')" ;;
	*api/get/greeting* | *keys/greeting*)
		expect_eq "  the value" "$(cat "$MC_TMP/out")" "hello, cluster" ;;
	*cluster/leader*)
		expect_eq "  a leader and its term" "$(wc -l <"$MC_TMP/out")" 2 ;;
	*cluster/nodes*)
		expect_eq "  three nodes in the tree" "$(wc -w <"$MC_TMP/out")" 3 ;;
	*mooncake_cluster*)
		expect_match "  the cluster families" "$(cat "$MC_TMP/out")" 'mooncake_cluster_nodes 3' ;;
	kill*)
		for j in 2 3 4; do
			wait "${jpid[j]}"
			expect_eq "  node job $j exits 0" "$?" 0
		done
		wait "${jpid[1]}"
		for i in 1 2 3; do
			check "  node$i left: its lease revoked (etcd still up)" \
				bash -c "! grep 'cannot revoke the lease' '$MC_TMP/mc$i.log'"
		done ;;
	esac
done <"$MC_TMP/steps"
check "every line ran ($n)" test "$n" -ge 10
mc_done
