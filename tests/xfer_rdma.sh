#!/bin/bash
# xfer_rdma.sh - without an RDMA device the daemon refuses rdma clearly:
# --protocol rdma stops start-up with one line saying why, and an rdma
# mount on a tcp daemon fails while the daemon carries on.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	echo "an RDMA device is present: the refusals cannot be tested here"
	exit 77
fi

for dev in "" mlx5_0 "mlx5_0,mlx5_1"; do
	rc=0
	timeout 10 "$MOONCAKED" --no-fuse --port 0 --transfer-port 0 --rpc-port 0 \
		--segment-size 0 --protocol rdma --device "$dev" \
		>"$MC_TMP/out" 2>"$MC_TMP/err" || rc=$?
	check "--protocol rdma --device '$dev' fails" [ "$rc" != 0 ]
	check "... and does not crash" [ "$rc" -lt 128 ]
	expect_match "... saying why" "$(cat "$MC_TMP/err")" \
		"no RDMA device found|RDMA device 'mlx5_0' not found|built without rdma-core"
	expect_eq "... in one line" "$(grep -c . "$MC_TMP/err")" 1
	expect_eq "... and never says ready" "$(grep -c ready "$MC_TMP/out")" 0
done

mc_start
http GET /get_all_segments
segs=$HTTP_BODY
http POST /api/mount -d '{"size":16777216,"protocol":"rdma"}'
check "rdma mount without a device refused" [ "$HTTP_CODE" -ge 400 ]
expect_match "... naming the reason" "$HTTP_BODY" "RDMA device|rdma"
http GET /get_all_segments
expect_eq "nothing mounted" "$HTTP_BODY" "$segs"
http POST /api/mount -d '{"size":16777216,"protocol":"tcp"}'
expect_eq "tcp mounts still work" "$HTTP_CODE" 200
http GET /health
expect_eq "daemon healthy" "$HTTP_BODY" "OK"
mc_stop
mc_done
