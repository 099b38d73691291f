# SPDX-License-Identifier: Apache-2.0
# Sourced by the QKD integration tests: a throw-away PKI for the KSAs' mutual TLS,
# and the qkd014 settings of an mfsd_conf.sh configuration.
#
#   qkd_certs DIR   writes into DIR:
#     qkd-ca.pem / qkd-ca.key          the CA of the QKD network (KMEs and SAEs)
#     kme-office.{crt,key} kme-dc.{crt,key}   KSA server certificates (SAN IP:127.0.0.1)
#     sae-office.{crt,key} sae-dc.{crt,key}   SAE client certificates (CN = SAE ID)
#     rogue-ca.pem, rogue-kme.{crt,key}       a KME certificate from another CA
# EC P-256 keys; valid for a day.
qkd_certs() {
	local d=$1 n
	(
		set -e
		cd "$d"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj /CN=qkd-test-ca -keyout qkd-ca.key -out qkd-ca.pem 2>/dev/null
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj /CN=rogue-ca -keyout rogue-ca.key -out rogue-ca.pem 2>/dev/null
		for n in kme-office kme-dc sae-office sae-dc rogue-kme; do
			local ca=qkd-ca ext
			[ "$n" = rogue-kme ] && ca=rogue-ca
			case $n in
			kme-*|rogue-*) ext="subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" ;;
			*) ext="extendedKeyUsage=clientAuth" ;;
			esac
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
				-keyout "$n.key" -out "$n.csr" 2>/dev/null
			printf '%s\n' "$ext" > "$n.ext"
			openssl x509 -req -in "$n.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
				-days 1 -extfile "$n.ext" -out "$n.crt" 2>/dev/null
			rm -f "$n.csr" "$n.ext"
		done
		chmod 600 ./*.key
	)
}

# qkd_conf NAME PEER MYSAE PEERSAE KMEPORT: NAME.conf (mfsd_conf output) gets
# qkd_kme = 127.0.0.1:KMEPORT with MYSAE's certificate (qkd_certs) in [node]
# and the peer's SAE ID PEERSAE in [peer PEER].
qkd_conf() {
	sed -i -e "/^\[node\]/a qkd_kme = 127.0.0.1:$5\nqkd_sae_id = $3\nqkd_cert = $3.crt\nqkd_key = $3.key\nqkd_ca = qkd-ca.pem" \
		-e "/^\[peer $2\]/a qkd_sae_id = $4" "$1.conf"
}
