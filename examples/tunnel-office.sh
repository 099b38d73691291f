#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# mfs-tunnel at the office site of the Remote GPU example (docs/tunnel.md).
# The other end runs examples/tunnel-gpu-dc.sh with the opposite --side.
#
# Keys come from this site's mfsd (examples/office.conf with push_socket set and
# the tunnel's uid allowed by the class's push_allow), class "training".
# For tests without mfsd, replace the three --mfsd-* options with
#   --static-key-file /etc/mfsec/tunnel.key --state-dir /var/lib/mfs-tunnel
# (a TEST/BENCH AID: one line "<id hex32> <key hex64>", mode 0600, the same file on
# both sites, SIGHUP to re-read it).
set -e

mfs-tunnel --tun mfs0 --side a \
	--local 10.201.0.1:4500 --peer 10.201.0.2:4500 \
	--mfsd-socket /run/mfsd/push.sock --mfsd-peer gpu-dc --mfsd-class training \
	--max-packets 8388608 --switch-delay 1000 --grace 5000 --threads 2 &

# The TUN device appears once mfs-tunnel runs; address, MTU and routes are ip(8)'s job.
while ! ip link show mfs0 >/dev/null 2>&1; do sleep 0.1; done
ip link set mfs0 mtu 1420 up
ip addr add 10.99.0.1/24 dev mfs0
wait
