#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# QKD end to end: qkdsim runs the chain office -- relay -- dc (KSAs with
# mutual TLS at office and dc), two mfsd on top use qkd014 through it.
#
#   class qkdopt: mlkem768 + psk required, qkd014 optional
#   class qkdreq: mlkem768 + psk + qkd014 required
#
# Checks: both classes fill with qkd014 in the suite (keys relayed through
# the trusted relay node, link key consumed); an eavesdropper on relay-dc:
# key generation stops, the QBER alarm reaches both mfsd (log, audit,
# status), the optional class continues without qkd014 (reduced factor set
# in status), the required class keeps its pool and then fails closed at
# hard expiry; the eavesdropper gone: qkd014 comes back within a rekey
# interval. Then a KME outage (qkdsim killed) and recovery, and a KME with
# a certificate from another CA (a wrong certificate: an outage as seen by
# that node only, so its optional class does not drop QKD on the peer's word).
#
#   test_qkd.sh MFSD MFSCTL MFS-KEX QKDSIM
set -uo pipefail
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3") QKDSIM=$(realpath "$4")
HERE=$(dirname "$(realpath "$0")")
T=$(mktemp -d /tmp/qkd-test.XXXXXX)
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
K1=$(free_port) K2=$(free_port)
qkd_certs "$T" || exit 1

qkdsim_conf() {	# OFFICE_CERT_BASENAME
	cat <<CONF
[qkdsim]
control = qkdsim.sock
ca = qkd-ca.pem
tick = 20
[node office]
kme_id = kme-office
sae = sae-office
ksa_listen = 127.0.0.1:$K1
ksa_cert = $1.crt
ksa_key = $1.key
[node relay]
kme_id = kme-relay
[node dc]
kme_id = kme-dc
sae = sae-dc
ksa_listen = 127.0.0.1:$K2
ksa_cert = kme-dc.crt
ksa_key = kme-dc.key
[link office-relay]
nodes = office relay
rate = 100k
qber = 2.5
[link relay-dc]
nodes = relay dc
rate = 100k
qber = 3
CONF
}
qkdsim_conf kme-office >qkdsim.conf
qkdsim_conf rogue-kme >qkdsim-rogue.conf

CLASS=bulk REKEY=1h HARD=2h LOW=4 HIGH=8
qkd_classes() {	# PEER
	cat <<CONF

[class $1 qkdopt]
required = mlkem768, psk
optional = qkd014
min_pq = 2
rekey_interval = 6s
hard_lifetime = 60s
pool_low = 2
pool_high = 8

[class $1 qkdreq]
required = mlkem768, psk, qkd014
min_pq = 3
min_families = 3
rekey_interval = 6s
hard_lifetime = 20s
pool_low = 2
pool_high = 8
CONF
}
mfsd_pair_confs
qkd_conf office gpu-dc sae-office sae-dc "$K1"
qkd_conf gpu-dc office sae-dc sae-office "$K2"
qkd_classes gpu-dc >>office.conf
qkd_classes office >>gpu-dc.conf

declare -A PID
MFSD_LOG_LEVEL=info
start() { mfsd_start "$1"; }
start_qkdsim() {	# CONF
	"$QKDSIM" run --config "$1" >>qkdsim.log 2>&1 &
	PID[qkdsim]=$!
	PIDS+=("$!")
	wait_for 10 test -S qkdsim.sock
}
jstatus() { "$MFSCTL" --socket "$1.sock" --json status 2>/dev/null; }
cls() {	# NODE CLASS python-expression on c
	jstatus "$1" | python3 -c "import json,sys
d=json.load(sys.stdin)
c=[c for c in d['peers'][0]['classes'] if c['name']==sys.argv[1]][0]
print($3)" "$2" 2>/dev/null
}
has_qkd() { [ "$(cls "$1" "$2" "'qkd014' in c['suite']")" = True ]; }
no_qkd() { [ "$(cls "$1" "$2" "'qkd014' in c['suite'] or c['exchanges']==0")" = False ]; }
says() { cls "$1" "$2" "'\n'.join(c['degraded'])" | grep -q "$3"; }
full() { [ "$(cls "$1" "$2" "min(c['pool']['outbound'], c['pool']['inbound'])")" -ge "${3:-8}" ]; }
both() { "$@" office && "$@" gpu-dc; }
sim() { "$QKDSIM" status --json --socket qkdsim.sock; }
simf() { sim | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# the qkdsim command line
check "qkdsim check accepts the configuration" "$QKDSIM" check --config qkdsim.conf
printf '[node a]\nkme_id = k\n[link x]\nnodes = a b\nrate = 1k\nqber = 12.345\n' >bad.conf
check "qkdsim check names file:line and the reason" \
	bash -c "'$QKDSIM' check --config bad.conf 2>&1 | grep -q 'bad.conf:6: qber: not a percentage'"
check "qkdsim status without a simulator: a clear error" \
	bash -c "'$QKDSIM' status --socket nosuch.sock 2>err && exit 1; grep -q 'is .qkdsim run. running' err"

start_qkdsim qkdsim.conf || { bad "qkdsim starts"; exit 1; }
check "eavesdrop on an unknown link: refused" \
	bash -c "! '$QKDSIM' eavesdrop nosuch on --socket qkdsim.sock 2>err && grep -q \"unknown link 'nosuch'\" err"
start office
start gpu-dc

qkd_ready() { has_qkd "$1" qkdopt && has_qkd "$1" qkdreq && full "$1" qkdopt && full "$1" qkdreq; }
check "both classes fill with qkd014 in the suite" wait_for 40 both qkd_ready
echo "--- mfsctl status (office)"; "$MFSCTL" --socket office.sock status
check "mfsctl status: the peer's KME ok with keys ready" \
	bash -c "'$MFSCTL' --socket office.sock status | grep -q 'qkd014: KME ok, [0-9]* keys ready'"
check "keys went through the trusted relay node" test "$(simf "[n for n in d['nodes'] if n['name']=='relay'][0]['relayed']")" -gt 0
check "dc's KSA served dec_keys or office's did" test "$(simf "sum(n['dec_keys'] for n in d['nodes'])")" -gt 0
check "link key consumed on both links" test "$(simf "min(l['consumed_bits'][0] for l in d['links'])")" -gt 0
echo "--- qkdsim status"; "$QKDSIM" status --socket qkdsim.sock | head -8

# ---- SIGHUP: the client follows a reloaded configuration, keys and all ----
kill -HUP "${PID[office]}"
check "office reloads its configuration" wait_for 10 grep -q "configuration reloaded" office.log
n_ex=$(cls office qkdopt "c['exchanges']")
"$MFSCTL" --socket office.sock rekey gpu-dc qkdopt >/dev/null
"$MFSCTL" --socket gpu-dc.sock rekey office qkdopt >/dev/null
again() { [ "$(cls office qkdopt "c['exchanges'] > $n_ex and 'qkd014' in c['suite']")" = True ]; }
check "after the reload: exchanges with qkd014 go on" wait_for 20 again

# ---- the eavesdropper on the relay link ----
"$QKDSIM" eavesdrop relay-dc on --socket qkdsim.sock || bad "eavesdrop on"
check "qkdsim: alarm on relay-dc, key generation stopped" \
	test "$(simf "[l for l in d['links'] if l['name']=='relay-dc'][0]['alarm']")" = True
alarm_logged() { grep -q "SECURITY: QKD alarm.*QBER alarm on link relay-dc" "$1.log"; }
check "the QBER alarm reaches both mfsd (log)" wait_for 15 both alarm_logged
check "audited as qkd-alarm" bash -c "'$MFSCTL' --socket office.sock audit | grep -q qkd-alarm"
alarm_status() { says "$1" qkdreq "QKD alarm since"; }
check "status shows the QKD alarm on the classes using qkd014" both alarm_status
check "mfsctl status: the peer's QKD line says ALARM" \
	bash -c "'$MFSCTL' --socket gpu-dc.sock status | grep -q 'qkd014: KME OUTAGE/ALARM since .*QBER alarm on link relay-dc'"
kept() { has_qkd "$1" qkdreq && full "$1" qkdreq 1; }
check "required: no exchange without qkd014, the pool is kept meanwhile" both kept
"$MFSCTL" --socket office.sock rekey gpu-dc qkdopt >/dev/null
"$MFSCTL" --socket gpu-dc.sock rekey office qkdopt >/dev/null
reduced() { no_qkd "$1" qkdopt && says "$1" qkdopt "reduced factor set"; }
check "optional: exchanges go on without qkd014, reduced factor set shown" wait_for 20 both reduced
echo "--- mfsctl status (gpu-dc) under the eavesdropper"; "$MFSCTL" --socket gpu-dc.sock status
closed() { [ "$(cls "$1" qkdreq "c['state']")" = fail-closed ]; }
check "required: fails closed at hard expiry" wait_for 40 both closed
grep -h "fail closed\|SECURITY" office.log | tail -3

"$QKDSIM" eavesdrop relay-dc off --socket qkdsim.sock || bad "eavesdrop off"
back() { has_qkd "$1" qkdopt && ! says "$1" qkdopt "reduced factor set" && full "$1" qkdreq 2; }
check "eavesdropper gone: qkd014 back in both classes within a rekey interval" wait_for 25 both back

# ---- KME outage and recovery ----
kill -9 "${PID[qkdsim]}"; wait "${PID[qkdsim]}" 2>/dev/null
outage() { says "$1" qkdopt "QKD alarm since"; }
check "KME outage seen by both nodes" wait_for 20 both outage
"$MFSCTL" --socket office.sock rekey gpu-dc qkdopt >/dev/null
"$MFSCTL" --socket gpu-dc.sock rekey office qkdopt >/dev/null
check "optional class continues without qkd014 during the outage" wait_for 20 both reduced
rm -f qkdsim.sock
start_qkdsim qkdsim.conf || bad "qkdsim restarts"
check "KME back: qkd014 back in the optional class" wait_for 30 both back

# ---- a KME certificate from another CA, at office only ----
kill -9 "${PID[qkdsim]}"; wait "${PID[qkdsim]}" 2>/dev/null
rm -f qkdsim.sock
start_qkdsim qkdsim-rogue.conf || bad "qkdsim (rogue cert) starts"
cert_bad() { grep -q "QKD.*\(certificate\|SSL\)" office.log; }
check "office refuses the KME's wrong certificate" wait_for 20 cert_bad
check "office: outage in status" wait_for 10 outage office
n0=$(cls gpu-dc qkdopt "c['exchanges']")
"$MFSCTL" --socket gpu-dc.sock rekey office qkdopt >/dev/null
"$MFSCTL" --socket office.sock rekey gpu-dc qkdopt >/dev/null
sleep 4
check "dc (KME fine) does not drop qkd014 on office's word: no reduced exchange" \
	test "$(cls gpu-dc qkdopt "'qkd014' in c['suite'] or c['exchanges']==$n0")" = True

check "no key material in the logs" bash -c "! grep -qiE '\"key\":|[A-Za-z0-9+/]{43}=' office.log gpu-dc.log qkdsim.log"

echo "$pass passed, $fail failed"
if [ $fail -ne 0 ]; then
	echo "--- office.log"; tail -40 office.log
	echo "--- gpu-dc.log"; tail -40 gpu-dc.log
	echo "--- qkdsim.log"; tail -20 qkdsim.log
fi
[ $fail -eq 0 ]
