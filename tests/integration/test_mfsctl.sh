#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfsctl end to end: genid writes an identity with the documented file
# modes (one McEliece pair per parameter set) and prints, as configuration
# lines, pins that the openssl tool computes the same way (SHA-256 of the DER
# certificate, SHA3-256 of each McEliece public key); pins re-prints them and
# still reads the legacy single-pair layout; every refusal (existing
# identity, bad ID, bad options, damaged identity) exits with the documented
# status and message.
#
# With CONFIG_CHECK (tests/integration/config_check.c), the deployment of
# docs/identity.md end to end: two sites run genid, each copies the other's
# McEliece public keys as the printed lines say, pastes the printed [peer]
# and [node] blocks into its mfsd.conf, and the daemon's configuration loader
# accepts the result, with pins that match the other site's files.
#
# Usage: test_mfsctl.sh PATH/TO/mfsctl [PATH/TO/config_check]
set -uo pipefail

CTL=$(realpath "${1:?usage: test_mfsctl.sh mfsctl [config_check]}")
CHECK=${2:+$(realpath "$2")}
. "$(dirname "$(realpath "$0")")/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/mfsctl-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

mode() { stat -c %a "$1"; }
# pin NAME FILE: the value of the configuration line "NAME = hex" in FILE
pin() { sed -n "s/^$1 = \([0-9a-f]*\)\$/\1/p" "$2"; }
cert_fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
sha3() { openssl dgst -sha3-256 -r "$1" | cut -d' ' -f1; }

# conf FILE: its configuration lines (no comments, no blank lines)
conf() { grep -v -e '^#' -e '^$' "$1"; }
# value KEY FILE: the value of the configuration line "KEY = value" in FILE
value() { sed -n "s/^$1 = //p" "$2"; }

# McEliece is optional at build time; without it genid needs --mceliece none.
# cmce: the options of genid; sets: the parameter sets it then creates.
cmce=(--mceliece 460896,6688128)
sets=(460896 6688128)
if ! "$CTL" genid --id probe --dir probe >/dev/null 2>&1; then
	grep -q "not built" <("$CTL" genid --id probe --dir probe2 2>&1) && cmce=(--mceliece none) && sets=()
fi
rm -rf probe probe2
declare -A pk_size=([460896]=524160 [6688128]=1044992) sk_size=([460896]=13608 [6688128]=13932)

# 1. genid: files, modes, pins.
expect_ok "$CTL" genid --id mfs-a --dir id-a "${cmce[@]}"
cp out.txt genid-a.txt
[ "$(mode id-a)" = 700 ] && ok "identity directory is 0700" || bad "directory mode $(mode id-a)"
for f in node.key "${sets[@]/%/.sk}"; do
	f=${f/#[0-9]/mceliece&}
	[ "$(mode id-a/$f)" = 600 ] && ok "$f is 0600" || bad "$f mode $(mode id-a/$f)"
done
for f in node.crt node.id "${sets[@]/%/.pk}"; do
	f=${f/#[0-9]/mceliece&}
	[ "$(mode id-a/$f)" = 644 ] && ok "$f is 0644" || bad "$f mode $(mode id-a/$f)"
done
[ -e id-a/mceliece.pk ] || [ -e id-a/mceliece.sk ] && bad "legacy mceliece.pk/.sk written" ||
	ok "no legacy mceliece.pk/.sk written"
[ "$(cat id-a/node.id)" = mfs-a ] && ok "node.id holds the ID" || bad "node.id: $(cat id-a/node.id)"
ls id-a.tmp-* >/dev/null 2>&1 && bad "temporary directory left behind" || ok "no temporary directory left"
grep -q "^# node id: *mfs-a$" genid-a.txt && ok "prints the node ID" || bad "node ID not printed"
# Every line is a comment, blank, a section header or one of the config keys.
if grep -v -E '^(#.*|\[(peer mfs-a|node)\]|(pin_cert_sha256|pin_mceliece(460896|6688128)(_sha3)?|id|identity_key|identity_cert|mceliece(460896|6688128)_(key|pub)) = .+|)$' genid-a.txt; then
	bad "genid printed a line that is not a comment nor a configuration line"
else ok "genid prints only comments and configuration lines"; fi
grep -q -E '^(tls_fingerprint|mceliece_sha3) = ' genid-a.txt && bad "old key names printed" || ok "no old key names"

fpr=$(pin pin_cert_sha256 genid-a.txt)
[ ${#fpr} -eq 64 ] && ok "pin_cert_sha256 line" || bad "no pin_cert_sha256 line: $(cat genid-a.txt)"
[ "$fpr" = "$(cert_fpr id-a/node.crt)" ] && ok "pin_cert_sha256 = openssl x509 -fingerprint -sha256" ||
	bad "pin_cert_sha256 $fpr != openssl $(cert_fpr id-a/node.crt)"
openssl x509 -in id-a/node.crt -noout -text >x509.txt 2>&1
grep -q "Public Key Algorithm: ML-DSA-65" x509.txt && ok "certificate key is ML-DSA-65" || bad "certificate key type"
grep -q "Subject: CN *= *mfs-a" x509.txt && ok "certificate CN is the node ID" || bad "certificate subject"
openssl verify -CAfile id-a/node.crt id-a/node.crt >/dev/null 2>&1 &&
	ok "openssl verifies the self-signed certificate" || bad "openssl verify of the certificate"
openssl pkey -in id-a/node.key -pubout -out key.pub 2>/dev/null && openssl x509 -in id-a/node.crt -noout -pubkey >cert.pub &&
	cmp -s key.pub cert.pub && ok "node.key matches node.crt" || bad "node.key does not match node.crt"
abs_a=$(realpath id-a)
[ "$(value identity_key genid-a.txt)" = "$abs_a/node.key" ] && [ "$(value identity_cert genid-a.txt)" = "$abs_a/node.crt" ] &&
	[ "$(value id genid-a.txt)" = mfs-a ] && ok "[node] id, identity_key, identity_cert" || bad "[node] identity lines"
for s in "${sets[@]}"; do
	sha=$(pin pin_mceliece${s}_sha3 genid-a.txt)
	[ "$sha" = "$(sha3 id-a/mceliece$s.pk)" ] && ok "pin_mceliece${s}_sha3 = openssl dgst -sha3-256 of mceliece$s.pk" ||
		bad "pin_mceliece${s}_sha3 $sha != openssl $(sha3 id-a/mceliece$s.pk)"
	[ "$(value pin_mceliece$s genid-a.txt)" = "peers/mfs-a.mceliece$s.pk" ] && ok "pin_mceliece$s path" ||
		bad "pin_mceliece$s = $(value pin_mceliece$s genid-a.txt)"
	grep -q -F "#      $abs_a/mceliece$s.pk " genid-a.txt && grep -q -F -- "->  peers/mfs-a.mceliece$s.pk" genid-a.txt &&
		ok "copy instruction for mceliece$s.pk" || bad "no copy instruction for mceliece$s.pk"
	[ "$(value mceliece${s}_key genid-a.txt)" = "$abs_a/mceliece$s.sk" ] &&
		[ "$(value mceliece${s}_pub genid-a.txt)" = "$abs_a/mceliece$s.pk" ] &&
		ok "[node] mceliece${s}_key/_pub" || bad "[node] mceliece${s}_key/_pub"
	[ "$(stat -c %s id-a/mceliece$s.pk)" = "${pk_size[$s]}" ] && ok "mceliece$s public key size" || bad "pk size $s"
	[ "$(stat -c %s id-a/mceliece$s.sk)" = "${sk_size[$s]}" ] && ok "mceliece$s secret key size" || bad "sk size $s"
done
# Nothing secret printed: no PEM, no key bytes.
if grep -q "PRIVATE KEY" genid-a.txt; then bad "private key printed"; else ok "no private key printed"; fi

# 2. pins re-prints the same lines.
expect_ok "$CTL" pins --dir id-a
diff <(conf genid-a.txt) <(conf out.txt) >/dev/null &&
	ok "pins prints what genid printed" || bad "pins differ from genid: $(diff <(conf genid-a.txt) <(conf out.txt))"

if [ ${#sets[@]} -eq 2 ]; then
	# One set only: only its files, only its lines.
	expect_ok "$CTL" genid --id mfs-c --dir id-c --mceliece 6688128
	[ -e id-c/mceliece6688128.pk ] && [ ! -e id-c/mceliece460896.pk ] && [ ! -e id-c/mceliece460896.sk ] &&
		ok "--mceliece 6688128: one pair" || bad "--mceliece 6688128 files: $(ls id-c)"
	grep -q -E '^(pin_)?mceliece460896' out.txt && bad "460896 lines for a 6688128-only identity" ||
		ok "--mceliece 6688128: no 460896 lines"
	[ "$(pin pin_mceliece6688128_sha3 out.txt)" = "$(sha3 id-c/mceliece6688128.pk)" ] &&
		ok "--mceliece 6688128: pin" || bad "--mceliece 6688128: pin"
	# The legacy layout (one pair as mceliece.pk/.sk) still loads; the lines name its files.
	mv id-c/mceliece6688128.pk id-c/mceliece.pk && mv id-c/mceliece6688128.sk id-c/mceliece.sk
	expect_ok "$CTL" pins --dir id-c
	[ "$(pin pin_mceliece6688128_sha3 out.txt)" = "$(sha3 id-c/mceliece.pk)" ] &&
		[ "$(value mceliece6688128_key out.txt)" = "$(realpath id-c)/mceliece.sk" ] &&
		[ "$(value mceliece6688128_pub out.txt)" = "$(realpath id-c)/mceliece.pk" ] &&
		grep -q "legacy" out.txt && ok "pins reads the legacy layout" || bad "legacy layout: $(cat out.txt)"
	expect_fail 2 "is not 460896, 6688128" -- "$CTL" genid --id mfs-x --dir id-x --mceliece 460896,460896
	expect_fail 2 "is not 460896, 6688128" -- "$CTL" genid --id mfs-x --dir id-x --mceliece 460896,
	expect_fail 2 "is not 460896, 6688128" -- "$CTL" genid --id mfs-x --dir id-x --mceliece none,460896
	# The default is both sets.
	expect_ok "$CTL" genid --id mfs-d --dir id-d
	[ -e id-d/mceliece460896.pk ] && [ -e id-d/mceliece6688128.pk ] && ok "default: both sets" ||
		bad "default sets: $(ls id-d)"
fi

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
expect_fail 2 "is not 460896, 6688128" -- "$CTL" genid --id mfs-x --dir id-x --mceliece 348864
expect_fail 2 "unknown or incomplete option" -- "$CTL" genid --id mfs-x --dir id-x --bogus
expect_fail 2 "unexpected argument" -- "$CTL" genid --id mfs-x --dir id-x extra
expect_fail 2 "unknown command" -- "$CTL" frobnicate
expect_fail 2 "Usage" -- "$CTL"
expect_fail 2 "is required" -- "$CTL" pins
expect_fail 1 "No such file" -- "$CTL" pins --dir nonexistent

# --force replaces the identity: new pins.
expect_ok "$CTL" genid --id mfs-a2 --dir id-a --force --mceliece none
[ "$(cert_fpr id-a/node.crt)" != "$before" ] && ok "--force replaced the identity" || bad "--force kept the old certificate"
ls id-a/mceliece* >/dev/null 2>&1 && bad "old McEliece keys left behind" || ok "old McEliece keys removed"
[ "$(pin pin_cert_sha256 out.txt)" = "$(cert_fpr id-a/node.crt)" ] && ok "new pin printed" || bad "new pin"
grep -q "^pin_mceliece" out.txt && bad "McEliece pins printed for --mceliece none" || ok "no McEliece pins for none"
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

# 4. Two sites, as docs/identity.md deploys them: genid on each, copy the
#    other's public keys as the printed lines say, paste the printed blocks,
#    and the daemon's loader (config_check) accepts both configurations.
# site NAME PEER: build site-NAME/mfsd.conf from genid-NAME.txt ([node]) and
# genid-PEER.txt ([peer PEER]), with an address and two classes added.
site() {
	local me=$1 peer=$2 d=site-$1 src dst
	mkdir -p "$d"
	# "#      SRC  ->  DST": copy as told, DST relative to the directory of mfsd.conf
	sed -n 's/^#      \(\/[^ ]*\) *->  \(.*\)$/\1 \2/p' "genid-$peer.txt" | while read -r src dst; do
		mkdir -p "$d/$(dirname "$dst")" && cp "$src" "$d/$dst"
	done
	{
		sed -n '/^\[node\]$/,$p' "genid-$me.txt"
		echo
		sed -n "/^\\[peer $peer\\]\$/,/^\$/p" "genid-$peer.txt" |
			sed "s/^# address = HOST:7400\$/address = $peer.example.net:7400/"
		printf '[class %s training]\nrequired = mlkem768, mceliece460896\n' "$peer"
		printf '[class %s weights]\nrequired = mlkem1024, mceliece6688128\n' "$peer"
	} >"$d/mfsd.conf"
}
if [ -n "$CHECK" ] && [ ${#sets[@]} -eq 2 ]; then
	expect_ok "$CTL" genid --id office --dir office-id
	cp out.txt genid-office.txt
	expect_ok "$CTL" genid --id gpu-dc --dir gpu-dc-id
	cp out.txt genid-gpu-dc.txt
	site office gpu-dc
	site gpu-dc office
	for pair in "office gpu-dc" "gpu-dc office"; do
		read -r me peer <<<"$pair"
		if "$CHECK" "site-$me/mfsd.conf" >check.txt 2>err.txt; then
			ok "$me: the configuration built from the printed lines loads"
		else
			bad "$me: config_check: $(cat err.txt); config: $(cat "site-$me/mfsd.conf")"
			continue
		fi
		grep -q "^node $me\$" check.txt && ok "$me: [node] id" || bad "$me: node id"
		[ "$(sed -n "s/^peer $peer cert //p" check.txt)" = "$(cert_fpr "$peer-id/node.crt")" ] &&
			ok "$me: pin_cert_sha256 of $peer = openssl x509 -fingerprint -sha256 of $peer's node.crt" ||
			bad "$me: cert pin of $peer"
		for s in "${sets[@]}"; do
			grep -q "^node-mceliece mceliece$s $(realpath "$me-id")/mceliece$s.sk $(realpath "$me-id")/mceliece$s.pk\$" check.txt &&
				ok "$me: [node] mceliece${s}_key/_pub are the identity's files" || bad "$me: node mceliece$s"
			line=$(grep "^peer $peer mceliece$s " check.txt)
			[ "$line" = "peer $peer mceliece$s $(realpath "site-$me")/peers/$peer.mceliece$s.pk $(sha3 "$peer-id/mceliece$s.pk")" ] &&
				ok "$me: pin_mceliece$s of $peer, relative to mfsd.conf, hashes to $peer's key" ||
				bad "$me: mceliece$s pin: $line"
		done
	done
	# The pin check bites: a copied key that is not the peer's is refused.
	cp office-id/mceliece460896.pk site-office/peers/gpu-dc.mceliece460896.pk
	expect_fail 1 "does not match the pin" -- "$CHECK" site-office/mfsd.conf
else
	echo "ok - # SKIP two-site configuration (no config_check or no McEliece)"
fi

# 5. Help and version.
expect_ok "$CTL" --help
grep -q genid out.txt && grep -q pins out.txt && ok "--help lists genid and pins" || bad "--help"
expect_ok "$CTL" genid --help
grep -q -- "--mceliece" out.txt && ok "genid --help" || bad "genid --help"
expect_ok "$CTL" --version

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
