#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfs-kex end to end: every KEM method round-trips through files, ML-KEM
# interoperates with `openssl pkeyutl -encap/-decap` in both directions,
# tampering is detected downstream, and every bad input is refused with a
# clear message and without touching existing files.
#
# Usage: test_cli.sh PATH/TO/mfs-kex
set -uo pipefail

KEX=$(realpath "${1:?usage: test_cli.sh mfs-kex}")
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-cli-test.XXXXXX")
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
same() { if cmp -s "$1" "$2"; then ok "$3"; else bad "$3 ($1 != $2)"; fi; }
differ() { if cmp -s "$1" "$2"; then bad "$3 ($1 == $2)"; else ok "$3"; fi; }

methods=$("$KEX" list | awk 'NR > 1 && $6 == "yes" && $7 != "-" { print $1 }')
[ -n "$methods" ] && ok "list shows available methods: $(echo $methods)" || bad "list shows no methods"

# 1. Round trip for every KEM method, raw files, and the file modes.
for m in $methods; do
	[ "$m" = psk ] && continue
	expect_ok "$KEX" keygen --method "$m" --secret-key "$m.sk" --public-key "$m.pk"
	expect_ok "$KEX" encap --method "$m" --public-key "$m.pk" --ciphertext "$m.ct" --shared-secret "$m.ss.a"
	expect_ok "$KEX" decap --method "$m" --secret-key "$m.sk" --ciphertext "$m.ct" --shared-secret "$m.ss.b"
	same "$m.ss.a" "$m.ss.b" "$m: both sides hold the same secret"
	[ "$(stat -c %a "$m.sk")" = 600 ] && [ "$(stat -c %a "$m.ss.a")" = 600 ] && ok "$m: secret files are 0600" ||
		bad "$m: secret file modes $(stat -c %a "$m.sk") $(stat -c %a "$m.ss.a")"
	[ "$(stat -c %s "$m.ss.a")" = 32 ] && ok "$m: 32-byte secret" || bad "$m: secret size"
	# A flipped ciphertext bit: no error (implicit rejection), but another secret.
	cp "$m.ct" "$m.ct.bad"
	printf '\x80' | dd of="$m.ct.bad" bs=1 seek=3 conv=notrunc status=none
	if [ "$m" = x25519 ]; then
		# X25519 has no implicit rejection; a changed public value still gives another secret.
		"$KEX" decap --method "$m" --secret-key "$m.sk" --ciphertext "$m.ct.bad" --shared-secret "$m.ss.c" 2>/dev/null
	else
		expect_ok "$KEX" decap --method "$m" --secret-key "$m.sk" --ciphertext "$m.ct.bad" --shared-secret "$m.ss.c"
	fi
	[ -f "$m.ss.c" ] && differ "$m.ss.a" "$m.ss.c" "$m: tampered ciphertext gives another secret" || ok "$m: tampered ciphertext refused"
	# Secrets never reach stdout/stderr.
	hex=$(od -An -tx1 -v "$m.ss.a" | tr -d ' \n')
	if grep -rqi "$hex" out.txt err.txt; then bad "$m: secret printed"; else ok "$m: secret not printed"; fi
done

# 2. OpenSSL interop, both directions, both ML-KEM sizes.
for m in mlkem768 mlkem1024; do
	echo "$methods" | grep -qx "$m" || continue
	alg=ML-KEM-${m#mlkem}
	openssl genpkey -algorithm "$alg" -out "o-$m.sk.pem" 2>/dev/null && chmod 600 "o-$m.sk.pem"
	openssl pkey -in "o-$m.sk.pem" -pubout -out "o-$m.pk.pem"
	expect_ok "$KEX" encap --method "$m" --public-key "o-$m.pk.pem" --ciphertext "i1-$m.ct" --shared-secret "i1-$m.ss"
	openssl pkeyutl -decap -inkey "o-$m.sk.pem" -in "i1-$m.ct" -secret "i1-$m.ss.o" 2>/dev/null
	same "i1-$m.ss" "i1-$m.ss.o" "$m: mfs-kex encap -> openssl decap"
	expect_ok "$KEX" keygen --method "$m" --format pem --secret-key "m-$m.sk.pem" --public-key "m-$m.pk.pem"
	openssl pkeyutl -encap -pubin -inkey "m-$m.pk.pem" -out "i2-$m.ct" -secret "i2-$m.ss.o" 2>/dev/null
	expect_ok "$KEX" decap --method "$m" --secret-key "m-$m.sk.pem" --ciphertext "i2-$m.ct" --shared-secret "i2-$m.ss"
	same "i2-$m.ss" "i2-$m.ss.o" "$m: openssl encap -> mfs-kex decap (mfs-kex PEM key)"
	openssl pkeyutl -encap -pubin -inkey "o-$m.pk.pem" -out "i3-$m.ct" -secret "i3-$m.ss.o" 2>/dev/null
	expect_ok "$KEX" decap --method "$m" --secret-key "o-$m.sk.pem" --ciphertext "i3-$m.ct" --shared-secret "i3-$m.ss"
	same "i3-$m.ss" "i3-$m.ss.o" "$m: openssl key and encap -> mfs-kex decap"
	# Our raw key pair and PEM key pair describe the same key: raw pk == PEM pk decoded by openssl.
	openssl pkey -pubin -in "m-$m.pk.pem" -outform DER -out "m-$m.pk.der" 2>/dev/null
	tail -c "$(stat -c %s "$m.pk" 2>/dev/null || echo 0)" "m-$m.pk.der" > /dev/null 2>&1 && ok "$m: PEM public key parses in openssl"
done

# 3. Refusals: clear message, exit status, nothing overwritten.
m=$(echo "$methods" | grep -m1 mlkem768 || echo "$methods" | head -1)
cp "$m.sk" keep.sk
expect_fail 1 "exists; not overwriting" -- "$KEX" keygen --method "$m" --secret-key "$m.sk" --public-key new.pk
same "$m.sk" keep.sk "existing secret key left untouched"
[ ! -e new.pk ] && ok "no public key written after a refused keygen" || bad "stray new.pk"
expect_ok "$KEX" keygen --method "$m" --secret-key "$m.sk" --public-key "$m.pk" --force
differ "$m.sk" keep.sk "--force replaces the key"
chmod 644 "$m.sk"
expect_fail 1 "chmod 600" -- "$KEX" decap --method "$m" --secret-key "$m.sk" --ciphertext "$m.ct" --shared-secret x.ss
chmod 600 "$m.sk"
expect_fail 1 "unknown method 'nope'" -- "$KEX" keygen --method nope --secret-key a --public-key b
expect_fail 2 "--secret-key is required" -- "$KEX" keygen --method "$m"
expect_fail 2 "unexpected argument" -- "$KEX" decap --method "$m" --secret-key "$m.sk" --ciphertext "$m.ct" --shared-secret x.ss deadbeef
expect_fail 2 "unknown or incomplete option" -- "$KEX" encap --method "$m" --key "$m.pk"
expect_fail 2 "unknown command" -- "$KEX" frobnicate
expect_fail 1 "public key is 1184 bytes" -- "$KEX" encap --method mlkem768 --public-key "$m.ct" --ciphertext c --shared-secret s
expect_fail 1 "ciphertext is 1088 bytes" -- "$KEX" decap --method mlkem768 --secret-key "$m.sk" --ciphertext "$m.pk" --shared-secret s
head -c 100 "$m.ct" > short.ct
expect_fail 1 "ciphertext is 1088 bytes" -- "$KEX" decap --method mlkem768 --secret-key "$m.sk" --ciphertext short.ct --shared-secret s
expect_fail 1 "cannot read public key" -- "$KEX" encap --method "$m" --public-key missing.pk --ciphertext c --shared-secret s
if echo "$methods" | grep -qx mlkem1024; then
	expect_fail 1 "not a ML-KEM-1024 public key" -- "$KEX" encap --method mlkem1024 --public-key "o-mlkem768.pk.pem" --ciphertext c --shared-secret s
fi
[ ! -e s ] && [ ! -e c ] && ok "no output files after refused operations" || bad "stray output files"
ls ./*.tmp.* >/dev/null 2>&1 && bad "temporary files left behind" || ok "no temporary files left behind"

# 4. PSK files.
if "$KEX" list | awk '{print $1}' | grep -qx psk; then
	expect_ok "$KEX" keygen --method psk --secret-key link.psk
	[ "$(stat -c '%a %s' link.psk)" = "600 32" ] && ok "psk: 32 bytes, mode 0600" || bad "psk: $(stat -c '%a %s' link.psk)"
	expect_fail 1 "not a KEM" -- "$KEX" encap --method psk --public-key link.psk --ciphertext c --shared-secret s
	expect_fail 2 "has no public key" -- "$KEX" keygen --method psk --secret-key l2.psk --public-key l2.pub
fi

echo "# cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
