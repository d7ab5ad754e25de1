#!/bin/bash
# xfer_rdma.sh - without an RDMA device the daemon refuses rdma clearly
# and carries on (mooncake-transfer(7), RDMA): with --protocol rdma it
# says why at start-up, serves without its rdma default segment, answers
# every rdma mount 501 naming the reason (a mount that names no protocol
# takes --protocol's), mounts tcp memory when asked and stops cleanly; an
# rdma mount on a tcp daemon fails the same way. (A device list naming no
# device, ',', is a configuration error: tests/check_rdma.c, with a mock
# device layer, since it is checked once devices are listed.)
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	echo "an RDMA device is present: the refusals cannot be tested here"
	exit 77
fi
why="no RDMA device found|RDMA device 'mlx5_0' not found|built without rdma-core"

for dev in "" mlx5_0 "mlx5_0,mlx5_1"; do
	mc_start --protocol rdma --device "$dev"
	expect_match "--protocol rdma --device '$dev': says why" "$(cat "$MC_ERR")" "$why"
	expect_match "... and that rdma mounts are refused" "$(cat "$MC_ERR")" \
		"rdma mounts are refused"
	expect_match "... and that the default segment is not mounted" "$(cat "$MC_ERR")" \
		"default segment of 67108864 bytes is not mounted"
	http GET /get_all_segments
	expect_eq "... so no segment is listed" "$HTTP_BODY" ""
	http POST /api/mount -d '{"size":16777216}'
	expect_eq "... a mount naming no protocol (so rdma): 501" "$HTTP_CODE" 501
	expect_match "... naming the reason" "$HTTP_BODY" "$why"
	http POST /api/mount -d '{"size":16777216,"protocol":"rdma"}'
	expect_eq "... an rdma mount: 501" "$HTTP_CODE" 501
	http GET /get_all_segments
	expect_eq "... nothing mounted" "$HTTP_BODY" ""
	http POST /api/mount -d '{"size":16777216,"protocol":"tcp"}'
	expect_eq "... a tcp mount works" "$HTTP_CODE" 200
	head -c 5000 /dev/urandom >"$MC_TMP/v"
	http PUT /api/put/k --data-binary @"$MC_TMP/v"
	expect_eq "... and takes a value" "$HTTP_CODE" 200
	curl -s -o "$MC_TMP/got" "$MC_URL/api/get/k"
	check "... which reads back" cmp -s "$MC_TMP/got" "$MC_TMP/v"
	http GET /health
	expect_eq "... daemon healthy" "$HTTP_BODY" "OK"
	mc_stop
done

mc_start
http GET /get_all_segments
segs=$HTTP_BODY
http POST /api/mount -d '{"size":16777216,"protocol":"rdma"}'
expect_eq "rdma mount on a tcp daemon without a device: 501" "$HTTP_CODE" 501
expect_match "... naming the reason" "$HTTP_BODY" "$why"
http GET /get_all_segments
expect_eq "nothing mounted" "$HTTP_BODY" "$segs"
http POST /api/mount -d '{"size":16777216,"protocol":"tcp"}'
expect_eq "tcp mounts still work" "$HTTP_CODE" 200
http GET /health
expect_eq "daemon healthy" "$HTTP_BODY" "OK"
mc_stop
mc_done
