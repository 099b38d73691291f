#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `meson install` delivers libmfs-client as documented (docs/push.md): the
# shared library, include/mfs/client.h and mfs-client.pc, exporting only
# mfs_client_* symbols; examples/push_subscriber.c compiles and links
# against the installed copy with pkg-config alone.
#
#   test_client_install.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
B=$(realpath "$1") S=$(realpath "$2")
D=$(mktemp -d /tmp/client-install.XXXXXX)
trap 'rm -rf "$D"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

meson install -C "$B" --no-rebuild --destdir "$D" >"$D/install.log" 2>&1 ||
	{ cat "$D/install.log"; echo "meson install failed"; exit 1; }
pc=$(find "$D" -name mfs-client.pc | head -1)
so=$(find "$D" -name 'libmfs-client.so.1' | head -1)
check "mfs-client.pc installed" test -n "$pc"
check "libmfs-client.so.1 installed" test -n "$so"
check "include/mfs/client.h installed" test -n "$(find "$D" -path '*/include/mfs/client.h')"
# (a sanitizer/coverage build adds the linker's __start/__stop___sancov_* section symbols)
check "only mfs_client_* symbols exported" \
	test -z "$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^mfs_client_' |
		   grep -v '^__\(start\|stop\)___sancov_')"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$D
check "pkg-config knows mfs-client" pkg-config --exists mfs-client
if nm -D "$so" | grep -q ' U __asan_init'; then
	# the ASan+UBSan build's library needs the sanitizer runtime: an outside
	# program cannot link it with plain cc (the gcc build checks this part)
	echo "SKIP building the example against a sanitizer-instrumented library"
	echo "$passes passed, $fails failed"
	[ "$fails" -eq 0 ]
	exit
fi
cc -Wall -Wextra -Werror -o "$D/push_subscriber" "$S/examples/push_subscriber.c" \
	$(pkg-config --cflags --libs mfs-client) 2>"$D/cc.log"
rc=$?
[ $rc -eq 0 ] || cat "$D/cc.log"
check "examples/push_subscriber.c builds with pkg-config only" test $rc -eq 0
check "it runs against the installed library (usage message)" bash -c \
	"LD_LIBRARY_PATH=$(dirname "$so") '$D/push_subscriber' 2>&1 | grep -q usage"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
