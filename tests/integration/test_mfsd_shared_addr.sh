#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Several peers behind one address: three mfsd on loopback, branch-1 and
# branch-2 both reach gpu-dc from 127.0.0.1 (as two nodes behind one NAT
# would). gpu-dc must map each inbound TLS connection to its peer by the
# pinned certificate, never by the source address: both links come up and
# fill their pools, a restart of one branch does not disturb the other, and
# a fourth node with a certificate gpu-dc does not pin is refused. Then
# gpu-dc rotates its static McEliece key and both branches re-pin it.
#
#   test_mfsd_shared_addr.sh MFSD MFSCTL MFS-KEX
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/mfsd-shared.XXXXXX)
PIDS=()

cleanup() {
	mfsd_kill_all
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/lib.sh"

cd "$T" || exit 1
. "$HERE/mfsd_conf.sh"
declare -A PORT
mfsd_nodes gpu-dc branch-1 branch-2 evil
CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=16
# the branches (and the intruder) each know gpu-dc; the smaller node id connects
for n in branch-1 branch-2 evil; do
	mfsd_conf "$n" gpu-dc "id-$n" id-gpu-dc "${PORT[$n]}" "${PORT[gpu-dc]}" gpu-dc.pins "state-$n" >"$n.conf"
done
# gpu-dc knows both branches, at the same address (127.0.0.1); not the intruder
mfsd_conf gpu-dc branch-1 id-gpu-dc id-branch-1 "${PORT[gpu-dc]}" "${PORT[branch-1]}" branch-1.pins state-gpu-dc >gpu-dc.conf
mfsd_conf gpu-dc branch-2 id-gpu-dc id-branch-2 "${PORT[gpu-dc]}" "${PORT[branch-2]}" branch-2.pins state-gpu-dc |
	sed -n '/^\[peer /,$p' >>gpu-dc.conf

declare -A PID
start() { mfsd_start "$1"; }
st() { "$MFSCTL" --socket "$1.sock" --json status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); print($2)" 2>/dev/null; }
peer_up() {	# NAME PEER
	[ "$(st "$1" "[p['connected'] for p in d['peers'] if p['name']=='$2'][0]")" = True ]
}
pool_full() {	# NAME PEER
	local v
	for dir in outbound inbound; do
		v=$(st "$1" "[p for p in d['peers'] if p['name']=='$2'][0]['classes'][0]['pool']['$dir']")
		[ "${v:-0}" -ge 16 ] 2>/dev/null || return 1
	done
}
up_since() { st gpu-dc "[p['up_since'] for p in d['peers'] if p['name']=='$1'][0]"; }

start gpu-dc
start branch-1
start branch-2
check "gpu-dc: branch-1 connected" wait_for 20 peer_up gpu-dc branch-1
check "gpu-dc: branch-2 connected" wait_for 20 peer_up gpu-dc branch-2
check "gpu-dc <-> branch-1 pools full" wait_for 30 pool_full gpu-dc branch-1
check "gpu-dc <-> branch-2 pools full" wait_for 30 pool_full gpu-dc branch-2
check "branch-1 sees its pool full" wait_for 10 pool_full branch-1 gpu-dc
check "branch-2 sees its pool full" wait_for 10 pool_full branch-2 gpu-dc
check "both inbound, both from 127.0.0.1" bash -c "[ \$(grep -c 'connected (inbound' gpu-dc.log) -ge 2 ]"
check "no connection was mapped to the wrong peer" bash -c "! grep -q 'does not match the pin' gpu-dc.log branch-1.log branch-2.log"

# restart branch-2: branch-1's link stays up, branch-2 comes back
b1=$(up_since branch-1)
kill -9 "${PID[branch-2]}"; wait "${PID[branch-2]}" 2>/dev/null
start branch-2
check "branch-2 reconnected after its restart" wait_for 20 peer_up branch-2 gpu-dc
if [ "$(up_since branch-1)" = "$b1" ]; then ok "branch-1's link was not disturbed"
else
	bad "branch-1's link was not disturbed"
	grep -h 'branch-1: \(disconnected\|connected\)' gpu-dc.log | sed 's/^/    gpu-dc: /'
	grep -h 'disconnected' branch-1.log | sed 's/^/    branch-1: /'
fi
check "branch-2's pool still full" wait_for 20 pool_full gpu-dc branch-2

# a node gpu-dc does not pin, connecting from the same address: refused
start evil
check "the intruder is refused by certificate" wait_for 20 bash -c "grep -q 'matches no configured peer' gpu-dc.log"
# (TLS 1.3: the client's handshake usually ends before the server checked its
# certificate, so the intruder sees "connected", then the refusal. Under
# ASan, where everything is slower, the refusal (a reset) was also seen to
# reach the intruder while it was still in its handshake: "connection failed:
# handshake: Connection reset by peer". Either way the connection ends.)
check "the intruder is disconnected" wait_for 10 bash -c "grep -Eq 'peer gpu-dc: (disconnected|connection failed)' evil.log"
[ "$fail" -gt 0 ] && grep -h 'gpu-dc\|evil' evil.log gpu-dc.log | tail -n 15 | sed 's/^/    /'
check "the intruder got no key" test "$(st evil "d['peers'][0]['classes'][0]['pool']['outbound']")" = 0
peer_up gpu-dc branch-1 && peer_up gpu-dc branch-2 && ok "both branches still up" || bad "both branches still up"

# the hub rotates its static key: both branches behind the one address re-pin it
old_id=$(st gpu-dc "d['static_keys'][0]['id']")
pin_of_hub() { st "$1" "[p for p in d['peers'] if p['name']=='gpu-dc'][0]['pins'][0]['id']"; }
repinned() { local p; p=$(pin_of_hub "$1"); [ -n "$p" ] && [ "$p" != "$old_id" ] && [ "$p" = "$(st gpu-dc "d['static_keys'][0]['id']")" ]; }
"$MFSCTL" --socket gpu-dc.sock rotate-static >/dev/null 2>&1
check "hub rotation: branch-1 re-pinned" wait_for 20 repinned branch-1
check "hub rotation: branch-2 re-pinned" wait_for 20 repinned branch-2
check "hub rotation: both acknowledged" wait_for 10 bash -c "'$MFSCTL' --socket gpu-dc.sock --json status | grep -q '\"state\": \"grace\"'"

for n in gpu-dc branch-1 branch-2 evil; do kill "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
