#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The ETSI GS QKD 014 key supply of two mfsd, driven with curl --cert:
# every endpoint (GET and POST forms), the malformed-request catalogue of
# issue 4 (wrong methods, missing and extra fields, number 0 / -1 / 2^31,
# bad sizes, unknown and mismatched SAEs, oversized headers and bodies, no
# client certificate, a certificate of another CA), each with its status
# code and a JSON error; the two-site test (office enc_keys, gpu-dc dec_keys
# by ID: same keys; a second dec_keys of an ID fails); the 401 rule; the
# authorization table's audit record and log line; mfsctl status; no key
# bytes in the logs.
#
#   test_supply.sh MFSD MFSCTL MFS-KEX SRCDIR
MFSD=$(realpath "$1") MFSCTL=$(realpath "$2") MFSKEX=$(realpath "$3") SRC=$(realpath "$4")
. "$SRC/tests/integration/lib.sh"
. "$SRC/tests/integration/supply_env.sh"

start office
start gpu-dc
if wait_for 30 pools_at_least 8 && wait_for 10 supply_up "$S1" && wait_for 10 supply_up "$S2"; then
	ok "both daemons up, pools filled, supply faces listening"
else
	bad "daemons did not come up"; tail -n 20 office.log gpu-dc.log; jctl office status | head -c 2000; echo "$pass passed, $fail failed"; exit 1
fi

# req SITE SAE METHOD PATH [BODY [CURL-ARGS...]]: sets CODE and BODY (the response)
req() {
	local port=$S1 who=$2 m=$3 path=$4 data=${5-} args=()
	[ "$1" = gpu-dc ] && port=$S2
	shift 5 2>/dev/null || shift $#
	case "$who" in
	none) ;;
	rogue) args+=(--cert rogue/SAE_A.crt --key rogue/SAE_A.key) ;;
	*) args+=(--cert "pki/$who.crt" --key "pki/$who.key") ;;
	esac
	[ -n "$data" ] && args+=(-H "Content-Type: application/json" --data-binary "$data")
	CODE=$(curl -s -o resp.json -w '%{http_code}' --cacert pki/ca.crt -X "$m" "${args[@]}" "$@" \
		"https://127.0.0.1:$port$path")
	BODY=$(cat resp.json)
}
# expect CODE MESSAGE-PREFIX TEXT: the last response had CODE and a JSON error starting so
expect() {
	local msg
	msg=$(jq -er '.message' resp.json 2>/dev/null)
	if [ "$CODE" = "$1" ] && [ -n "$msg" ] && [[ "$msg" == "$2"* ]]; then ok "$3 -> $1 \"$msg\""
	else bad "$3: want $1 \"$2...\", got $CODE $BODY"; fi
}
# expect_keys N TEXT: 200 with N keys, UUID key_IDs, 32-byte base64 keys
expect_keys() {
	local n ok_ids
	n=$(jq -r '.keys | length' resp.json 2>/dev/null)
	ok_ids=$(jq -r '[.keys[] | select((.key_ID | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")) and ((.key | test("^[A-Za-z0-9+/]{43}=$"))))] | length' resp.json 2>/dev/null)
	if [ "$CODE" = 200 ] && [ "$n" = "$1" ] && [ "$ok_ids" = "$1" ]; then ok "$2 -> 200, $1 key(s)"
	else bad "$2: want 200 with $1 keys, got $CODE $BODY"; fi
}
E=/api/v1/keys

echo "--- status"
req office SAE_A GET "$E/SAE_B/status"
if [ "$CODE" = 200 ] && [ "$(jq -r 'keys_unsorted | join(",")' resp.json)" = \
	"source_KME_ID,target_KME_ID,master_SAE_ID,slave_SAE_ID,key_size,stored_key_count,max_key_count,max_key_per_request,max_key_size,min_key_size,max_SAE_ID_count" ] &&
	[ "$(jq -r '[.source_KME_ID,.target_KME_ID,.master_SAE_ID,.slave_SAE_ID,.key_size,.max_key_count,.max_key_per_request,.max_SAE_ID_count] | join(" ")' resp.json)" = \
	"office gpu-dc SAE_A SAE_B 256 64 128 0" ] && [ "$(jq -r .stored_key_count resp.json)" -ge 8 ]; then
	ok "status: the 11 members of the spec, values of the pool ($BODY)"
else bad "status: $CODE $BODY"; fi
req office SAE_A POST "$E/SAE_B/status" '{}'; expect 405 "method not allowed" "POST status"
req office SAE_A GET "$E/SAE_B/status?x=1"; expect 400 "status takes no" "status with a query"

echo "--- enc_keys"
req office SAE_A GET "$E/SAE_B/enc_keys"; expect_keys 1 "GET enc_keys"
req office SAE_A GET "$E/SAE_B/enc_keys?number=3"; expect_keys 3 "GET enc_keys?number=3"
req office SAE_A GET "$E/SAE_B/enc_keys?number=2&size=256"; expect_keys 2 "GET enc_keys?number=2&size=256"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":2,"size":256}'; expect_keys 2 "POST enc_keys {number:2,size:256}"
req office SAE_A POST "$E/SAE_B/enc_keys" '{}'; expect_keys 1 "POST enc_keys {}"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":1,"extension_optional":[{"abc_max_age":30000}]}'
expect_keys 1 "POST enc_keys with extension_optional (ignored)"
grep -qi '^cache-control: no-store' < <(curl -s -D - -o /dev/null --cacert pki/ca.crt --cert pki/SAE_A.crt \
	--key pki/SAE_A.key "https://127.0.0.1:$S1$E/SAE_B/enc_keys") && ok "key responses are Cache-Control: no-store" ||
	bad "no Cache-Control: no-store"

echo "--- malformed-request catalogue"
req office SAE_A PUT "$E/SAE_B/enc_keys"; expect 405 "method not allowed" "PUT enc_keys"
req office SAE_A DELETE "$E/SAE_A/dec_keys"; expect 405 "method not allowed" "DELETE dec_keys"
req office SAE_A PATCH "$E/SAE_B/status"; expect 405 "method not allowed" "PATCH status"
grep -qi '^allow: GET, POST' < <(curl -s -D - -o /dev/null -X PUT --cacert pki/ca.crt --cert pki/SAE_A.crt \
	--key pki/SAE_A.key "https://127.0.0.1:$S1$E/SAE_B/enc_keys") && ok "405 carries Allow: GET, POST" ||
	bad "405 without Allow"
req office SAE_A GET "/api/v1/keys/SAE_B/other"; expect 404 "not found" "unknown endpoint"
req office SAE_A GET "/"; expect 404 "not found" "root path"
for n in 0 -1 2147483648 129; do
	req office SAE_A POST "$E/SAE_B/enc_keys" "{\"number\":$n}"; expect 400 "number shall be between" "number $n (POST)"
done
req office SAE_A GET "$E/SAE_B/enc_keys?number=0"; expect 400 "number shall be between" "number=0 (GET)"
req office SAE_A GET "$E/SAE_B/enc_keys?number=-1"; expect 400 "number shall be a decimal" "number=-1 (GET)"
req office SAE_A GET "$E/SAE_B/enc_keys?number=2147483648"; expect 400 "number shall be between" "number=2^31 (GET)"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":"3"}'; expect 400 "number shall be an integer" "number as a string"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":1.5}'; expect 400 "number shall be an integer" "number 1.5"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"size":100}'; expect 400 "size shall be a multiple of 8" "size 100"
req office SAE_A GET "$E/SAE_B/enc_keys?size=12"; expect 400 "size shall be a multiple of 8" "size=12"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"size":512}'; expect 400 "size shall be 256 for slave SAE SAE_B" "size 512 for a 256-bit SAE"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"size":65536}'; expect 400 "size shall be between" "size 65536"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"size":0}'; expect 400 "size shall be between" "size 0"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"numbr":1}'; expect 400 'unknown member "numbr"' "extra field"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":1,"number":2}'; expect 400 "request body is not valid JSON" "duplicate member"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":'; expect 400 "request body is not valid JSON" "truncated JSON"
req office SAE_A POST "$E/SAE_B/enc_keys" '[]'; expect 400 "request body shall be a JSON object" "JSON array body"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"additional_slave_SAE_IDs":["SAE_D"]}'
expect 400 "additional_slave_SAE_IDs: at most max_SAE_ID_count (0)" "additional_slave_SAE_IDs (no multicast)"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":1,"extension_mandatory":[{"abc_route_type":"direct"}]}'
expect 400 "not all extension_mandatory parameters are supported" "extension_mandatory"
[ "$(jq -r '.details[0].extension_mandatory_unsupported' resp.json)" = "abc_route_type is not supported" ] &&
	ok "extension_mandatory: details name it" || bad "extension_mandatory details: $BODY"
CODE=$(curl -s -o resp.json -w '%{http_code}' --cacert pki/ca.crt --cert pki/SAE_A.crt --key pki/SAE_A.key \
	-H "Content-Type: text/plain" --data-binary '{}' "https://127.0.0.1:$S1$E/SAE_B/enc_keys"); BODY=$(cat resp.json)
expect 400 "Content-Type shall be application/json" "Content-Type text/plain"
req office SAE_A POST "$E/SAE_B/enc_keys?number=1" '{}'; expect 400 "POST takes no query" "POST with a query"
req office SAE_A GET "$E/SAE_B/enc_keys?count=1"; expect 400 "unknown query parameter" "unknown query parameter"
big=$(head -c 10000 /dev/zero | tr '\0' a)
req office SAE_A GET "$E/SAE_B/status" "" -H "X-Big: $big"; expect 400 "request headers larger than" "10 kB header"
head -c 70000 /dev/zero | tr '\0' ' ' >big.json; sed -i '1s/^ /{/; $s/ $/}/' big.json
req office SAE_A POST "$E/SAE_B/enc_keys" "@big.json"; expect 400 "request body larger than 65536" "70 kB body"
req office SAE_A GET "$E/SAE_Q/enc_keys"; expect 401 "unauthorized: unknown slave SAE" "unknown slave SAE"
req office SAE_A GET "$E/SAE_Q/status"; expect 401 "unauthorized" "status of an unknown slave SAE"
req office SAE_B GET "$E/SAE_A/enc_keys"; expect 401 "unauthorized: the caller is not an SAE of this KME" "gpu-dc's SAE at the office"
req office SAE_X GET "$E/SAE_B/enc_keys"; expect 401 "unauthorized: the caller may not use the class" "SAE of class other asks for class training"
req office SAE_A GET "$E/SAE_A/enc_keys"; expect 401 "unauthorized: unknown slave SAE" "master names itself as slave"
req office none GET "$E/SAE_B/enc_keys"; expect 401 "a client certificate is required" "no client certificate"
req office rogue GET "$E/SAE_B/enc_keys"; expect 401 "client certificate not trusted" "certificate of another CA"
curl -s -o /dev/null --cacert pki/ca.crt --cert pki/SAE_A.crt --key pki/SAE_A.key \
	"http://127.0.0.1:$S1$E/SAE_B/status" && bad "plain HTTP answered" || ok "plain HTTP is refused"

echo "--- two sites: office enc_keys, gpu-dc dec_keys by ID"
req office SAE_A POST "$E/SAE_B/enc_keys" '{"number":3}'; expect_keys 3 "office: SAE_A takes 3 keys for SAE_B"
cp resp.json enc.json
ids=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' enc.json)
req gpu-dc SAE_B POST "$E/SAE_A/dec_keys" "$ids"; expect_keys 3 "gpu-dc: SAE_B fetches them by ID"
if [ "$(jq -S . enc.json)" = "$(jq -S . resp.json)" ]; then ok "the keys match (IDs and bytes, same order)"
else bad "keys differ: $(cat enc.json) vs $BODY"; fi
one=$(jq -r '.keys[1].key_ID' enc.json)
req gpu-dc SAE_B GET "$E/SAE_A/dec_keys?key_ID=$one"
expect 400 "one or more keys specified are not found on KME" "second dec_keys of the same ID"
req gpu-dc SAE_B POST "$E/SAE_A/dec_keys" "$ids"
expect 400 "one or more keys specified are not found on KME" "second dec_keys of all three"
req office SAE_A GET "$E/SAE_B/enc_keys"; cp resp.json enc1.json
k1=$(jq -r '.keys[0].key_ID' enc1.json)
req gpu-dc SAE_D GET "$E/SAE_X/dec_keys?key_ID=$k1"
expect 401 "unauthorized: a requested key was not supplied for this SAE" "the 401 rule: another slave asks for SAE_B's key"
req gpu-dc SAE_D GET "$E/SAE_A/dec_keys?key_ID=$k1"; expect 401 "unauthorized" "another slave names SAE_A as master"
req gpu-dc SAE_B GET "$E/SAE_X/dec_keys?key_ID=$k1"; expect 401 "unauthorized" "SAE_B names the master of another class"
req office SAE_A GET "$E/SAE_B/dec_keys?key_ID=$k1"; expect 401 "unauthorized: the caller may not act as slave" "a master-only SAE calls dec_keys"
req gpu-dc SAE_B GET "$E/SAE_A/dec_keys?key_ID=$k1"; expect_keys 1 "the rightful slave still gets it (GET form)"
[ "$(jq -r '.keys[0].key' resp.json)" = "$(jq -r '.keys[0].key' enc1.json)" ] && ok "GET dec_keys: same key" || bad "GET dec_keys: key differs"
req gpu-dc SAE_B GET "$E/SAE_A/dec_keys?key_ID=00000000-0000-4000-8000-000000000000"
expect 400 "one or more keys specified are not found on KME" "unknown key ID"
req gpu-dc SAE_B GET "$E/SAE_A/dec_keys?key_ID=not-a-uuid"; expect 400 "key_ID is not a UUID" "malformed key ID"
req gpu-dc SAE_B POST "$E/SAE_A/dec_keys" '{}'; expect 400 "key_IDs missing" "dec_keys without key_IDs"
req gpu-dc SAE_B POST "$E/SAE_A/dec_keys" "{\"key_IDs\":[{\"key_ID\":\"$k1\"}],\"x\":1}"; expect 400 'unknown member "x"' "dec_keys extra field"
req gpu-dc SAE_B GET "$E/SAE_A/dec_keys"; expect 400 "key_ID missing" "GET dec_keys without key_ID"
# the other direction: gpu-dc has no local master, so its enc_keys is refused
req gpu-dc SAE_B GET "$E/SAE_A/enc_keys"; expect 401 "unauthorized: the caller may not act as master" "a slave-only SAE calls enc_keys"
# class other: SAE_X -> SAE_D
req office SAE_X POST "$E/SAE_D/enc_keys" '{"number":2}'; expect_keys 2 "class other: SAE_X takes keys for SAE_D"
ids=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' resp.json); cp resp.json enc2.json
req gpu-dc SAE_D POST "$E/SAE_X/dec_keys" "$ids"; expect_keys 2 "class other: SAE_D fetches them"
[ "$(jq -S . enc2.json)" = "$(jq -S . resp.json)" ] && ok "class other: keys match" || bad "class other: keys differ"

echo "--- status, audit, logs"
"$MFSCTL" --socket office.sock status >st.txt 2>&1
sed -n '/^supply/,$p' st.txt
grep -q "^supply https://127.0.0.1:$S1: 4 SAE(s), 2 worker(s)" st.txt && ok "mfsctl status shows the supply face" || bad "mfsctl status: $(cat st.txt)"
served=$(jctl office status | jq -r '.supply.keys_served')
[ "$served" -ge 16 ] && ok "status counts keys served ($served)" || bad "keys_served $served"
[ "$(jctl office status | jq -r '.supply.errors["401"]')" -ge 7 ] && ok "status counts 401s" || bad "401 count"
"$MFSCTL" --socket office.sock audit >audit.txt
grep -q "sae:SAE_X *supply-denied" audit.txt && ok "denied request audited (office)" || bad "no audit record: $(tail -5 audit.txt)"
"$MFSCTL" --socket gpu-dc.sock audit | grep -q "sae:SAE_D *supply-denied" && ok "401-rule denial audited (gpu-dc)" || bad "no audit record at gpu-dc"
grep -q "key supply: denied enc_keys for SAE SAE_X" office.log && ok "denied request logged" || bad "no log line"
grep -q "key supply (ETSI GS QKD 014) on https://127.0.0.1:$S1" office.log && ok "startup logged" || bad "startup not logged"
nokeys=1
for k in $(jq -r '.keys[].key' enc.json enc1.json enc2.json); do
	hex=$(printf '%s' "$k" | base64 -d | od -An -tx1 | tr -d ' \n')
	for f in office.log gpu-dc.log; do
		if grep -qF -e "$k" -e "$hex" "$f"; then nokeys=0; fi
	done
done
[ $nokeys = 1 ] && ok "no served key (base64 or hex) in the logs" || bad "key material in a log"

echo "--- configuration errors"
sed 's/^classes = training$/classes = trainingx/' office.conf >bad1.conf
out=$("$MFSD" --config bad1.conf --foreground 2>&1); [[ $out == *"bad1.conf:"*"classes: no [class gpu-dc trainingx] section"* ]] &&
	ok "unknown class in [sae]: $out" || bad "bad1: $out"
sed 's/^role = slave$/role = boss/' gpu-dc.conf >bad2.conf
out=$("$MFSD" --config bad2.conf --foreground 2>&1); [[ $out == *"bad2.conf:"*"role: 'boss' is not master, slave or both"* ]] &&
	ok "bad role: $out" || bad "bad2: $out"
sed 's/^classes = other$/classes = training/' gpu-dc.conf >bad3.conf
out=$("$MFSD" --config bad3.conf --foreground 2>&1); [[ $out == *"bad3.conf:"*"one"*"per pool"* ]] &&
	ok "two SAEs on one pool: $out" || bad "bad3: $out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
