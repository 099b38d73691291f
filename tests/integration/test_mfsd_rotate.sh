#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Static McEliece key rotation between two real mfsd on loopback
# (docs/mfsd.md "Static key rotation"): mfsctl rotate-static on one side,
# the peer re-pins it over the link and acknowledges, exchanges keep running
# (a rekey loop runs throughout), both daemons killed -9 in the grace period
# and restarted still talk, and after the grace the old pair is gone from
# disk. Then the other side rotates too, and a rotation is refused while one
# is in its grace period.
#
#   test_mfsd_rotate.sh MFSD MFSCTL MFS-KEX
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/mfsd-rotate.XXXXXX)
PIDS=()
LOOP=

cleanup() {
	[ -n "$LOOP" ] && kill "$LOOP" 2>/dev/null
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/lib.sh"
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

cd "$T" || exit 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port) P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done

"$MFSCTL" genid --id office --dir id-office --mceliece 460896 >office.pins || exit 1
"$MFSCTL" genid --id gpu-dc --dir id-gpu --mceliece 460896 >gpu.pins || exit 1
mkdir -m 700 psk
"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1

. "$HERE/mfsd_conf.sh"
GRACE=${MFSD_ROTATE_GRACE:-15}
CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=32 NODE_EXTRA="static_key_grace = ${GRACE}s"
# each side pins a copy of the other's public key, as deployed (docs/identity.md):
# the owner destroys its own files after a rotation
mkdir copy-office copy-gpu
cp id-office/mceliece460896.pk copy-office/ && cp id-gpu/mceliece460896.pk copy-gpu/ || exit 1
mfsd_conf office gpu-dc id-office copy-gpu "$P1" "$P2" gpu.pins state-office >office.conf
mfsd_conf gpu-dc office id-gpu copy-office "$P2" "$P1" office.pins state-gpu-dc >gpu-dc.conf

declare -A PID
start() {
	"$MFSD" --config "$1.conf" --foreground --log-level debug >>"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
stop9() { kill -9 "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; }
ctl() { local n=$1; shift; "$MFSCTL" --socket "$n.sock" "$@"; }
st() {	# NAME python-expression on d (the status JSON)
	"$MFSCTL" --socket "$1.sock" --json status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); print($2)" 2>/dev/null
}
own_id() { st "$1" "d['static_keys'][0]['id']"; }
own_state() { st "$1" "d['static_keys'][0]['state']"; }
pin_id() { st "$1" "d['peers'][0]['pins'][0]['id']"; }
pin_prev() { st "$1" "d['peers'][0]['pins'][0]['previous']"; }
exchanges() { st "$1" "d['peers'][0]['classes'][0]['exchanges']"; }
pool() { st "$1" "d['peers'][0]['classes'][0]['pool']['$2']"; }
counter() { st "$1" "d['counters']['$2']"; }
wait_for() { local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done; return 1; }
pools_full() {
	for n in office gpu-dc; do for d in outbound inbound; do
		[ "$(pool $n $d)" -ge 32 ] 2>/dev/null || return 1; done; done
}
connected() { [ "$(st office "d['peers'][0]['connected']")" = True ] &&
	      [ "$(st gpu-dc "d['peers'][0]['connected']")" = True ]; }
# a loop of rekeys from both sides: exchanges run while the keys change
rekey_loop() { while :; do ctl office rekey gpu-dc >/dev/null 2>&1; ctl gpu-dc rekey office >/dev/null 2>&1; sleep 0.3; done; }
# an exchange that starts after now and uses McEliece
more_exchanges() { [ "$(exchanges "$1")" -gt "$2" ] 2>/dev/null; }
fresh_exchange() {	# NAME
	local n0; n0=$(exchanges "$1")
	ctl "$1" rekey "$( [ "$1" = office ] && echo gpu-dc || echo office)" >/dev/null 2>&1
	wait_for 15 more_exchanges "$1" "$n0" &&
	[[ "$(st "$1" "','.join(d['peers'][0]['classes'][0]['suite'])")" == *mceliece460896* ]]
}
is() { [ "$("$2" "$3")" "$1" "$4" ]; }	# OP FUNCTION NAME VALUE
old_pair_gone() { ! test -e id-office/mceliece460896.sk && ! test -e id-office/mceliece460896.pk; }
changed_pin() { local p; p=$(pin_id "$1"); [ -n "$p" ] && [ "$p" != "$2" ]; }

start office
start gpu-dc
check "pools full" wait_for 30 pools_full
old=$(own_id office)
check "office's key id is the genid pin" grep -q "pin_mceliece460896_sha3 = $old" office.pins
check "gpu-dc pins it" test "$(pin_id gpu-dc)" = "$old"
ids_before=$(ctl office keys | awk 'NR>1 {print $1}' | sort)
fails0=$(grep -c "exchange failed\|exchange.*(responder) failed" office.log gpu-dc.log | awk -F: '{s+=$2} END {print s}')

rekey_loop & LOOP=$!
expect_ok ctl office rotate-static
check "rotate-static: answer" grep -q "rotation of every static key started" out.txt
check "office: a new key in use" wait_for 20 is != own_id office "$old"
new=$(own_id office)
check "gpu-dc re-pinned the new key" wait_for 20 is = pin_id gpu-dc "$new"
check "gpu-dc keeps the old pin for the grace" test "$(pin_prev gpu-dc)" = "$old"
check "office: every peer acknowledged (grace)" wait_for 10 is = own_state office grace
check "status counts the rotation" test "$(counter office rotations)" = 1
check "status counts the re-pin" test "$(counter gpu-dc repins)" = 1
# both killed -9 in the grace period (right away: the grace is short), restarted:
# both keys and both pins come back, and they still talk, with the new key
stop9 office; stop9 gpu-dc
start office; start gpu-dc
check "restart in the grace: reconnected" wait_for 15 connected
check "restart: office loads the new key" test "$(own_id office)" = "$new"
check "restart: gpu-dc loads the new pin and the previous one" \
	test "$(pin_id gpu-dc)/$(pin_prev gpu-dc)" = "$new/$old"

expect_fail 1 "still in progress" -- ctl office rotate-static mceliece460896
newsk=$(ls state-office/static/mceliece460896-*.sk 2>/dev/null | head -1)
check "new secret key written beside, mode 0600" test -n "$newsk" -a "$(stat -c %a "$newsk" 2>/dev/null)" = 600
check "new key's hash is its id" test "$(openssl dgst -sha3-256 -r "${newsk%.sk}.pk" | cut -d' ' -f1)" = "$new"
check "old pair still there during the grace" test -f id-office/mceliece460896.sk -a -f id-office/mceliece460896.pk
check "gpu-dc stored the new pin" bash -c "ls state-gpu-dc/static/pin-office-mceliece460896-*.pk >/dev/null"
check "gpu-dc's re-pin record starts from the configured pin" grep -q "^base $old" state-gpu-dc/static/pin-office-mceliece460896
check "after the restart: exchanges with the new key (office)" fresh_exchange office
check "after the restart: exchanges with the new key (gpu-dc)" fresh_exchange gpu-dc
check "audit: static-rotate on office" bash -c "'$MFSCTL' --socket office.sock audit | grep -q static-rotate"
check "audit: static-repin on gpu-dc" bash -c "'$MFSCTL' --socket gpu-dc.sock audit | grep -q static-repin"

# the grace ends: the old pair is destroyed, the old pin dropped
check "old pair destroyed after the grace" wait_for $((GRACE + 20)) old_pair_gone
check "audit: static-destroy" bash -c "'$MFSCTL' --socket office.sock audit | grep -q static-destroy"
check "gpu-dc drops the old pin after the grace" wait_for $((GRACE + 5)) is = pin_prev gpu-dc ""
check "no record names the destroyed files" bash -c "! grep -q id-office state-office/static/own-mceliece460896"
check "exchanges run after the destruction" fresh_exchange office

# restart once more (no old key anywhere now): still works
stop9 office; stop9 gpu-dc
start office; start gpu-dc
check "restart after the grace: reconnected" wait_for 15 connected
check "restart after the grace: exchanges run" fresh_exchange gpu-dc

# the other side rotates: its peer re-pins as well
oldg=$(own_id gpu-dc)
expect_ok ctl gpu-dc rotate-static mceliece460896
check "office re-pinned gpu-dc's new key" wait_for 20 changed_pin office "$oldg"
check "gpu-dc: exchanges with its new key" fresh_exchange gpu-dc
kill "$LOOP" 2>/dev/null; wait "$LOOP" 2>/dev/null; LOOP=
check "pools full at the end" wait_for 30 pools_full
ids_after=$(ctl office keys | awk 'NR>1 {print $1}' | sort)
check "keys from before the rotation are still stored" test -z "$(comm -23 <(echo "$ids_before") <(echo "$ids_after"))"
check "no key id twice" test -z "$(uniq -d <<<"$ids_after")"
fails1=$(grep -c "exchange failed\|exchange.*(responder) failed" office.log gpu-dc.log | awk -F: '{s+=$2} END {print s}')
echo "    (failed exchanges during the test: $((fails1 - fails0)))"
check "no exchange failed over a pin mismatch" bash -c "! grep -qi 'pin\\|key.*rejected' <(grep 'exchange.*failed' office.log gpu-dc.log)"
check "the logs name the rotation" bash -c "grep -q 'static key rotation' office.log && grep -q 'pinned its new static key' gpu-dc.log"

for n in office gpu-dc; do kill "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
