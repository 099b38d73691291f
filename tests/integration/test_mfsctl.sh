#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfsctl end to end: genid writes an identity with the documented file
# modes and prints pins that the openssl tool computes the same way
# (SHA-256 of the DER certificate, SHA3-256 of the McEliece public key);
# pins re-prints them; every refusal (existing identity, bad ID, bad
# options, damaged identity) exits with the documented status and message.
#
# Usage: test_mfsctl.sh PATH/TO/mfsctl
set -uo pipefail

CTL=$(realpath "${1:?usage: test_mfsctl.sh mfsctl}")
work=$(mktemp -d "${TMPDIR:-/tmp}/mfsctl-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }
# expect_fail RC_WANTED PATTERN -- command...: must exit RC_WANTED and print PATTERN on stderr
expect_fail() {
	local want=$1 pat=$2; shift 3
	"$@" >out.txt 2>err.txt
	local rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pat" err.txt; then ok "refused ($pat): $*"
	else bad "expected rc=$want and '$pat' from: $* (rc=$rc, stderr: $(head -c 300 err.txt))"; fi
}
expect_ok() { if "$@" >out.txt 2>err.txt; then ok "$*"; else bad "$* failed: $(head -c 300 err.txt)"; fi; }
mode() { stat -c %a "$1"; }
# pin NAME FILE: the value of "NAME = hex" in FILE
pin() { sed -n "s/^$1 = \([0-9a-f]*\)\$/\1/p" "$2"; }
cert_fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
sha3() { openssl dgst -sha3-256 -r "$1" | cut -d' ' -f1; }

# McEliece is optional at build time; without it genid needs --mceliece none.
cmce=(--mceliece 460896)
if ! "$CTL" genid --id probe --dir probe >/dev/null 2>&1; then
	grep -q "not built" <("$CTL" genid --id probe --dir probe2 2>&1) && cmce=(--mceliece none)
fi
rm -rf probe probe2

# 1. genid: files, modes, pins.
expect_ok "$CTL" genid --id mfs-a --dir id-a "${cmce[@]}"
cp out.txt genid-a.txt
[ "$(mode id-a)" = 700 ] && ok "identity directory is 0700" || bad "directory mode $(mode id-a)"
for f in node.key mceliece.sk; do
	[ "${cmce[1]}" = none ] && [ "$f" = mceliece.sk ] && continue
	[ "$(mode id-a/$f)" = 600 ] && ok "$f is 0600" || bad "$f mode $(mode id-a/$f)"
done
for f in node.crt node.id mceliece.pk; do
	[ "${cmce[1]}" = none ] && [ "$f" = mceliece.pk ] && continue
	[ "$(mode id-a/$f)" = 644 ] && ok "$f is 0644" || bad "$f mode $(mode id-a/$f)"
done
[ "$(cat id-a/node.id)" = mfs-a ] && ok "node.id holds the ID" || bad "node.id: $(cat id-a/node.id)"
ls id-a.tmp-* >/dev/null 2>&1 && bad "temporary directory left behind" || ok "no temporary directory left"
grep -q "^node id: *mfs-a$" genid-a.txt && ok "prints the node ID" || bad "node ID not printed"

fpr=$(pin tls_fingerprint genid-a.txt)
[ ${#fpr} -eq 64 ] && ok "tls_fingerprint line" || bad "no tls_fingerprint line: $(cat genid-a.txt)"
[ "$fpr" = "$(cert_fpr id-a/node.crt)" ] && ok "tls_fingerprint = openssl x509 -fingerprint -sha256" ||
	bad "tls_fingerprint $fpr != openssl $(cert_fpr id-a/node.crt)"
openssl x509 -in id-a/node.crt -noout -text >x509.txt 2>&1
grep -q "Public Key Algorithm: ML-DSA-65" x509.txt && ok "certificate key is ML-DSA-65" || bad "certificate key type"
grep -q "Subject: CN *= *mfs-a" x509.txt && ok "certificate CN is the node ID" || bad "certificate subject"
openssl verify -CAfile id-a/node.crt id-a/node.crt >/dev/null 2>&1 &&
	ok "openssl verifies the self-signed certificate" || bad "openssl verify of the certificate"
openssl pkey -in id-a/node.key -pubout -out key.pub 2>/dev/null && openssl x509 -in id-a/node.crt -noout -pubkey >cert.pub &&
	cmp -s key.pub cert.pub && ok "node.key matches node.crt" || bad "node.key does not match node.crt"
if [ "${cmce[1]}" != none ]; then
	sha=$(pin mceliece_sha3 genid-a.txt)
	[ "$sha" = "$(sha3 id-a/mceliece.pk)" ] && ok "mceliece_sha3 = openssl dgst -sha3-256" ||
		bad "mceliece_sha3 $sha != openssl $(sha3 id-a/mceliece.pk)"
	[ "$(stat -c %s id-a/mceliece.pk)" = 524160 ] && ok "mceliece460896 public key size" || bad "pk size"
	[ "$(stat -c %s id-a/mceliece.sk)" = 13608 ] && ok "mceliece460896 secret key size" || bad "sk size"
fi
# Nothing secret printed: no PEM, no key bytes.
if grep -q "PRIVATE KEY" genid-a.txt; then bad "private key printed"; else ok "no private key printed"; fi

# 2. pins re-prints the same pins.
expect_ok "$CTL" pins --dir id-a
diff <(grep -E '^(tls_fingerprint|mceliece_sha3) = ' genid-a.txt) <(grep -E '^(tls_fingerprint|mceliece_sha3) = ' out.txt) >/dev/null &&
	ok "pins prints what genid printed" || bad "pins differ from genid"

# 3. Refusals.
before=$(cert_fpr id-a/node.crt)
expect_fail 1 "already holds an identity" -- "$CTL" genid --id mfs-a --dir id-a "${cmce[@]}"
[ "$(cert_fpr id-a/node.crt)" = "$before" ] && ok "existing identity untouched" || bad "identity replaced without --force"
expect_fail 2 "invalid node ID" -- "$CTL" genid --id Bad_Name --dir id-x
expect_fail 2 "invalid node ID" -- "$CTL" genid --id -a --dir id-x
expect_fail 2 "invalid node ID" -- "$CTL" genid --id "$(printf 'a%.0s' {1..64})" --dir id-x
[ -e id-x ] && bad "a refused genid created its directory" || ok "refused genid wrote nothing"
expect_fail 2 "are required" -- "$CTL" genid --id mfs-x
expect_fail 2 "are required" -- "$CTL" genid --dir id-x
expect_fail 2 "is not 460896, 6688128 or none" -- "$CTL" genid --id mfs-x --dir id-x --mceliece 348864
expect_fail 2 "unknown or incomplete option" -- "$CTL" genid --id mfs-x --dir id-x --bogus
expect_fail 2 "unexpected argument" -- "$CTL" genid --id mfs-x --dir id-x extra
expect_fail 2 "unknown command" -- "$CTL" frobnicate
expect_fail 2 "Usage" -- "$CTL"
expect_fail 2 "is required" -- "$CTL" pins
expect_fail 1 "No such file" -- "$CTL" pins --dir nonexistent

# --force replaces the identity: new pins.
expect_ok "$CTL" genid --id mfs-a2 --dir id-a --force --mceliece none
[ "$(cert_fpr id-a/node.crt)" != "$before" ] && ok "--force replaced the identity" || bad "--force kept the old certificate"
[ -e id-a/mceliece.pk ] && bad "old McEliece key left behind" || ok "old McEliece key removed"
[ "$(pin tls_fingerprint out.txt)" = "$(cert_fpr id-a/node.crt)" ] && ok "new pin printed" || bad "new pin"
[ "$(cat id-a/node.id)" = mfs-a2 ] && ok "new node ID" || bad "node.id after --force"

# A damaged identity is refused by pins.
chmod 644 id-a/node.key
expect_fail 1 "node.key: accessible by group or others" -- "$CTL" pins --dir id-a
chmod 600 id-a/node.key
expect_ok "$CTL" genid --id mfs-b --dir id-b --mceliece none
cp id-b/node.crt id-a/node.crt
expect_fail 1 "node.crt: does not match node.key" -- "$CTL" pins --dir id-a
chmod 777 id-b
expect_fail 1 "writable by group or others" -- "$CTL" pins --dir id-b
chmod 700 id-b

# 4. Help and version.
expect_ok "$CTL" --help
grep -q genid out.txt && grep -q pins out.txt && ok "--help lists genid and pins" || bad "--help"
expect_ok "$CTL" genid --help
grep -q -- "--mceliece" out.txt && ok "genid --help" || bad "genid --help"
expect_ok "$CTL" --version

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
