# SPDX-License-Identifier: Apache-2.0
#
# Assertions shared by the integration tests (sourced, not run). Each test
# counts with $pass / $fail and prints its own summary line.
#   ok TEXT / bad TEXT                  count a passed / failed check
#   expect_ok CMD...                    CMD must exit 0
#   expect_fail RC PATTERN -- CMD...    CMD must exit RC and print PATTERN on stderr
#   same A B TEXT / differ A B TEXT     files equal / different
#   flip FILE OFFSET MASK               XOR one byte in place (a real bit flip, never a no-op)
#   check TEXT CMD...                   ok TEXT when CMD exits 0, else bad TEXT
#   wait_for SECONDS CMD...             run CMD every 0.2 s until it exits 0 (then 0) or time is up (1)
# Commands run with stdout in out.txt and stderr in err.txt of the current directory.

pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }
expect_ok() { if "$@" >out.txt 2>err.txt; then ok "$*"; else bad "$* failed: $(head -c 300 err.txt)"; fi; }
expect_fail() {
	local want=$1 pat=$2; shift 3
	"$@" >out.txt 2>err.txt
	local rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pat" err.txt; then ok "refused ($pat): $*"
	else bad "expected rc=$want and '$pat' from: $* (rc=$rc, stderr: $(head -c 300 err.txt))"; fi
}
same() { if cmp -s "$1" "$2"; then ok "$3"; else bad "$3 ($1 != $2)"; fi; }
differ() { if cmp -s "$1" "$2"; then bad "$3 ($1 == $2)"; else ok "$3"; fi; }
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $(( b ^ $3 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
wait_for() {
	local end=$((SECONDS + $1)); shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
	return 1
}
