#!/usr/bin/env bash
# lib_pids.sh - the scripts' helpers signal only their own live children:
# a daemon, etcd or node that died early leaves its number behind, which
# the kernel may since have given to any other process. A script whose
# MC_PID, CL_PID[] or ETCD_PID names a live process that is not its
# child (what a reused number looks like) must leave it alone when it
# cleans up, and still stop a child of its own.
. "${top_srcdir:-.}/tests/lib.sh"

# other: a live process that is not a child of any script below
other=$( (setsid sleep 60 >/dev/null 2>&1 </dev/null & echo $!))
check "the stranger runs" kill -0 "$other"

# run BODY: a script that sources the helpers, runs BODY and exits
run() {
	top_srcdir=${top_srcdir:-.} bash -c "
		. \"\$top_srcdir/tests/lib.sh\"
		. \"\$top_srcdir/tests/cluster_lib.sh\"
		$1"
}

run "MC_PID=$other; exit 0"
check "mc_cleanup leaves a stranger named by MC_PID alone" kill -0 "$other"
run "CL_PID[1]=$other; exit 0"
check "cl_cleanup leaves a stranger named by CL_PID alone" kill -0 "$other"
run "ETCD_PID=$other; exit 0"
check "etcd_cleanup leaves a stranger named by ETCD_PID alone" kill -0 "$other"
run "CL_PID[1]=$other; cl_kill 1; exit 0"
check "cl_kill leaves a stranger alone" kill -0 "$other"
run "ETCD_PID=$other; etcd_pause; ETCD_PID=; exit 0"
check "etcd_pause leaves a stranger alone" \
	[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$other/stat")" = S ]
kill -CONT "$other" 2>/dev/null

# a child that died: its number is not signalled again (the helpers
# would signal the stranger if the kernel had given it that number)
run "sleep 0.1 & MC_PID=\$!; sleep 0.5
	mc_child \"\$MC_PID\" && echo 'a dead child counts as alive' >&2 && exit 1
	exit 0"
check "a child that exited is not ours any more" [ $? = 0 ]

# and our own children are still stopped, also a stopped one
pidf="$MC_TMP/pids"
run "sleep 60 & MC_PID=\$!; sleep 60 & CL_PID[2]=\$!
	sleep 60 & ETCD_PID=\$!; kill -STOP \$ETCD_PID
	echo \"\$MC_PID \${CL_PID[2]} \$ETCD_PID\" >$pidf; exit 0"
for p in $(cat "$pidf"); do
	check "a child of the script ($p) is stopped by its cleanup" \
		[ ! -e "/proc/$p" ]
done

kill -KILL "$other"
mc_done
