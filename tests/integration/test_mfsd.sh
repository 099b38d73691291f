#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Two mfsd on loopback, end to end: identities (mfsctl genid), configs with
# free ports, pools filling to the high watermark, status/keys on both sides,
# rekey, revoke + restore of mlkem768, kill -9 and restart, a bad config, and
# no key bytes (the PSK) in any log or database file.
#
#   test_mfsd.sh MFSD MFSCTL MFS-KEX
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/mfsd-test.XXXXXX)
PIDS=()
fails=0 passes=0

cleanup() {
	mfsd_kill_all
	rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/lib.sh"
ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }

cd "$T" || exit 1
. "$HERE/mfsd_conf.sh"
mfsd_pair

CLASS=training REKEY=1h HARD=2h LOW=8 HIGH=32
mfsd_pair_confs

declare -A PID
start() { mfsd_start "$1"; }
ctl() { local n=$1; shift; "$MFSCTL" --socket "$n.sock" "$@"; }
jctl() { local n=$1; shift; "$MFSCTL" --socket "$n.sock" --json "$@"; }
pool() {	# NAME DIR -> depth
	jctl "$1" status 2>/dev/null | python3 -c 'import json,sys
d=json.load(sys.stdin); print(d["peers"][0]["classes"][0]["pool"][sys.argv[1]])' "$2" 2>/dev/null || echo -1
}
field() {	# NAME python-expression on d
	jctl "$1" status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); c=d['peers'][0]['classes'][0]; print($2)" 2>/dev/null
}
pools_full() {
	for n in office gpu-dc; do
		for d in outbound inbound; do [ "$(pool $n $d)" -ge 32 ] || return 1; done
	done
}

start office
start gpu-dc
check "both pools reach the high watermark" wait_for 20 pools_full
check "same key counts on both sides" \
	test "$(pool office outbound)/$(pool office inbound)" = "$(pool gpu-dc inbound)/$(pool gpu-dc outbound)"
echo "--- mfsctl status (office)"; ctl office status
echo "--- mfsctl status (gpu-dc)"; ctl gpu-dc status
check "status: suite with mlkem768" grep -q "mlkem768" <<<"$(field office "','.join(c['suite'])")"
check "keys: metadata listed" bash -c "'$MFSCTL' --socket office.sock keys | grep -q 'training *outbound *active'"
check "keys: no key bytes in the JSON" bash -c "! '$MFSCTL' --socket office.sock --json keys | grep -qi '\"key\"'"

n0=$(field office "c['exchanges']")
check "rekey accepted" ctl gpu-dc rekey office training
check "rekey: a new exchange ran" wait_for 10 bash -c "[ \"\$('$MFSCTL' --socket office.sock --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"peers\"][0][\"classes\"][0][\"exchanges\"])')\" -gt $n0 ]"

check "revoke mlkem768" ctl office method revoke mlkem768 --reason "integration test"
nomlkem() { s=$(field "$1" "','.join(c['suite'])"); [ -n "$s" ] && ! grep -q mlkem768 <<<"$s"; }
check "office: new suite without mlkem768" wait_for 10 nomlkem office
check "gpu-dc: new suite without mlkem768" wait_for 10 nomlkem gpu-dc
check "pools refilled after revoke" wait_for 20 pools_full
for n in office gpu-dc; do
	check "$n: no pooled key derived with mlkem768" \
		bash -c "'$MFSCTL' --socket $n.sock method usage mlkem768 | grep -q 'no key in a pool'"
	check "$n: old keys withdrawn" bash -c "'$MFSCTL' --socket $n.sock keys | grep -q withdrawn"
	check "$n: revocation audited" bash -c "'$MFSCTL' --socket $n.sock audit | grep -q method-revoke"
done
check "office: audit names the admin uid" bash -c "'$MFSCTL' --socket office.sock audit | grep -q 'uid:$(id -u) method-revoke'"
check "method list shows it revoked" bash -c "'$MFSCTL' --socket office.sock method list | grep -q 'mlkem768.*revoked'"
check "revocation persisted" grep -q "^0101 " state-office/revoked
check "restore mlkem768" ctl office method restore mlkem768
check "restore audited" bash -c "'$MFSCTL' --socket office.sock audit | grep -q method-restore"
check "peer lifted its copy" wait_for 10 bash -c "! '$MFSCTL' --socket gpu-dc.sock method list | grep -q 'mlkem768.*revoked'"
ctl office rekey gpu-dc >/dev/null
withmlkem() { grep -q mlkem768 <<<"$(field "$1" "','.join(c['suite'])")"; }
check "suite with mlkem768 again" wait_for 10 withmlkem office

# kill -9 one side, restart: recovery within 10 s, the store survives, no key id twice
ids_before=$(ctl office keys | awk 'NR>1 {print $1}' | sort)
kill -9 "${PID[gpu-dc]}"; wait "${PID[gpu-dc]}" 2>/dev/null
check "office sees the peer unreachable" wait_for 10 bash -c "'$MFSCTL' --socket office.sock status | grep -q unreachable"
check "office status degraded while the peer is away" bash -c "'$MFSCTL' --socket office.sock status | grep -q 'peer unreachable since'"
check "office keeps its pool while the peer is away" test "$(pool office outbound)" -ge 32
t0=$SECONDS
start gpu-dc
reconnected() { [ "$(field office "d['peers'][0]['connected']")" = True ] && [ "$(field gpu-dc "d['peers'][0]['connected']")" = True ]; }
check "recovery within 10 s" wait_for 10 reconnected
echo "    (reconnected after $((SECONDS - t0)) s)"
check "pools full after the restart" wait_for 20 pools_full
ids_after=$(ctl office keys | awk 'NR>1 {print $1}' | sort)
check "no key id stored twice (office)" test -z "$(uniq -d <<<"$ids_after")"
check "no key id stored twice (gpu-dc)" test -z "$(ctl gpu-dc keys | awk 'NR>1 {print $1}' | sort | uniq -d)"
check "key ids before the crash are still there" test -z "$(comm -23 <(echo "$ids_before") <(echo "$ids_after"))"
check "same key counts after the restart" \
	test "$(pool office outbound)/$(pool office inbound)" = "$(pool gpu-dc inbound)/$(pool gpu-dc outbound)"

# bad config: non-zero exit, file:line message
sed 's/^pool_low = 8/pool_low = eight/' office.conf >bad.conf
out=$("$MFSD" --config bad.conf --foreground 2>&1); rc=$?
check "bad config: non-zero exit" test "$rc" -ne 0
check "bad config: file:line message" grep -q "bad.conf:[0-9][0-9]*: " <<<"$out"
echo "    ($out)"

# admin socket: mode 0600
check "admin socket is 0600" test "$(stat -c %a office.sock)" = 600

# no key bytes anywhere: the PSK, raw and hex, in logs and databases
for n in office gpu-dc; do kill "${PID[$n]}"; wait "${PID[$n]}" 2>/dev/null; done
hex=$(od -An -tx1 psk/office-gpu-dc.psk | tr -d ' \n')
nokey() {
	for f in office.log gpu-dc.log state-*/keys.db*; do
		[ -f "$f" ] || continue
		grep -qiF "$hex" "$f" && { echo "hex PSK in $f"; return 1; }
		python3 - "$f" psk/office-gpu-dc.psk <<'EOF' || { echo "raw PSK in $f"; return 1; }
import sys
data = open(sys.argv[1], 'rb').read(); psk = open(sys.argv[2], 'rb').read()
sys.exit(1 if psk in data else 0)
EOF
	done
}
check "no PSK bytes in logs or databases" nokey
check "logs name the events" bash -c "grep -q 'exchange done' office.log && grep -q 'revoked' office.log && grep -q connected gpu-dc.log"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
