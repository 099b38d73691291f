#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The push socket end to end (docs/push.md): two mfsd on loopback, an
# outbound subscriber on office and an inbound one on gpu-dc (mfsctl key
# subscribe, i.e. libmfs-client): the keys match by ID, acknowledgements,
# first use and usage show in mfsctl status, usage over rekey_volume retires
# the key and runs an exchange; SO_PEERCRED refuses another uid (as root:
# setpriv); mfsctl key get / get-by-id (once only); kill -9 of mfsd while
# subscribed and no key delivered twice after the restart; no key bytes in
# logs.
#
#   test_push.sh MFSD MFSCTL MFS-KEX [PUSH_SUBSCRIBER]
#
# PUSH_SUBSCRIBER: examples/push_subscriber.c built against libmfs-client.
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
EXAMPLE=${4:+$(realpath "$4")}
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/push-test.XXXXXX)
PIDS=()
. "$HERE/lib.sh" 2>/dev/null || true
fails=0 passes=0 skips=0

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }
skip() { skips=$((skips + 1)); echo "SKIP $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

cd "$T" || exit 1
chmod 711 "$T"	# another uid must reach the sockets (the socket mode decides)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port) P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done

"$MFSCTL" genid --id office --dir id-office --mceliece 460896 >office.pins || exit 1
"$MFSCTL" genid --id gpu-dc --dir id-gpu --mceliece 460896 >gpu.pins || exit 1
mkdir -m 700 psk
"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1

. "$HERE/mfsd_conf.sh"
CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=32 PUSH=1 PUSH_MODE=0666 PUSH_ALLOW="uid:4242, gid:4242"
VOLUME=4KiB
mfsd_conf office gpu-dc id-office id-gpu "$P1" "$P2" gpu.pins state-office >office.conf
mfsd_conf gpu-dc office id-gpu id-office "$P2" "$P1" office.pins state-gpu-dc >gpu-dc.conf

declare -A PID
start() {	# NAME
	"$MFSD" --config "$1.conf" --foreground --log-level debug >>"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
jctl() { local n=$1; shift; "$MFSCTL" --socket "$n.sock" --json "$@"; }
key() { local n=$1; shift; "$MFSCTL" key --push-socket "$n.push" "$@"; }
cls() {	# NAME python-expression on c (the class)
	jctl "$1" status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); c=d['peers'][0]['classes'][0]; print($2)" 2>/dev/null
}
wait_for() {	# SECONDS command...
	local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
	return 1
}
pools_full() {
	for n in office gpu-dc; do
		for d in outbound inbound; do
			[ "$(cls $n "c['pool']['$d']")" -ge 32 ] 2>/dev/null || return 1
		done
	done
}
# IDs of the keys a subscriber printed, one per line
ids_of() { sed -n 's/^key \([0-9a-f-]*\) .*/\1/p' "$1"; }
hex_of() { sed -n "s/^$2 key=//p" "$1"; }

start office
start gpu-dc
check "both pools reach the high watermark" wait_for 30 pools_full
check "push socket created with push_socket_mode 0666" \
	test "$(stat -c %a office.push)" = 666

# ---- subscriptions on both sides ----
ex0=$(grep -c 'exchange done' office.log)
"$MFSCTL" key --push-socket gpu-dc.push --name gpu-decryptor --hex --timeout 60 \
	subscribe office training inbound >in.out 2>in.err &
SUB_IN=$!; PIDS+=("$SUB_IN")
sleep 0.3
"$MFSCTL" key --push-socket office.push --name office-encryptor --hex --timeout 60 --ahead 2 \
	--usage 5000 subscribe gpu-dc training outbound >out.out 2>out.err &
SUB_OUT=$!; PIDS+=("$SUB_OUT")

three_keys_in() { [ "$(ids_of in.out | wc -l)" -ge 3 ]; }
check "inbound subscriber on gpu-dc gets the announced keys" wait_for 15 three_keys_in
echo "--- office outbound subscriber"; sed 's/ key=.*/ key=(hidden)/' out.out
echo "--- gpu-dc inbound subscriber"; sed 's/ key=.*/ key=(hidden)/' in.out
# A and B ahead; A in use -> C; A retired, B in use -> D
four_keys() { [ "$(ids_of out.out | wc -l)" -ge 4 ]; }
wait_for 10 four_keys
check "outbound subscriber: 2 ahead, one more per key taken into use (4 keys)" \
	test "$(ids_of out.out | wc -l)" -eq 4
same_keys() {
	local id n=0
	for id in $(ids_of out.out); do
		[ -n "$(hex_of out.out "$id")" ] || return 1
		[ "$(hex_of out.out "$id")" = "$(hex_of in.out "$id")" ] || return 1
		n=$((n + 1))
	done
	[ $n -ge 3 ]
}
check "office outbound keys = gpu-dc inbound keys, by ID" same_keys
check "key bytes differ between keys" \
	test "$(sed -n 's/^[0-9a-f-]* key=//p' out.out | sort -u | wc -l)" -ge 3

retired() { grep -q '^retire .* reason=volume' out.out; }
check "usage over rekey_volume (4 KiB) retires the key in use (RETIRE volume)" wait_for 10 retired
check "peer-installed forwarded (make before break)" grep -q '^peer-installed ' out.out
first=$(ids_of out.out | head -1)
second=$(ids_of out.out | sed -n 2p)
check "the subscriber switched to the next key after RETIRE" grep -q "^in-use $second" out.out
vol_rekeys() { [ "$(cls office "c['volume_rekeys']")" -ge 1 ] 2>/dev/null; }
check "status: volume_rekeys counted" wait_for 10 vol_rekeys
# the pools were full before the subscribers came and 3 keys do not bring
# them below pool_low: an exchange now is the volume rekey
more_exchanges() { [ "$(grep -c 'exchange done' office.log)" -gt "$ex0" ]; }
check "volume limit: a new exchange runs" wait_for 15 more_exchanges

sub_field() {	# NAME DIRECTION python-expression on s
	jctl "$1" status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); c=d['peers'][0]['classes'][0]
s=[x for x in c['subscriptions'] if x['direction']=='$2'][0]; print($3)" 2>/dev/null
}
echo "--- mfsctl status (office)"; "$MFSCTL" --socket office.sock status | sed -n '/push/,+3p'
check "status office: outbound subscriber named" test "$(sub_field office outbound "s['client']")" = office-encryptor
check "status office: installed is the newest acknowledged key" \
	test "$(sub_field office outbound "s['installed']")" = "$(ids_of out.out | tail -1)"
check "status office: in use is the key switched to" \
	test "$(sub_field office outbound "s['in_use']")" = "$second"
check "status office: installed != in use" \
	test "$(sub_field office outbound "s['installed']")" != "$(sub_field office outbound "s['in_use']")"
check "status office: usage bytes of the first key were 5000 (retired), new key 0" \
	test "$(sub_field office outbound "s['bytes']")" = 0
check "status gpu-dc: inbound subscriber, first key in use" \
	test "$(sub_field gpu-dc inbound "s['in_use']")" = "$first"

# a second subscriber for the same direction is refused
check "second outbound subscriber: busy" bash -c \
	"'$MFSCTL' key --push-socket office.push --count 1 --timeout 2 subscribe gpu-dc training outbound 2>&1 | grep -q 'subscriber already'"

# ---- pull by ID for scripting ----
key office get gpu-dc training --hex >get.out
check "key get: metadata and key (on request)" grep -q '^id=' get.out
id=$(sed -n 's/^id=//p' get.out)
key gpu-dc get-by-id office training "$id" --hex >byid.out
check "key get-by-id on the other side: same key" \
	test -n "$(sed -n 's/^key=//p' get.out)" -a "$(sed -n 's/^key=//p' get.out)" = "$(sed -n 's/^key=//p' byid.out)"
check "key get without --hex prints no key" bash -c "! '$MFSCTL' key --push-socket office.push get gpu-dc training | grep -q '^key='"
check "key get-by-id twice: already delivered" bash -c \
	"'$MFSCTL' key --push-socket gpu-dc.push get-by-id office training $id 2>&1 | grep -q 'already delivered'"
check "pulled key was not pushed to the inbound subscriber" bash -c "! grep -q '$id' in.out"
check "unknown class: error" bash -c \
	"'$MFSCTL' key --push-socket office.push get gpu-dc nosuch 2>&1 | grep -q 'unknown peer or class'"

# ---- SO_PEERCRED ----
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups \
		"$MFSCTL" key --push-socket office.push get gpu-dc training 2>&1); rc=$?
	echo "uid 65534: $out"
	check "SO_PEERCRED: uid 65534 refused (not in push_allow)" \
		test $rc -ne 0 -a -n "$(grep 'not allowed' <<<"$out")"
	check "SO_PEERCRED: refusal logged with uid" grep -q "push: refused uid 65534" office.log
	out=$(setpriv --reuid 65534 --regid 4242 --clear-groups \
		"$MFSCTL" key --push-socket office.push get gpu-dc training 2>&1); rc=$?
	check "SO_PEERCRED: gid 4242 in push_allow is served" test $rc -eq 0
	out=$(setpriv --reuid 65534 --regid 65534 --groups 4242 \
		"$MFSCTL" key --push-socket office.push get gpu-dc training 2>&1); rc=$?
	check "SO_PEERGROUPS: supplementary group 4242 in push_allow is served" test $rc -eq 0
else
	skip "SO_PEERCRED refusal needs root and setpriv"
fi

# ---- kill -9 while subscribed: no key twice ----
ids_of out.out >before.ids
kill -9 "${PID[office]}"; wait "${PID[office]}" 2>/dev/null
wait "$SUB_OUT" 2>/dev/null
start office
back() { [ "$(cls office "c['pool']['outbound']")" -ge 1 ] 2>/dev/null; }
check "office back after kill -9" wait_for 20 back
"$MFSCTL" key --push-socket office.push --name office-encryptor --timeout 10 --count 4 --ahead 4 \
	subscribe gpu-dc training outbound >out2.out 2>&1
ids_of out2.out >after.ids
check "after restart: 4 keys pushed" test "$(wc -l <after.ids)" -eq 4
check "no key ID delivered twice across the kill" \
	test -z "$(sort before.ids after.ids get.out | sed 's/^id=//' | grep -v '=' | sort | uniq -d)"
check "every pushed key is recorded delivered in the store" bash -c "
	for i in \$(cat before.ids after.ids); do
		'$MFSCTL' --socket office.sock --json keys gpu-dc training | grep -q \"\$i\" || exit 1
	done
	'$MFSCTL' --socket office.sock --json keys gpu-dc training | python3 -c '
import json,sys
ids=set(open(\"before.ids\").read().split()+open(\"after.ids\").read().split())
k={x[\"id\"]:x[\"state\"] for x in json.load(sys.stdin)[\"keys\"]}
sys.exit(0 if all(k.get(i)==\"delivered\" for i in ids) else 1)'"

if [ -n "$EXAMPLE" ]; then
	"$EXAMPLE" "$T/office.push" gpu-dc training 2 >example.out 2>&1
	check "examples/push_subscriber: 2 keys" test "$(grep -c '^key ' example.out)" -eq 2
fi
kill "$SUB_IN" 2>/dev/null
# ---- no key bytes in logs ----
leak() {
	local h
	for h in $(sed -n 's/^[0-9a-f-]* key=//p' out.out in.out; sed -n 's/^key=//p' get.out); do
		grep -qi "$h" office.log gpu-dc.log && return 0
	done
	return 1
}
if leak; then bad "no key bytes in the daemon logs"; else ok "no key bytes in the daemon logs"; fi

echo "$passes passed, $fails failed, $skips skipped"
[ "$fails" -eq 0 ]
