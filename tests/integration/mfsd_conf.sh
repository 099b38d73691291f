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
