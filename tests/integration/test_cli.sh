#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mfs-kex end to end: every KEM method round-trips through files, ML-KEM
# interoperates with `openssl pkeyutl -encap/-decap` in both directions,
# tampering is detected downstream, and every bad input is refused with a
# clear message and without touching existing files. mfs-kex combine gives
# two sites the same key from their own files, and another key whenever one
# bound value differs.
#
# Usage: test_cli.sh PATH/TO/mfs-kex
set -uo pipefail

KEX=$(realpath "${1:?usage: test_cli.sh mfs-kex}")
. "$(dirname "$(realpath "$0")")/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-cli-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

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
	flip "$m.ct.bad" 3 128
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

# 5. mfs-kex combine: two sites, each with only its own files, derive the same
# key (as in scripts/demo: ML-KEM-768 + McEliece-460896 + PSK); every bound
# value changes it; bad inputs fail cleanly and print no secret.
have() { "$KEX" list | awk 'NR > 1 && $6 == "yes" { print $1 }' | grep -qx "$1"; }
if have mlkem768 && have psk; then
	mkdir -m 700 cb cb/office cb/gpu
	expect_ok "$KEX" keygen --method mlkem768 --format pem --secret-key cb/office/mlkem.sk.pem --public-key cb/office/mlkem.pk.pem
	cp cb/office/mlkem.pk.pem cb/gpu/mlkem.pk.pem
	expect_ok "$KEX" encap --method mlkem768 --public-key cb/gpu/mlkem.pk.pem --ciphertext cb/gpu/mlkem.ct --shared-secret cb/gpu/mlkem.ss
	cp cb/gpu/mlkem.ct cb/office/mlkem.ct
	expect_ok "$KEX" decap --method mlkem768 --secret-key cb/office/mlkem.sk.pem --ciphertext cb/office/mlkem.ct --shared-secret cb/office/mlkem.ss
	cb_methods="mlkem768 psk"
	# McEliece reuses section 1's static key pair (key generation is slow).
	if have mceliece460896 && [ -f mceliece460896.sk ]; then
		cp mceliece460896.sk cb/office/mce.sk && chmod 600 cb/office/mce.sk
		cp mceliece460896.pk cb/office/mce.pk
		cp mceliece460896.pk cb/gpu/office-mce.pk
		expect_ok "$KEX" encap --method mceliece460896 --public-key cb/gpu/office-mce.pk --ciphertext cb/gpu/mce.ct --shared-secret cb/gpu/mce.ss
		cp cb/gpu/mce.ct cb/office/mce.ct
		expect_ok "$KEX" decap --method mceliece460896 --secret-key cb/office/mce.sk --ciphertext cb/office/mce.ct --shared-secret cb/office/mce.ss
		cb_methods="mlkem768 mceliece460896 psk"
	fi
	expect_ok "$KEX" keygen --method psk --secret-key cb/office/link-1.psk
	install -m 600 cb/office/link-1.psk cb/gpu/link-1.psk
	expect_ok "$KEX" keygen --method psk --secret-key cb/gpu/other.psk
	openssl rand -hex 32 | tr -d '\n' > cb/inonce
	openssl rand -hex 32 | tr -d '\n' > cb/rnonce
	# Every secret in play, in hex, to make sure none is ever printed.
	: > cb/secrets.hex
	for f in cb/office/mlkem.ss cb/gpu/mlkem.ss cb/office/mce.ss cb/gpu/mce.ss cb/office/link-1.psk cb/gpu/other.psk; do
		[ -f "$f" ] && od -An -tx1 -v "$f" | tr -d ' \n' >> cb/secrets.hex && echo >> cb/secrets.hex
	done

	# view SITE OUT [key=value...]: the JSON one site writes from its own files.
	# Keys: mode, its (psk its flag), order (method list), purpose, inonce, rid, mce_pk, mlkem_ct,
	# mlkem_ss, psk.
	view() {
		local site=$1 out=$2 mode=catkdf its=false order=$cb_methods purpose="mfs-kex test: office <-> gpu-dc"
		local inonce rnonce rid=gpu-dc mlkem_ct=cb/$site/mlkem.ct mlkem_ss=cb/$site/mlkem.ss mce_pk
		local psk=cb/$site/link-1.psk sep="" m
		inonce=$(cat cb/inonce) rnonce=$(cat cb/rnonce)
		if [ "$site" = office ]; then mce_pk=cb/office/mce.pk; else mce_pk=cb/gpu/office-mce.pk; fi
		shift 2
		while [ $# -gt 0 ]; do local "$1"; shift; done
		{
			printf '{\n  "mode": "%s",\n  "length": 32,\n  "purpose": "%s",\n' "$mode" "$purpose"
			printf '  "initiator": { "id": "office", "nonce": "%s" },\n' "$inonce"
			printf '  "responder": { "id": "%s", "nonce": "%s" },\n  "methods": [\n' "$rid" "$rnonce"
			for m in $order; do
				case $m in
				mlkem768) printf '%s    { "method": "mlkem768", "public_key": "cb/%s/mlkem.pk.pem", "ciphertext": "%s", "shared_secret": "%s" }' "$sep" "$site" "$mlkem_ct" "$mlkem_ss" ;;
				mceliece460896) printf '%s    { "method": "mceliece460896", "public_key": "%s", "ciphertext": "cb/%s/mce.ct", "shared_secret": "cb/%s/mce.ss" }' "$sep" "$mce_pk" "$site" "$site" ;;
				psk) printf '%s    { "method": "psk", "psk_id": "link-1", "psk_file": "%s", "its": %s }' "$sep" "$psk" "$its" ;;
				esac
				sep=$',\n'
			done
			printf '\n  ]\n}\n'
		} > "$out"
	}
	# combine JSON OUT: run it, keep stdout (the key in hex) in OUT, stderr in cb/err.all.
	combine() {
		"$KEX" combine --input "$1" > "$2" 2> cb/err.txt
		local rc=$?
		cat cb/err.txt >> cb/err.all
		[ "$rc" -eq 0 ] && grep -qxE '[0-9a-f]{64}' "$2" || { bad "combine $1: rc=$rc, $(head -c 300 cb/err.txt)"; return 1; }
	}
	: > cb/err.all

	view office cb/office.json
	view gpu cb/gpu.json
	combine cb/office.json cb/k.office && combine cb/gpu.json cb/k.gpu &&
		same cb/k.office cb/k.gpu "combine ($(echo $cb_methods | tr ' ' '+')): both sites print the same key"
	expect_ok "$KEX" combine --input cb/office.json --output cb/office/key
	cat err.txt >> cb/err.all
	expect_ok "$KEX" combine --input cb/gpu.json --output cb/gpu/key
	cat err.txt >> cb/err.all
	same cb/office/key cb/gpu/key "combine --output: both sites write the same key"
	[ "$(stat -c '%a %s' cb/office/key)" = "600 32" ] && ok "combine --output: 32 bytes, mode 0600" ||
		bad "combine --output: $(stat -c '%a %s' cb/office/key)"
	[ ! -s out.txt ] && ok "combine --output prints nothing on stdout" || bad "combine --output printed $(head -c 100 out.txt)"
	[ "$(od -An -tx1 -v cb/office/key | tr -d ' \n')" = "$(cat cb/k.office)" ] &&
		ok "combine: the --output file holds the key printed in hex" || bad "combine: --output differs from stdout"
	expect_fail 1 "exists; not overwriting" -- "$KEX" combine --input cb/office.json --output cb/office/key
	cat err.txt >> cb/err.all

	# Other modes: equal on both sites, different from CatKDF and from each other.
	view office cb/office.cas.json mode=caskdf; view gpu cb/gpu.cas.json mode=caskdf
	combine cb/office.cas.json cb/k.office.cas && combine cb/gpu.cas.json cb/k.gpu.cas &&
		same cb/k.office.cas cb/k.gpu.cas "combine caskdf: both sites agree"
	differ cb/k.office cb/k.office.cas "combine: caskdf key differs from catkdf"
	# xor-its: the PSK method's 32-byte secret stands in for an ITS input of the 32-byte output.
	view office cb/office.xor.json mode=xor-its its=true; view gpu cb/gpu.xor.json mode=xor-its its=true
	combine cb/office.xor.json cb/k.office.xor && combine cb/gpu.xor.json cb/k.gpu.xor &&
		same cb/k.office.xor cb/k.gpu.xor "combine xor-its: both sites agree"
	differ cb/k.office cb/k.office.xor "combine: xor-its key differs from catkdf"
	differ cb/k.office.cas cb/k.office.xor "combine: xor-its key differs from caskdf"
	view office cb/noits.json mode=xor-its
	expect_fail 1 "combine (xor-its)" -- "$KEX" combine --input cb/noits.json --output cb/noits.key
	cat err.txt >> cb/err.all
	[ ! -e cb/noits.key ] && ok "combine xor-its without an ITS input: no key" || bad "combine xor-its without ITS wrote a key"

	# Every bound value counts: change one thing on gpu-dc's side, get another key.
	i=0
	cp cb/gpu/mlkem.ct cb/gpu/mlkem.ct.bad
	flip cb/gpu/mlkem.ct.bad 100 1
	rev_order=$(echo $cb_methods | tr ' ' '\n' | tac | tr '\n' ' ')
	inonce2=$(cat cb/inonce)
	[ "${inonce2: -1}" = 0 ] && inonce2=${inonce2%?}1 || inonce2=${inonce2%?}0
	[ "$inonce2" != "$(cat cb/inonce)" ] || bad "test setup: nonce unchanged"
	for change in "inonce=$inonce2" "rid=gpu-dc2" "purpose=mfs-kex test: other" "order=$rev_order" \
		      "mlkem_ct=cb/gpu/mlkem.ct.bad" "psk=cb/gpu/other.psk"; do
		i=$((i + 1))
		view gpu "cb/gpu.c$i.json" "$change"
		combine "cb/gpu.c$i.json" "cb/k.c$i" && differ cb/k.office "cb/k.c$i" "combine: another key when changing ${change%%=*}"
	done

	# Bad inputs: exit 1, a clear message, no output file, no key on stdout.
	view gpu cb/ss644.json mlkem_ss=cb/gpu/mlkem644.ss; install -m 644 cb/gpu/mlkem.ss cb/gpu/mlkem644.ss
	view gpu cb/psk644.json psk=cb/gpu/psk644.psk; install -m 644 cb/gpu/link-1.psk cb/gpu/psk644.psk
	head -c 1087 cb/gpu/mlkem.ct > cb/gpu/short.ct
	view gpu cb/shortct.json mlkem_ct=cb/gpu/short.ct
	view gpu cb/missingct.json mlkem_ct=cb/gpu/nope.ct
	sed 's/"methods"/"methods" "/' cb/gpu.json > cb/malformed.json
	sed 's/"length": 32/"length": 300/' cb/gpu.json > cb/length.json
	sed 's/"psk_id": "link-1"/"psk_id": "..\/link"/' cb/gpu.json > cb/pskid.json
	for c in "cannot read cb/missing.json:cb/missing.json" \
		 "shared secret cb/gpu/mlkem644.ss is accessible by group or others; run 'chmod 600:cb/ss644.json" \
		 "PSK file cb/gpu/psk644.psk: group or others may access it:cb/psk644.json" \
		 "a mlkem768 ciphertext is 1088 bytes:cb/shortct.json" \
		 "ciphertext cb/gpu/nope.ct:cb/missingct.json" \
		 "cb/malformed.json: JSON syntax error at line:cb/malformed.json" \
		 "input.length: must be an integer in 16..128:cb/length.json" \
		 "psk_id \"../link\": use 1..64 of:cb/pskid.json"; do
		rm -f cb/bad.key
		expect_fail 1 "${c%:*}" -- "$KEX" combine --input "${c##*:}" --output cb/bad.key
		cat err.txt >> cb/err.all
		[ ! -e cb/bad.key ] && ok "no key file after a refused combine (${c##*:})" || bad "key file written for ${c##*:}"
		expect_fail 1 "${c%:*}" -- "$KEX" combine --input "${c##*:}"
		cat err.txt >> cb/err.all
		[ ! -s out.txt ] && ok "nothing on stdout after a refused combine (${c##*:})" || bad "stdout for ${c##*:}: $(head -c 100 out.txt)"
	done
	expect_fail 2 "--input is required" -- "$KEX" combine --output cb/bad.key

	# An encrypted PEM key is refused at once, never with a passphrase prompt (stdin stays open).
	openssl pkey -in "o-mlkem768.sk.pem" -aes256 -passout pass:test -out cb/enc.sk.pem 2>/dev/null && chmod 600 cb/enc.sk.pem
	exec 3< <(exec sleep 30 2>/dev/null)
	stdin_pid=$!
	expect_fail 1 "not a ML-KEM-768 private key in PEM" -- timeout 10 "$KEX" decap --method mlkem768 --secret-key cb/enc.sk.pem --ciphertext cb/office/mlkem.ct --shared-secret cb/enc.ss <&3
	exec 3<&-
	kill "$stdin_pid" 2>/dev/null
	grep -qi "pass phrase" err.txt && bad "encrypted key: a passphrase was asked for" || ok "encrypted key: no passphrase prompt"

	# Secrets never reach stderr: no shared secret, PSK or derived key.
	cat cb/k.* >> cb/secrets.hex
	od -An -tx1 -v cb/office/key | tr -d ' \n' >> cb/secrets.hex
	leaked=0
	while read -r h; do
		[ -n "$h" ] && grep -qi -- "$h" cb/err.all && leaked=$((leaked + 1))
	done < cb/secrets.hex
	[ "$leaked" -eq 0 ] && ok "combine: no secret or key on stderr ($(wc -l < cb/err.all) lines checked)" ||
		bad "combine: $leaked secrets on stderr"
fi

echo "# cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
