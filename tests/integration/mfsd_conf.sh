# SPDX-License-Identifier: Apache-2.0
#
# Sourced by the mfsd integration tests: one side's mfsd.conf of an
# office <-> gpu-dc link, made from `mfsctl genid` output.
#
#   mfsd_conf ME PEER MYDIR PEERDIR MYPORT PEERPORT PEERPINS STATEDIR
#
# MYDIR/PEERDIR are identity directories, PEERPINS the peer's genid output
# (pin_* lines). The class "PEER $CLASS" uses McEliece-460896 + PSK, with
# ML-KEM-768 optional; CLASS, REKEY, HARD, LOW and HIGH set its name,
# rekey interval, hard lifetime and pool watermarks. The PSK is
# psk/office-gpu-dc.psk. Optional: PUSH=1 adds push_socket = ME.push (mode
# PUSH_MODE, default 0600); PUSH_ALLOW sets the class's push_allow; VOLUME its
# rekey_volume.
# psk/office-gpu-dc.psk. NODE_EXTRA (optional) is appended to [node]
# (e.g. "static_key_grace = 5s").
mfsd_conf() {
	local fpr sha3
	fpr=$(sed -n 's/^pin_cert_sha256 = //p' "$7")
	sha3=$(sed -n 's/^pin_mceliece460896_sha3 = //p' "$7")
	cat <<CONF
[node]
id = $1
listen = 127.0.0.1:$5
identity_key = $3/node.key
identity_cert = $3/node.crt
mceliece460896_key = $3/mceliece460896.sk
mceliece460896_pub = $3/mceliece460896.pk
state_dir = $8
admin_socket = $1.sock
psk_dir = psk
log_level = info
${PUSH:+push_socket = $1.push}
${PUSH:+push_socket_mode = ${PUSH_MODE:-0600}}
${NODE_EXTRA:-}

[peer $2]
address = 127.0.0.1:$6
pin_cert_sha256 = $fpr
pin_mceliece460896 = $4/mceliece460896.pk
pin_mceliece460896_sha3 = $sha3
psk_id = office-gpu-dc

[class $2 ${CLASS:?}]
required = mceliece460896, psk
optional = mlkem768
min_pq = 2
min_families = 2
rekey_interval = ${REKEY:?}
hard_lifetime = ${HARD:?}
pool_low = ${LOW:?}
pool_high = ${HIGH:?}
${PUSH_ALLOW:+push_allow = $PUSH_ALLOW}
${VOLUME:+rekey_volume = $VOLUME}
CONF
}

# Test-bed helpers around mfsd_conf (they need MFSCTL, MFSKEX and MFSD set;
# run in the test's scratch directory):
#   free_port                 print a free TCP port on 127.0.0.1
#   mfsd_ports NAME...        PORT[NAME] = a free port, distinct from the other
#                             PORT entries (the caller declares -A PORT)
#   mfsd_genid NAME DIR PINS  node NAME's identity in DIR, its pins in PINS
#   mfsd_psk                  psk/office-gpu-dc.psk, the PSK every class uses
#   mfsd_nodes NAME...        mfsd_ports, then identity id-NAME (pins
#                             NAME.pins) of each, then mfsd_psk
#   mfsd_pair                 the office <-> gpu-dc link: ports P1 (office) and
#                             P2 (gpu-dc), identities id-office/office.pins and
#                             id-gpu/gpu.pins, mfsd_psk
#   mfsd_pair_confs [OFFICE_PINDIR GPU_PINDIR]
#                             office.conf and gpu-dc.conf of mfsd_pair (state in
#                             state-office, state-gpu-dc); the directories
#                             whose public keys each side pins default to the
#                             peer's identity directory
#   mfsd_start NAME           mfsd on NAME.conf in the background, log NAME.log
#                             (appended; --log-level MFSD_LOG_LEVEL, default
#                             debug); its PID in PID[NAME] and PIDS (caller
#                             declares them)
#   mfsd_kill_all             kill -9 and reap every PID in PIDS
# A failing genid or keygen ends the test (exit 1).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mfsd_ports() {
	local n p
	for n in "$@"; do
		p=$(free_port)
		while [[ " ${PORT[*]} " == *" $p "* ]]; do p=$(free_port); done
		PORT[$n]=$p
	done
}
mfsd_genid() { "$MFSCTL" genid --id "$1" --dir "$2" --mceliece 460896 >"$3" || exit 1; }
mfsd_psk() {
	mkdir -m 700 psk
	"$MFSKEX" keygen --method psk --secret-key psk/office-gpu-dc.psk >/dev/null || exit 1
}
mfsd_nodes() {
	local n
	mfsd_ports "$@"
	for n in "$@"; do mfsd_genid "$n" "id-$n" "$n.pins"; done
	mfsd_psk
}
mfsd_pair() {
	P1=$(free_port) P2=$(free_port)
	while [ "$P2" = "$P1" ]; do P2=$(free_port); done
	mfsd_genid office id-office office.pins
	mfsd_genid gpu-dc id-gpu gpu.pins
	mfsd_psk
}
mfsd_pair_confs() {
	mfsd_conf office gpu-dc id-office "${1:-id-gpu}" "$P1" "$P2" gpu.pins state-office >office.conf
	mfsd_conf gpu-dc office id-gpu "${2:-id-office}" "$P2" "$P1" office.pins state-gpu-dc >gpu-dc.conf
}
mfsd_start() {
	"$MFSD" --config "$1.conf" --foreground --log-level "${MFSD_LOG_LEVEL:-debug}" >>"$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}
mfsd_kill_all() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
