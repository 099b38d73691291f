#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfsd's qkd014 client against a hostile KME (tests/integration/hostile_kme.py):
# first a well-behaved run (qkd014 is used), then short keys, a key ID twice,
# too few keys, keys under IDs that were not asked for (another SAE's), and a
# Status about another SAE. Each answer must be refused with its reason in
# the log, and no exchange may use qkd014 with such a KME.
#
#   test_qkd_hostile.sh MFSD MFSCTL MFS-KEX
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/qkd-hostile.XXXXXX)
PIDS=()
fails=0 passes=0

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
wait_for() {
	local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.25; done
	return 1
}

cd "$T" || exit 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port) P2=$(free_port) K=$(free_port)
. "$HERE/qkd_certs.sh"
qkd_certs "$T" || exit 1
"$MFSCTL" genid --id office --dir id-office --mceliece 460896 >office.pins || exit 1
"$MFSCTL" genid --id gpu-dc --dir id-gpu --mceliece 460896 >gpu.pins || exit 1
mkdir -m 700 psk
"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1

echo good >mode
python3 "$HERE/hostile_kme.py" "$K" kme-office.crt kme-office.key qkd-ca.pem mode 2>kme.log &
PIDS+=("$!")
KME_PID=$!

. "$HERE/mfsd_conf.sh"
CLASS=bulk REKEY=1h HARD=2h LOW=4 HIGH=8
conf() {	# ME PEER MYDIR PEERDIR MYPORT PEERPORT PEERPINS STATEDIR MYSAE PEERSAE
	mfsd_conf "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" | sed \
		-e "/^\[node\]/a qkd_kme = 127.0.0.1:$K\nqkd_sae_id = $9\nqkd_cert = $9.crt\nqkd_key = $9.key\nqkd_ca = qkd-ca.pem" \
		-e "/^\[peer $2\]/a qkd_sae_id = ${10}"
	printf '\n[class %s qkdopt]\nrequired = mlkem768, psk\noptional = qkd014\nmin_pq = 2\npool_low = 2\npool_high = 8\n' "$2"
}
conf office gpu-dc id-office id-gpu "$P1" "$P2" gpu.pins state-office sae-office sae-dc >office.conf
conf gpu-dc office id-gpu id-office "$P2" "$P1" office.pins state-gpu-dc sae-dc sae-office >gpu-dc.conf

declare -A PID
start() {
	"$MFSD" --config "$1.conf" --foreground --log-level debug >"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
stop() { kill "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; }
suite() {
	"$MFSCTL" --socket "$1.sock" --json status 2>/dev/null | python3 -c "import json,sys
d=json.load(sys.stdin); c=[c for c in d['peers'][0]['classes'] if c['name']=='qkdopt'][0]
print(','.join(c['suite']))" 2>/dev/null
}
used_qkd() { grep -q "class qkdopt: exchange done.*qkd014" office.log gpu-dc.log; }
with_qkd() { [[ "$(suite office)" == *qkd014* ]]; }

for run in good short dup count wrongid wrongsae; do
	echo "$run" >mode
	start office
	start gpu-dc
	case $run in
	good)
		check "a well-behaved KME: qkd014 in the suite" wait_for 30 with_qkd ;;
	short)
		check "short keys refused" wait_for 20 grep -q "enc_keys: malformed answer refused: key 0 is not .*256 bits" office.log gpu-dc.log ;;
	dup)
		check "a key ID twice refused" wait_for 20 grep -q "enc_keys: malformed answer refused: key_ID given twice" office.log gpu-dc.log ;;
	count)
		check "too few keys refused" wait_for 20 grep -q "enc_keys: malformed answer refused: 15 keys instead of 16" office.log gpu-dc.log ;;
	wrongid)
		check "keys for IDs not asked for (another SAE's) refused" wait_for 20 grep -q "dec_keys: malformed answer refused: key 0 has a key_ID that was not asked for" office.log gpu-dc.log ;;
	wrongsae)
		check "a Status about another SAE refused" wait_for 20 grep -q "status: malformed answer refused: status is for SAEs sae-someone-else" office.log gpu-dc.log ;;
	esac
	if [ "$run" != good ]; then
		sleep 2
		check "$run: no exchange used qkd014" bash -c "! grep -q 'class qkdopt: exchange done.*qkd014' office.log gpu-dc.log"
	fi
	stop office
	stop gpu-dc
	rm -rf state-office state-gpu-dc
done
check "no key material in the logs" bash -c "! grep -qE '[A-Za-z0-9+/]{43}=' office.log gpu-dc.log"

echo "$passes passed, $fails failed"
if [ $fails -ne 0 ]; then
	echo "--- office.log"; tail -30 office.log
	echo "--- gpu-dc.log"; tail -30 gpu-dc.log
	echo "--- kme.log"; tail -10 kme.log
fi
[ $fails -eq 0 ]
