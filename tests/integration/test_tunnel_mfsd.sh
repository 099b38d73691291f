#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfs-tunnel keyed by two real mfsd (the push source, docs/push.md): the
# daemons on loopback, the tunnels in two network namespaces over veth, each
# subscribed (outbound and inbound) to its own mfsd's push socket.
#
#  1. keys arrive and traffic flows (ping)
#  2. a 128 MiB transfer with sha256 while usage drives volume rekeys
#     (rekey_volume 16 MiB): RETIRE, switch to the key pushed ahead once the
#     peer installed it, 0 ICV failures
#  3. kill -9 of office's mfsd during a transfer: the transfer completes on
#     the installed keys; after the restart the tunnel subscribes again and a
#     new key carries traffic within 10 s
#  4. `mfsctl method revoke mlkem768` during a transfer: the keys derived
#     with it are withdrawn (RETIRE withdrawn), the transfer completes under
#     the new keys
#
#   test_tunnel_mfsd.sh MFS-TUNNEL MFSD MFSCTL MFS-KEX
# Needs root; exit 77 (skip) without it.
set -uo pipefail
MFS_TUNNEL=$(realpath "$1") MFSD=$(realpath "$2") MFSCTL=$(realpath "$3") MFSKEX=$(realpath "$4")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib.sh"
. "$HERE/tunnel_net.sh"
XFER="$HERE/tcp_xfer.py"

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun (network namespaces and TUN)"
	exit 77
fi
T=$(mktemp -d /tmp/tunnel-mfsd.XXXXXX)
TN_DIR=$T
declare -A MPID
finish() {
	for p in "${MPID[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	tn_cleanup
	if [ "$fail" -ne 0 ]; then
		for f in "$T"/*.log; do echo "--- $f"; tail -n 25 "$f"; done
	fi
	rm -rf "$T"
}
trap finish EXIT
cd "$T" || exit 1

. "$HERE/mfsd_conf.sh"
mfsd_pair
CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=32 PUSH=1 VOLUME=16MiB
mfsd_pair_confs

mstart() { "$MFSD" --config "$1.conf" --foreground >>"$1.mfsd.log" 2>&1 & MPID[$1]=$!; }
cls() {
	"$MFSCTL" --socket "$1.sock" --json status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); c=d['peers'][0]['classes'][0]; print($2)" 2>/dev/null
}
pools_full() {
	local n d
	for n in office gpu-dc; do for d in outbound inbound; do
		[ "$(cls $n "c['pool']['$d']")" -ge 8 ] 2>/dev/null || return 1
	done; done
}

mstart office
mstart gpu-dc
wait_for 60 pools_full && ok "both mfsd have keys in their pools" || { bad "mfsd pools stay empty"; exit 1; }

tn_setup "tunm$$" || { bad "namespaces"; exit 1; }
tn_start a --mfsd-socket "$T/office.push" --mfsd-peer gpu-dc --mfsd-class training --switch-delay 2000 &&
	tn_start b --mfsd-socket "$T/gpu-dc.push" --mfsd-peer office --mfsd-class training --switch-delay 2000 ||
	{ bad "tunnels start"; exit 1; }
pinged() { ip netns exec "$TN_A" ping -c 1 -W 1 10.99.0.2 >/dev/null 2>&1; }
wait_for 15 pinged && ok "keys from mfsd push: ping through the tunnel" || bad "no traffic with mfsd keys"
grep -q "subscribed to gpu-dc/training outbound" a.log && grep -q "subscribed to office/training inbound" b.log &&
	ok "both tunnels subscribed (outbound and inbound)" || bad "subscriptions missing"

# ---- volume rekeys under a transfer ----
sw0=$(grep -c "outbound switched" a.log)
head -c $((128 << 20)) /dev/urandom >big.in
ip netns exec "$TN_B" python3 "$XFER" recv 10.99.0.2 5010 big.out 120 & rp=$!
TN_EXTRA_PIDS+=("$rp")
expect_ok ip netns exec "$TN_A" python3 "$XFER" send 10.99.0.2 5010 big.in 120
wait "$rp"
same big.in big.out "128 MiB a->b with mfsd keys, sha256 $(sha256sum <big.in | cut -c1-16)"
sleep 2.5	# usage is reported once a second; the switch waits for PEER_INSTALLED
ip netns exec "$TN_A" ping -c 2 -i 0.2 -W 2 10.99.0.2 >/dev/null
sw1=$(grep -c "outbound switched" a.log)
grep -q "retire key .* (reason 1)" a.log && ok "mfsd retired a key for volume (usage reported)" ||
	bad "no volume RETIRE from mfsd"
[ "$sw1" -gt "$sw0" ] && ok "outbound switched to the key pushed ahead ($((sw1 - sw0))x)" ||
	bad "no switch after the volume RETIRE"
echo "# office mfsd volume rekeys: $(cls office "c.get('volume_rekeys', '?')")"

# ---- kill -9 of office's mfsd during a transfer ----
ip netns exec "$TN_B" python3 "$XFER" recv 10.99.0.2 5011 big2.out 120 & rp=$!
TN_EXTRA_PIDS+=("$rp")
ip netns exec "$TN_A" python3 "$XFER" send 10.99.0.2 5011 big.in 120 & sp=$!
TN_EXTRA_PIDS+=("$sp")
sleep 0.3
kill -9 "${MPID[office]}"; wait "${MPID[office]}" 2>/dev/null
wait "$sp"; wait "$rp"
same big.in big2.out "transfer completes across kill -9 of mfsd (installed keys keep working)"
nsub=$(grep -c "subscribed to gpu-dc/training outbound" a.log)
nuse=$(grep -c "carries traffic (out" a.log)
t0=$EPOCHREALTIME
mstart office
resub() { [ "$(grep -c "subscribed to gpu-dc/training outbound" a.log)" -gt "$nsub" ]; }
newkey() { pinged; [ "$(grep -c "carries traffic (out" a.log)" -gt "$nuse" ]; }
if wait_for 30 resub && wait_for 15 newkey; then
	dt=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')")
	echo "# after the restart: resubscribed and a new outbound key in use after $dt s"
	python3 -c "import sys; sys.exit(0 if $dt <= 10 else 1)" &&
		ok "traffic on a new key within 10 s of mfsd's restart ($dt s)" ||
		bad "new key only after $dt s"
else
	bad "no new key after mfsd restarted"
fi
# The key that carried traffic across the restart was pushed on the old
# subscription: the tunnel must not report it on the new one (mfsd would end
# that subscription, again every second, until a new key took over).
if grep -q "not pushed on this subscription" a.log b.log; then
	bad "the tunnel reported a key the new subscription did not push: $(grep -c 'subscription lost' a.log) subscriptions lost"
else ok "no report of a key from before mfsd's restart"; fi
expect_ok ip netns exec "$TN_A" ping -c 3 -i 0.2 -W 2 10.99.0.2

# ---- a method revoked mid-transfer: keys derived with it are withdrawn, new ones take over ----
# The suite of the exchanges that made the keys in use (a restarted mfsd shows none until its next exchange).
suite=$(grep -ho "exchange done.*suite [a-z0-9,+]*" office.mfsd.log | tail -1 | grep -o "suite [a-z0-9,+]*" | cut -d' ' -f2)
echo "# class suite before the revocation: $suite"
ip netns exec "$TN_B" python3 "$XFER" recv 10.99.0.2 5012 big3.out 120 & rp=$!
TN_EXTRA_PIDS+=("$rp")
ip netns exec "$TN_A" python3 "$XFER" send 10.99.0.2 5012 big.in 120 & sp=$!
TN_EXTRA_PIDS+=("$sp")
sleep 0.3
"$MFSCTL" --socket office.sock method revoke mlkem768 --reason "test: lattice break" >/dev/null ||
	bad "mfsctl method revoke"
wait "$sp"; wait "$rp"
same big.in big3.out "transfer completes across the revocation of mlkem768"
sleep 1
if [[ $suite == *mlkem768* ]]; then
	grep -q "retire key .* (reason 4)" a.log && ok "keys derived with mlkem768 withdrawn (RETIRE withdrawn)" ||
		bad "no RETIRE withdrawn after the revocation"
	grep -q "withdrawn" a.log && ok "the tunnel dropped the withdrawn key" || bad "withdrawn key kept"
fi
expect_ok ip netns exec "$TN_A" ping -c 3 -i 0.2 -W 2 10.99.0.2
echo "# class suite after: $(cls office "','.join(c['suite'])")"
tn_stop a; tn_stop b
fa=$(tn_stat a rx_auth_fail) fb=$(tn_stat b rx_auth_fail)
[ "$fa" = 0 ] && [ "$fb" = 0 ] && ok "0 ICV failures" || bad "ICV failures a=$fa b=$fb"
grep -qiE "key=[0-9a-f]{16}" a.log b.log && bad "key material in a tunnel log" || ok "no key material in the tunnel logs"

echo "tunnel_mfsd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
