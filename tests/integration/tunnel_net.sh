# SPDX-License-Identifier: Apache-2.0
#
# Two sites for mfs-tunnel (sourced, not run) by tests/integration/test_tunnel.sh,
# bench/tunnel.sh and scripts/demo: network namespaces $TN_A and $TN_B joined
# by a veth pair (outer 10.201.0.1 / 10.201.0.2), a TUN device mt0 in each with
# inner 10.99.0.1 / .2 and fd99::1 / ::2, MTU 1420.
#
#   tn_setup PREFIX       create the namespaces PREFIX-a, PREFIX-b and the veth pair
#   tn_keyfile FILE       write a fresh random static key (mode 0600)
#   tn_start SIDE ARGS... start mfs-tunnel ($MFS_TUNNEL) in the namespace of SIDE
#                         (a|b) with ARGS added, log in $TN_DIR/SIDE.log, wait for
#                         mt0 and configure it; its PID goes to TN_PID_a / TN_PID_b
#   tn_stop SIDE          SIGTERM that tunnel and wait for it (its stats line lands in the log)
#   tn_cleanup            stop everything started here (by PID) and delete the namespaces
#
# Needs root, ip(8) and /dev/net/tun. TN_DIR must be set (a private directory).

TN_A= TN_B= TN_PID_a= TN_PID_b=
TN_EXTRA_PIDS=()

tn_setup() {
	TN_A="$1-a" TN_B="$1-b"
	ip netns add "$TN_A" && ip netns add "$TN_B" || return 1
	ip link add "${1: -6}va" netns "$TN_A" type veth peer name "${1: -6}vb" netns "$TN_B" || return 1
	TN_VA="${1: -6}va" TN_VB="${1: -6}vb"
	ip -n "$TN_A" link set lo up && ip -n "$TN_B" link set lo up
	ip -n "$TN_A" addr add 10.201.0.1/24 dev "$TN_VA" && ip -n "$TN_A" link set "$TN_VA" up
	ip -n "$TN_B" addr add 10.201.0.2/24 dev "$TN_VB" && ip -n "$TN_B" link set "$TN_VB" up
}

tn_keyfile() {
	(umask 077; echo "$(openssl rand -hex 16) $(openssl rand -hex 32)" >"$1.tmp" && mv "$1.tmp" "$1")
}

tn_ns() { [ "$1" = a ] && echo "$TN_A" || echo "$TN_B"; }

tn_start() {
	local side=$1 ns i peer local_ip pid
	shift
	ns=$(tn_ns "$side")
	if [ "$side" = a ]; then i=1 peer=10.201.0.2 local_ip=10.201.0.1
	else i=2 peer=10.201.0.1 local_ip=10.201.0.2; fi
	mkdir -p "$TN_DIR/state-$side"
	ip netns exec "$ns" "$MFS_TUNNEL" --tun mt0 --local "$local_ip:4500" --peer "$peer:4500" \
		--side "$side" --state-dir "$TN_DIR/state-$side" "$@" >>"$TN_DIR/$side.log" 2>&1 &
	pid=$!
	eval "TN_PID_$side=$pid"
	for _ in $(seq 100); do
		ip -n "$ns" link show mt0 >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	ip -n "$ns" link set mt0 mtu 1420 up &&
	ip -n "$ns" addr replace "10.99.0.$i/24" dev mt0 &&
	ip -n "$ns" addr replace "fd99::$i/64" dev mt0 nodad
}

tn_stop() {
	local pid
	eval "pid=\${TN_PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "TN_PID_$1="
}

tn_cleanup() {	# safe under set -e and when called twice
	local p
	for p in "${TN_EXTRA_PIDS[@]}" $TN_PID_a $TN_PID_b; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	TN_EXTRA_PIDS=()
	if [ -n "$TN_A" ]; then ip netns del "$TN_A" 2>/dev/null || true; fi
	if [ -n "$TN_B" ]; then ip netns del "$TN_B" 2>/dev/null || true; fi
	TN_PID_a= TN_PID_b= TN_A= TN_B=
}

# The last "stats (exit)" counter NAME of a side's log.
tn_stat() {
	grep -o "stats (exit).*" "$TN_DIR/$1.log" | tail -1 | grep -o "$2=[0-9]*" | cut -d= -f2
}
