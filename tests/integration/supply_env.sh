# SPDX-License-Identifier: Apache-2.0
#
# Sourced by the key supply integration tests: two mfsd (office, gpu-dc) on
# loopback, each with a [supply] face (ETSI GS QKD 014 over mTLS) and the SAE
# table of docs/key-supply.md:
#
#   office   local SAE_A (master; class training), local SAE_X (master; class
#            other), remote SAE_B (gpu-dc, training), remote SAE_D (gpu-dc, other)
#   gpu-dc   local SAE_B (slave; training), local SAE_D (slave; other),
#            remote SAE_A (office, training), remote SAE_X (office, other)
#
# One CA (pki/) issues both servers' and every SAE's certificate
# (scripts/sae-certs); rogue/ is a second CA that mfsd does not trust.
# Needs: MFSD MFSCTL MFSKEX SRC (the source tree); sets T, PORTS, start/stop.
# Variables: LOW HIGH (pool watermarks of class training), SUPPLY_EXTRA (lines
# for [supply]), ROLE_A ROLE_B (roles of SAE_A at the office and SAE_B at
# gpu-dc: master / slave by default), STATE_OFFICE (office's state_dir).
set -uo pipefail
T=$(mktemp -d /tmp/supply-test.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${SUPPLY_MNT:-}" ] && umount "$SUPPLY_MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port) P2=$(free_port) S1=$(free_port) S2=$(free_port)

"$MFSCTL" genid --id office --dir id-office --mceliece 460896 >office.pins || exit 1
"$MFSCTL" genid --id gpu-dc --dir id-gpu --mceliece 460896 >gpu.pins || exit 1
mkdir -m 700 psk
"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1

SAECERTS="$SRC/scripts/sae-certs"
"$SAECERTS" init pki >/dev/null || exit 1
"$SAECERTS" server pki kme-office 127.0.0.1 localhost >/dev/null || exit 1
"$SAECERTS" server pki kme-gpu-dc 127.0.0.1 localhost >/dev/null || exit 1
for s in SAE_A SAE_X SAE_B SAE_D; do "$SAECERTS" client pki "$s" >/dev/null || exit 1; done
"$SAECERTS" init rogue >/dev/null || exit 1
"$SAECERTS" client rogue SAE_A >/dev/null || exit 1

. "$SRC/tests/integration/mfsd_conf.sh"
CLASS=training REKEY=1h HARD=2h LOW=${LOW:-16} HIGH=${HIGH:-64}
other_class() {	# PEER
	cat <<CONF

[class $1 other]
required = mceliece460896, psk
min_pq = 2
min_families = 2
rekey_interval = 1h
hard_lifetime = 2h
pool_low = 4
pool_high = 16
CONF
}
supply_section() {	# PORT NAME
	cat <<CONF

[supply]
listen = 127.0.0.1:$1
cert = pki/kme-$2.crt
key = pki/kme-$2.key
ca = pki/ca.crt
threads = 2
${SUPPLY_EXTRA:-}
CONF
}
{
	mfsd_conf office gpu-dc id-office id-gpu "$P1" "$P2" gpu.pins "${STATE_OFFICE:-state-office}"
	other_class gpu-dc
	supply_section "$S1" office
	cat <<CONF

[sae SAE_A]
peer = gpu-dc
classes = training
role = ${ROLE_A:-master}

[sae SAE_X]
peer = gpu-dc
classes = other
role = master

[sae SAE_B]
location = remote
peer = gpu-dc
classes = training

[sae SAE_D]
location = remote
peer = gpu-dc
classes = other
CONF
} >office.conf
{
	mfsd_conf gpu-dc office id-gpu id-office "$P2" "$P1" office.pins state-gpu-dc
	other_class office
	supply_section "$S2" gpu-dc
	cat <<CONF

[sae SAE_B]
peer = office
classes = training
role = ${ROLE_B:-slave}

[sae SAE_D]
peer = office
classes = other
role = slave

[sae SAE_A]
location = remote
peer = office
classes = training

[sae SAE_X]
location = remote
peer = office
classes = other
CONF
} >gpu-dc.conf

declare -A PID
start() {	# NAME
	"$MFSD" --config "$1.conf" --foreground --log-level info >>"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
jctl() { local n=$1; shift; "$MFSCTL" --socket "$n.sock" --json "$@"; }
pool() {	# NAME CLASS DIR -> depth
	jctl "$1" status 2>/dev/null | jq -r --arg c "$2" --arg d "$3" \
		'.peers[0].classes[] | select(.name == $c) | .pool[$d]' 2>/dev/null || echo -1
}
wait_for() {	# SECONDS command...
	local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
	return 1
}
pools_at_least() {	# N [CLASS...]
	local classes=("${@:2}")
	[ ${#classes[@]} -gt 0 ] || classes=(training other)
	for n in office gpu-dc; do
		for c in "${classes[@]}"; do
			for d in outbound inbound; do
				local v; v=$(pool $n $c $d)
				[ -n "$v" ] && [ "$v" != null ] && [ "$v" -ge "$1" ] || return 1
			done
		done
	done
}
supply_up() { curl -s -o /dev/null --cacert pki/ca.crt "https://127.0.0.1:$1/" 2>/dev/null; [ $? -ne 7 ]; }
