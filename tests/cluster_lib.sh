# tests/cluster_lib.sh - a cluster of real mooncaked nodes and one real
# etcd on loopback, for the cluster scripts. Source it after lib.sh; it
# sources etcd_lib.sh and sets the EXIT trap that stops everything.
#
#   cl_start N [--fuse] [daemon options...]
#                       etcd, then N nodes (1..N), each with --port 0,
#                       --transfer-port 0, --rpc-port 0, a 32 MiB segment
#                       named nodeI, the cluster "t$$", node TTL $CL_TTL
#                       (default 2000); waits until a leader serves
#   cl_node_start I [--fuse] [options...]   (re)starts node I alone
#   cl_kill I [SIG]     kills node I (default KILL) and waits for it
#   cl_stop I           SIGTERM, expects exit 0
#   cl_url I            http://HOST:PORT of node I
#   cl_leader           the index of the node that leads and serves, or
#                       nothing (asks every live node's /api/cluster)
#   cl_wait_leader MS   waits for a serving leader; prints its index
#   cl_wait_all MS      ... and for every live node to know it
#   cl_json URL FIELD   a top-level string/number field of a JSON answer
#
# Per node I: CL_PID[I], CL_PORT[I], CL_XPORT[I], CL_ID[I], CL_MNT[I]
# (with --fuse), CL_ERR[I] (its stderr file), CL_OUT[I]. Set before
# cl_node_start: CL_HOST[I], the address it listens on and advertises
# (default 127.0.0.1), and CL_NS[I], a network namespace to run it in
# (ip netns exec; default none).
. "${top_srcdir:-.}/tests/etcd_lib.sh"

CL_TTL=${CL_TTL:-2000}
CL_NAME="t$$"
declare -a CL_PID CL_PORT CL_XPORT CL_ID CL_MNT CL_ERR CL_OUT CL_HOST CL_NS

cl_cleanup() {
	local rc=$? i
	for i in "${!CL_PID[@]}"; do
		mc_signal KILL "${CL_PID[$i]}"
	done
	for i in "${!CL_PID[@]}"; do
		[ -n "${CL_PID[$i]}" ] && wait "${CL_PID[$i]}" 2>/dev/null
		if [ -n "${CL_MNT[$i]:-}" ] && mountpoint -q "${CL_MNT[$i]}" 2>/dev/null; then
			fusermount3 -u -z "${CL_MNT[$i]}" 2>/dev/null ||
				umount -l "${CL_MNT[$i]}" 2>/dev/null
		fi
	done
	[ -n "$ETCD_DIR" ] && mc_keep "$rc" "$ETCD_DIR/etcd.log"
	etcd_cleanup
	mc_cleanup "$rc"
}
trap cl_cleanup EXIT

cl_url() { echo "http://${CL_HOST[$1]:-127.0.0.1}:${CL_PORT[$1]}"; }

# cl_json URL FIELD: the value of a top-level field (string or number).
cl_json() {
	curl -s -m 5 "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n1
}

cl_node_start() {
	local i=$1 fuse=(--no-fuse) wrap=()
	shift
	[ -n "${CL_NS[$i]:-}" ] && wrap=(ip netns exec "${CL_NS[$i]}")
	if [ "${1:-}" = --fuse ]; then
		shift
		CL_MNT[$i]="$MC_TMP/mnt$i"
		fuse=(--mountpoint "${CL_MNT[$i]}")
	fi
	CL_OUT[$i]="$MC_TMP/node$i.out"
	CL_ERR[$i]="$MC_TMP/node$i.err"
	rm -f "${CL_OUT[$i]}"
	"${wrap[@]}" "$MOONCAKED" --port 0 --transfer-port 0 --rpc-port 0 \
		--segment-size 32M --host "${CL_HOST[$i]:-127.0.0.1}" \
		--hostname "node$i" --etcd "$ETCD_URL" --cluster "$CL_NAME" \
		--node-ttl "$CL_TTL" "${fuse[@]}" "$@" \
		>"${CL_OUT[$i]}" 2>>"${CL_ERR[$i]}" &
	CL_PID[$i]=$!
	for _ in $(seq 200); do
		grep -q '^mooncaked: ready' "${CL_OUT[$i]}" 2>/dev/null && break
		mc_child "${CL_PID[$i]}" || break
		sleep 0.05
	done
	if ! grep -q '^mooncaked: ready' "${CL_OUT[$i]}" 2>/dev/null; then
		echo "node $i did not start:" >&2
		cat "${CL_OUT[$i]}" "${CL_ERR[$i]}" >&2
		exit 1
	fi
	CL_PORT[$i]=$(sed -n 's|^mooncaked: http http://[^ ]*:\([0-9]*\)/$|\1|p' "${CL_OUT[$i]}")
	CL_XPORT[$i]=$(sed -n 's|^mooncaked: transfer .*:\([0-9]*\)$|\1|p' "${CL_OUT[$i]}")
	CL_ID[$i]=$(sed -n 's|^mooncaked: cluster [^ ]* node \([^ ]*\) .*|\1|p' "${CL_OUT[$i]}")
}

cl_kill() {
	mc_signal "${2:-KILL}" "${CL_PID[$1]}"
	wait "${CL_PID[$1]}" 2>/dev/null
	CL_PID[$1]=""
}

cl_stop() {
	local rc=0
	mc_signal TERM "${CL_PID[$1]}"
	wait "${CL_PID[$1]}" || rc=$?
	CL_PID[$1]=""
	expect_eq "node $1 exits 0 on SIGTERM" "$rc" 0
}

cl_leader() {
	local i id
	for i in "${!CL_PID[@]}"; do
		[ -n "${CL_PID[$i]}" ] || continue
		[ "$(cl_json "$(cl_url "$i")/api/cluster" serving)" = true ] || continue
		id=$(cl_json "$(cl_url "$i")/api/cluster" leader)
		for j in "${!CL_ID[@]}"; do
			if [ -n "${CL_PID[$j]}" ] && [ "${CL_ID[$j]}" = "$id" ]; then
				echo "$j"
				return 0
			fi
		done
	done
	return 1
}

# cl_wait_leader MS: a leader that serves, asked through itself.
cl_wait_leader() {
	local end=$(($(date +%s%3N) + $1)) l
	while [ "$(date +%s%3N)" -lt "$end" ]; do
		l=$(cl_leader) && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 \
			"$(cl_url "$l")/get_all_segments")" = 200 ] && {
			echo "$l"
			return 0
		}
		sleep 0.1
	done
	return 1
}

# cl_wait_all MS: every live node knows the serving leader (a metadata
# operation answers through each); prints the leader's index.
cl_wait_all() {
	local end=$(($(date +%s%3N) + $1)) l i ok
	while [ "$(date +%s%3N)" -lt "$end" ]; do
		ok=1
		l=$(cl_leader) || ok=0
		for i in "${!CL_PID[@]}"; do
			[ "$ok" = 1 ] || break
			[ -n "${CL_PID[$i]}" ] || continue
			[ "$(cl_json "$(cl_url "$i")/api/cluster" leader)" = "${CL_ID[$l]}" ] &&
				[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 \
					"$(cl_url "$i")/get_all_segments")" = 200 ] || ok=0
		done
		if [ "$ok" = 1 ]; then
			echo "$l"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# cl_wait_segments N MS: every live node lists N segment names (each
# node's memory is in the leader's table, and every node sees it).
cl_wait_segments() {
	local end=$(($(date +%s%3N) + $2)) i ok
	while [ "$(date +%s%3N)" -lt "$end" ]; do
		ok=1
		for i in "${!CL_PID[@]}"; do
			[ -n "${CL_PID[$i]}" ] || continue
			[ "$(curl -s -m 2 "$(cl_url "$i")/get_all_segments" | grep -c .)" = "$1" ] || ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# cl_wait_candidates N MS: N candidacies wait in the election (etcd's
# keys under /mooncake/NAME/leader/, asked through its JSON gateway).
cl_wait_candidates() {
	local end=$(($(date +%s%3N) + $2)) k e n
	k=$(printf '/mooncake/%s/leader/' "$CL_NAME" | base64 -w0)
	e=$(printf '/mooncake/%s/leader0' "$CL_NAME" | base64 -w0)
	while [ "$(date +%s%3N)" -lt "$end" ]; do
		n=$(curl -s -m 2 -X POST -d "{\"key\":\"$k\",\"range_end\":\"$e\",\"count_only\":true}" \
			"$ETCD_URL/v3/kv/range" | sed -n 's/.*"count":"\([0-9]*\)".*/\1/p')
		[ "${n:-0}" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# cl_start_three REPLICAS: etcd and three nodes with --replicas
# REPLICAS: node 1 leads (started and elected first) with 256 MiB, node 2
# has no memory, node 3 has 256 MiB and a 15 s lease (so that it stays a
# member for a while after it is killed or stopped); exits the test when
# they do not agree. Node 2 campaigns before node 3 starts, so that it
# is next in line when node 1 goes (a loaded machine may otherwise let
# node 3's candidacy overtake it).
cl_start_three() {
	etcd_start || { echo "etcd did not start" >&2; exit 1; }
	cl_node_start 1 --replicas "$1" --segment-size 256M
	cl_wait_leader 15000 >/dev/null || { echo "node 1 does not lead" >&2; exit 1; }
	cl_node_start 2 --replicas "$1" --segment-size 0
	cl_wait_candidates 2 15000 || { echo "node 2 does not campaign" >&2; exit 1; }
	cl_node_start 3 --replicas "$1" --segment-size 256M --node-ttl 15000
	cl_wait_all 15000 >/dev/null && cl_wait_segments 2 15000 ||
		{ echo "the three nodes do not agree" >&2; exit 1; }
}

cl_start() {
	local n=$1 i
	shift
	etcd_start || { echo "etcd did not start" >&2; exit 1; }
	for i in $(seq "$n"); do
		cl_node_start "$i" "$@"
	done
	cl_wait_all 15000 >/dev/null && cl_wait_segments "$n" 15000 || {
		echo "no leader serves, or it does not list the $n nodes' memory" >&2
		for i in $(seq "$n"); do tail -5 "${CL_ERR[$i]}" >&2; done
		exit 1
	}
}

# cl_get URL FILE: GET URL into FILE, asked again for up to 5 s while
# it answers 503 (NO_LEADER: a leader change under load; nothing
# happened). Prints the last status.
cl_get() {
	local end=$(($(date +%s%3N) + 5000)) c
	while :; do
		c=$(curl -s -m 5 -o "$2" -w '%{http_code}' "$1")
		[ "$c" = 503 ] && [ "$(date +%s%3N)" -lt "$end" ] || break
		sleep 0.1
	done
	echo "$c"
}
