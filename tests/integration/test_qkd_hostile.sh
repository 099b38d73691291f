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

cleanup() {
	mfsd_kill_all
	rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/lib.sh"
. "$HERE/mfsd_conf.sh"
. "$HERE/qkd_certs.sh"

cd "$T" || exit 1
mfsd_pair
K=$(free_port)
qkd_certs "$T" || exit 1

echo good >mode
python3 "$HERE/hostile_kme.py" "$K" kme-office.crt kme-office.key qkd-ca.pem mode 2>kme.log &
PIDS+=("$!")
KME_PID=$!

CLASS=bulk REKEY=1h HARD=2h LOW=4 HIGH=8
mfsd_pair_confs
qkd_conf office gpu-dc sae-office sae-dc "$K"
qkd_conf gpu-dc office sae-dc sae-office "$K"
qkdopt() { printf '\n[class %s qkdopt]\nrequired = mlkem768, psk\noptional = qkd014\nmin_pq = 2\npool_low = 2\npool_high = 8\n' "$1"; }
qkdopt gpu-dc >>office.conf
qkdopt office >>gpu-dc.conf

declare -A PID
start() { : >"$1.log"; mfsd_start "$1"; }	# a fresh log for each run: the checks read it
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

echo "$pass passed, $fail failed"
if [ $fail -ne 0 ]; then
	echo "--- office.log"; tail -30 office.log
	echo "--- gpu-dc.log"; tail -30 gpu-dc.log
	echo "--- kme.log"; tail -10 kme.log
fi
[ $fail -eq 0 ]
