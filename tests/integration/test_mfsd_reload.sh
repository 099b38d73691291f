#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# SIGHUP reload of mfsd's configuration, with real daemons on loopback:
# a broken file and a restart-only change are refused (the running
# configuration stays, the log and mfsctl status give file:line: reason, the
# failure is counted); valid changes apply without dropping the link or the
# pools: new watermarks and rekey interval, a class added on both sides, a
# third peer added and removed again, then the first peer removed (its slot
# stays empty while the other link goes on).
#
#   test_mfsd_reload.sh MFSD MFSCTL MFS-KEX
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/mfsd-reload.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/lib.sh"
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

cd "$T" || exit 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A PORT
for n in office gpu-dc branch; do
	p=$(free_port)
	while [[ " ${PORT[*]} " == *" $p "* ]]; do p=$(free_port); done
	PORT[$n]=$p
done
for n in office gpu-dc branch; do
	"$MFSCTL" genid --id "$n" --dir "id-$n" --mceliece 460896 >"$n.pins" || exit 1
done
mkdir -m 700 psk
"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1

. "$HERE/mfsd_conf.sh"
CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=16
mfsd_conf office gpu-dc id-office id-gpu-dc "${PORT[office]}" "${PORT[gpu-dc]}" gpu-dc.pins state-office >office.conf
mfsd_conf gpu-dc office id-gpu-dc id-office "${PORT[gpu-dc]}" "${PORT[office]}" office.pins state-gpu-dc >gpu-dc.conf
mfsd_conf branch office id-branch id-office "${PORT[branch]}" "${PORT[office]}" office.pins state-branch >branch.conf
cp office.conf office.conf.orig

declare -A PID
start() {
	"$MFSD" --config "$1.conf" --foreground --log-level debug >>"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
hup() { kill -HUP "${PID[$1]}"; }
st() { "$MFSCTL" --socket "$1.sock" --json status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); print($2)" 2>/dev/null; }
peer() { echo "[p for p in d['peers'] if p['name']=='$1'][0]"; }
klass() { echo "[c for c in $(peer "$1")['classes'] if c['name']=='$2'][0]"; }
wait_for() { local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done; return 1; }
is() { [ "$(st "$2" "$3")" "$1" "$4" ]; }		# OP NAME EXPR VALUE
ge() { local v; v=$(st "$1" "$2"); [ "${v:-0}" -ge "$3" ] 2>/dev/null; }	# NAME EXPR N
pools_at() {	# NAME PEER CLASS N
	ge "$1" "$(klass "$2" "$3")['pool']['outbound']" "$4" &&
	ge "$1" "$(klass "$2" "$3")['pool']['inbound']" "$4"
}
up_since() { st "$1" "$(peer "$2")['up_since']"; }

start office
start gpu-dc
check "pools full" wait_for 30 pools_at office gpu-dc training 16
up0=$(up_since office gpu-dc)
out0=$(st office "$(klass gpu-dc training)['pool']['outbound']")

# 1. a broken file: refused, everything runs on
sed 's/^pool_low = 8/pool_low = eight/' office.conf.orig >office.conf
line=$(grep -n '^pool_low' office.conf | cut -d: -f1)
hup office
check "broken file: the failure is counted" wait_for 10 is = office "d['counters']['reload_failures']" 1
check "broken file: status gives file:line: reason" \
	is = office "d['reload']['error']" "$(realpath "$T")/office.conf:$line: pool_low: 'eight' is not a number"
check "broken file: logged with file:line" grep -q "reload failed: .*office.conf:$line: pool_low" office.log
check "broken file: node state degraded" is = office "d['state']" degraded
check "broken file: mfsctl status says so" bash -c "'$MFSCTL' --socket office.sock status | grep -q 'reload failed at .*office.conf:$line'"
check "broken file: the link stays" is = office "$(peer gpu-dc)['up_since']" "$up0"
check "broken file: the pool stays" is = office "$(klass gpu-dc training)['pool']['outbound']" "$out0"

# 2. a setting only a restart can change: refused
sed "s/^listen = 127.0.0.1:.*/listen = 127.0.0.1:$(free_port)/" office.conf.orig >office.conf
hup office
check "restart-only change refused" wait_for 10 is = office "d['counters']['reload_failures']" 2
check "restart-only change: the reason" bash -c "'$MFSCTL' --socket office.sock --json status | grep -q 'listen cannot change without a restart'"

# 3. valid changes on both sides: watermarks, rekey interval, a new class
sed 's/^pool_low = 8/pool_low = 30/; s/^pool_high = 16/pool_high = 40/; s/^rekey_interval = 1h/rekey_interval = 30m/' \
	gpu-dc.conf >gpu-dc.conf.new
cat >>gpu-dc.conf.new <<CONF

[class office weights]
required = mceliece460896, psk
optional = mlkem768
min_pq = 2
min_families = 2
pool_low = 4
pool_high = 8
CONF
cp office.conf.orig office.conf.base
sed 's/^pool_low = 8/pool_low = 30/; s/^pool_high = 16/pool_high = 40/; s/^rekey_interval = 1h/rekey_interval = 30m/' \
	office.conf.base >office.conf.new
cat >>office.conf.new <<CONF

[class gpu-dc weights]
required = mceliece460896, psk
optional = mlkem768
min_pq = 2
min_families = 2
pool_low = 4
pool_high = 8
CONF
mv office.conf.new office.conf
mv gpu-dc.conf.new gpu-dc.conf
hup office
hup gpu-dc
check "reload applied (office)" wait_for 10 is = office "d['counters']['reloads']" 1
check "reload applied (gpu-dc)" wait_for 10 is = gpu-dc "d['counters']['reloads']" 1
check "the reload error is cleared" is = office "d['reload']['error']" ""
check "new watermarks in status" is = office "$(klass gpu-dc training)['pool']['high']" 40
check "pools refill to the new high watermark" wait_for 30 pools_at office gpu-dc training 40
check "the new class fills on both sides" wait_for 30 pools_at gpu-dc office weights 8
check "the link was never dropped" is = office "$(peer gpu-dc)['up_since']" "$up0"
check "no disconnection logged" bash -c "! grep -q 'disconnected' office.log gpu-dc.log"
next=$(st office "$(klass gpu-dc training)['next_rekey']"); last=$(st office "$(klass gpu-dc training)['last_rekey']")
check "the new rekey interval applies" test $((next - last)) -le 1800

# 4. a third peer added, then removed again; gpu-dc's link stays throughout
{ cat office.conf; mfsd_conf office branch id-office id-branch "${PORT[office]}" "${PORT[branch]}" branch.pins state-office |
	sed -n '/^\[peer /,$p'; } >office.conf.new && mv office.conf.new office.conf
start branch
hup office
check "peer added: branch connects" wait_for 20 is = office "$(peer branch)['connected']" True
check "peer added: its pool fills" wait_for 30 pools_at office branch training 16
check "peer added: gpu-dc's link untouched" is = office "$(peer gpu-dc)['up_since']" "$up0"
sed '/^\[peer branch\]/,$d' office.conf >office.conf.new && mv office.conf.new office.conf
hup office
check "peer removed: gone from status" wait_for 10 is = office "len(d['peers'])" 1
check "peer removed: branch sees the link drop" wait_for 20 is = branch "d['peers'][0]['connected']" False
check "peer removed: gpu-dc's link untouched" is = office "$(peer gpu-dc)['up_since']" "$up0"
check "peer removed: gpu-dc's pools intact" pools_at office gpu-dc training 40
check "reloads counted" is = office "d['counters']['reloads']" 3

# 5. branch back, then gpu-dc (the first peer) removed: its slot stays empty, branch keeps its link
{ cat office.conf; mfsd_conf office branch id-office id-branch "${PORT[office]}" "${PORT[branch]}" branch.pins state-office |
	sed -n '/^\[peer /,$p'; } >office.conf.new && mv office.conf.new office.conf
hup office
check "branch added again" wait_for 20 is = office "$(peer branch)['connected']" True
upb=$(up_since office branch)
{ sed -n '1,/^\[peer gpu-dc\]/p' office.conf | sed '$d'; sed -n '/^\[peer branch\]/,$p' office.conf; } >office.conf.new &&
	mv office.conf.new office.conf
hup office
check "first peer removed: only branch is listed" wait_for 10 is = office "[p['name'] for p in d['peers']]" "['branch']"
check "first peer removed: gpu-dc sees the link drop" wait_for 20 is = gpu-dc "d['peers'][0]['connected']" False
check "first peer removed: branch's link untouched" is = office "$(peer branch)['up_since']" "$upb"
check "first peer removed: the node is not degraded by the empty slot" wait_for 10 is = office "d['state']" ok
n0=$(st office "$(klass branch training)['exchanges']")
"$MFSCTL" --socket office.sock rekey branch >/dev/null
check "first peer removed: exchanges with branch go on" wait_for 15 ge office "$(klass branch training)['exchanges']" $((n0 + 1))

for n in office gpu-dc branch; do kill "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
