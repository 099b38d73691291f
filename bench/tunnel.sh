#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/tunnel.sh: iperf3 throughput through mfs-tunnel against packet size,
# with one and two worker threads, next to references measured in the same
# run on the same veth pair between two network namespaces:
#   raw    iperf3 straight over the veth (no tunnel)
#   wg     wireguard-go (userspace WireGuard over TUN, as the kernel has no module)
#   aes    `openssl speed -evp aes-256-gcm` at the same size, one core: the
#          crypto bound a single-threaded encryptor cannot beat
# Ratios are reported against wg and aes (docs/performance.md explains them).
# For TCP at each size the bench also counts the CPU time the whole box spent
# during the raw veth run (/proc/stat: user, nice, system, irq, softirq) and
# prints a ceiling: the throughput a tunnel could reach if it cost nothing
# but the raw path's CPU plus one AES-256-GCM encryption and one decryption
# of every byte on these CPUs, both ends on this box:
#   ceiling = CPUs / (raw CPU-s per Gbit + 2 / AES bound)
# Other tenants' CPU time counts as the raw path's (it lowers the ceiling),
# so it is meaningful on a quiet box only; the idle share is printed with it.
#
#   bench/tunnel.sh [--time SEC] [--reps N] [--sizes "64 128 ..."] [--markdown]
#                   [--no-udp] [--no-wg] [--tunnel PATH]
#
# Packet size is the inner IP packet: UDP payload = size - 28; TCP MSS =
# size - 40, but never below the kernel's minimum MSS of 88 (so TCP at 64 B
# runs with 128-byte packets; the table says so). Needs root, iperf3,
# openssl; wireguard-go and wg for the wg column. The result is the median of
# --reps runs of --time seconds each (default 1 run of 5 s; the issue's
# reference numbers are medians of 10-s runs: --time 10 --reps 3).
set -uo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
HERE=$(dirname "$(realpath "$0")")
ROOT=$(dirname "$HERE")
MFS_TUNNEL=${MFS_TUNNEL:-$ROOT/build/src/tunnel/mfs-tunnel}
TIME=5 REPS=1 SIZES="64 128 256 512 1024 1420" MARKDOWN=0 UDP=1 WG=1

usage() { sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--time) TIME=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--markdown) MARKDOWN=1 ;;
	--no-udp) UDP=0 ;;
	--no-wg) WG=0 ;;
	--tunnel) MFS_TUNNEL=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench/tunnel.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
die() { echo "bench/tunnel.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TUN)"
for t in iperf3 openssl ip python3; do command -v $t >/dev/null || die "$t is missing (scripts/install-deps)"; done
[ -x "$MFS_TUNNEL" ] || die "$MFS_TUNNEL not built (make build)"
if [ "$WG" = 1 ] && ! { command -v wireguard-go && command -v wg; } >/dev/null; then
	echo "bench/tunnel.sh: wireguard-go or wg missing: no wg column" >&2
	WG=0
fi

. "$ROOT/tests/integration/tunnel_net.sh"
TN_DIR=$(mktemp -d /tmp/bench-tunnel.XXXXXX)
WG_PIDS=()
finish() {
	for p in "${WG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	tn_cleanup
	rm -rf "$TN_DIR"
}
trap finish EXIT
trap 'exit 130' INT TERM
cd "$TN_DIR" || exit 1
tn_setup "tunb$$" || die "cannot create namespaces"

# iperf3 once: PROTO SIZE DST -> Gbit/s received (UDP: after loss)
iperf_once() {
	local proto=$1 size=$2 dst=$3 args
	if [ "$proto" = tcp ]; then
		local mss=$((size - 40)); [ "$mss" -lt 88 ] && mss=88
		args=(-M "$mss")
	else
		args=(-u -b 0 -l $((size - 28)))
	fi
	# Bounded: a stalled run must not hang the bench.
	ip netns exec "$TN_B" timeout $((TIME + 30)) iperf3 -s -1 -B "$dst" -p 5299 >/dev/null 2>&1 &
	local sp=$!
	sleep 0.3
	head -1 /proc/stat >stat.0
	ip netns exec "$TN_A" timeout $((TIME + 25)) iperf3 -c "$dst" -p 5299 -t "$TIME" -J "${args[@]}" \
		>iperf.json 2>/dev/null
	head -1 /proc/stat >stat.1
	wait "$sp" 2>/dev/null
	python3 - "$proto" "$(getconf CLK_TCK)" <<'PY' >>cpu.txt
# busy CPU-seconds per Gbit received and idle share during the run
import json, sys
try:
	a = [int(x) for x in open('stat.0').read().split()[1:]]
	b = [int(x) for x in open('stat.1').read().split()[1:]]
	d = [y - x for x, y in zip(a, b)]
	busy = (d[0] + d[1] + d[2] + d[5] + d[6]) / int(sys.argv[2])
	total = sum(d[:8]) or 1
	gbit = json.load(open('iperf.json'))['end']['sum_received']['bytes'] * 8 / 1e9
	print(f"{busy / gbit:.4f} {(d[3] + d[4]) / total:.3f}")
except Exception:
	print("nan nan")
PY
	python3 - "$proto" <<'PY'
import json, sys
try:
	d = json.load(open('iperf.json'))
	e = d['end']
	if sys.argv[1] == 'tcp':
		bps = e['sum_received']['bits_per_second']
	else:
		s = e.get('sum_received') or e['sum']
		bps = s['bits_per_second']
		if 'sum_received' not in e:
			bps *= 1 - s.get('lost_percent', 0) / 100
	print(f"{bps / 1e9:.3f}")
except Exception:
	print("nan")
PY
}

# median of REPS runs
measure() {
	local vals=() i
	for ((i = 0; i < REPS; i++)); do vals+=("$(iperf_once "$@")"); done
	printf '%s\n' "${vals[@]}" | python3 -c '
import sys, statistics
v = [float(x) for x in sys.stdin.read().split() if x != "nan"]
print(f"{statistics.median(v):.3f}" if v else "nan")'
}

aes_bound() {	# SIZE -> Gbit/s of one core
	openssl speed -evp aes-256-gcm -bytes "$1" -seconds 2 -mr 2>/dev/null |
		awk -F: '/^\+F:/ { printf "%.3f\n", $4 * 8 / 1e9 }'
}

start_mfs() {	# THREADS
	tn_keyfile key
	# The per-key packet limit at its maximum (2^31): at 64 B the default 2^23 lasts seconds,
	# and the tunnel then (rightly) fails closed until the next key.
	local o=(--static-key-file key --threads "$1" --max-packets 2147483648)
	tn_start a "${o[@]}" && tn_start b "${o[@]}" ||
		die "mfs-tunnel does not start (see $TN_DIR)"
	sleep 0.3
	ip netns exec "$TN_A" ping -c 1 -W 3 10.99.0.2 >/dev/null || die "no traffic through mfs-tunnel"
}
stop_mfs() { tn_stop a; tn_stop b; }

start_wg() {
	local a_priv b_priv a_pub b_pub ns i peer port pk
	a_priv=$(wg genkey) b_priv=$(wg genkey)
	a_pub=$(wg pubkey <<<"$a_priv") b_pub=$(wg pubkey <<<"$b_priv")
	for side in a b; do
		# The UAPI socket /var/run/wireguard/NAME.sock is shared by all namespaces: unique names.
		local dev=wg$side$$
		if [ $side = a ]; then ns=$TN_A i=1 peer=10.201.0.2 pk=$b_pub; echo "$a_priv" >wg-a.key
		else ns=$TN_B i=2 peer=10.201.0.1 pk=$a_pub; echo "$b_priv" >wg-b.key; fi
		chmod 600 wg-$side.key
		WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 ip netns exec "$ns" wireguard-go -f "$dev" \
			>wg-$side.log 2>&1 &
		WG_PIDS+=($!)
		for _ in $(seq 200); do ip -n "$ns" link show "$dev" >/dev/null 2>&1 && break; sleep 0.1; done
		ip -n "$ns" link show "$dev" >/dev/null 2>&1 || { tail -5 wg-$side.log >&2; die "wireguard-go made no $dev"; }
		ip netns exec "$ns" wg set "$dev" private-key wg-$side.key listen-port 51820 \
			peer "$pk" allowed-ips 10.98.0.0/24 endpoint "$peer:51820" || die "wg set failed"
		ip -n "$ns" addr add "10.98.0.$i/24" dev "$dev"
		ip -n "$ns" link set "$dev" mtu 1420 up
	done
	sleep 0.3
	ip netns exec "$TN_A" ping -c 1 -W 3 10.98.0.2 >/dev/null || die "no traffic through wireguard-go"
}
stop_wg() {
	for p in "${WG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	WG_PIDS=()
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R
protos=(tcp)
[ "$UDP" = 1 ] && protos+=(udp)
echo "# bench/tunnel: $(nproc) CPUs, load average $load_before, iperf3 $TIME s x $REPS, sizes $SIZES" >&2
for s in $SIZES; do R[aes,$s]=$(aes_bound "$s"); done
for p in "${protos[@]}"; do
	for s in $SIZES; do
		: >cpu.txt
		R[raw,$p,$s]=$(measure "$p" "$s" 10.201.0.2)
		# median CPU-s per Gbit and idle share of the raw runs
		read -r R[rawcpu,$p,$s] R[rawidle,$p,$s] < <(python3 -c '
import sys, statistics
rows = [l.split() for l in open("cpu.txt") if "nan" not in l]
print(f"{statistics.median(float(r[0]) for r in rows):.4f} {statistics.median(float(r[1]) for r in rows):.3f}" if rows else "nan nan")')
		echo "# raw $p $s: ${R[raw,$p,$s]} (${R[rawcpu,$p,$s]} CPU-s per Gbit, idle ${R[rawidle,$p,$s]})" >&2
	done
done
for th in 1 2; do
	start_mfs "$th"
	for p in "${protos[@]}"; do
		for s in $SIZES; do
			R[mfs$th,$p,$s]=$(measure "$p" "$s" 10.99.0.2)
			echo "# mfs-tunnel ${th}T $p $s: ${R[mfs$th,$p,$s]}" >&2
		done
	done
	stop_mfs
	grep -h "stats (exit)" a.log b.log | tail -2 | sed 's/^/# /' >&2
	: >a.log; : >b.log
done
if [ "$WG" = 1 ]; then
	start_wg
	for p in "${protos[@]}"; do
		for s in $SIZES; do R[wg,$p,$s]=$(measure "$p" "$s" 10.98.0.2); echo "# wireguard-go $p $s: ${R[wg,$p,$s]}" >&2; done
	done
	stop_wg
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('-' if 'nan' in (a,b) or float(b)==0 else f'{float(a)/float(b):.2f}')" "$1" "$2"; }
sep=' '; [ "$MARKDOWN" = 1 ] && sep=' | '
echo
echo "mfs-tunnel throughput (Gbit/s, inner packets received), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
echo "load average before $load_before, after $load_after (other users on the box)"
for p in "${protos[@]}"; do
	echo
	hdr="${p^^} size${sep}raw veth${sep}wg-go${sep}mfs 1T${sep}mfs 2T${sep}2T/wg${sep}AES bound${sep}1T/AES${sep}2T/AES"
	if [ "$MARKDOWN" = 1 ]; then echo "| $hdr |"; echo "|---|---|---|---|---|---|---|---|---|"; else echo "$hdr"; fi
	for s in $SIZES; do
		wgv=${R[wg,$p,$s]:-nan}
		label=$s; [ "$p" = tcp ] && [ $((s - 40)) -lt 88 ] && label="$s (MSS 88)"
		row="$label${sep}${R[raw,$p,$s]}${sep}$wgv${sep}${R[mfs1,$p,$s]}${sep}${R[mfs2,$p,$s]}${sep}$(ratio "${R[mfs2,$p,$s]}" "$wgv")${sep}${R[aes,$s]}${sep}$(ratio "${R[mfs1,$p,$s]}" "${R[aes,$s]}")${sep}$(ratio "${R[mfs2,$p,$s]}" "${R[aes,$s]}")"
		if [ "$MARKDOWN" = 1 ]; then echo "| $row |"; else echo "$row"; fi
	done
done
echo
hdr="TCP size${sep}raw CPU-s/Gbit${sep}idle in raw run${sep}AES bound${sep}ceiling${sep}ceiling/AES${sep}mfs best/ceiling"
if [ "$MARKDOWN" = 1 ]; then echo "| $hdr |"; echo "|---|---|---|---|---|---|---|"; else echo "$hdr"; fi
for s in $SIZES; do
	row=$(python3 -c '
import sys
n, raw, idle, aes, m1, m2, sep = sys.argv[1:]
try:
	ceil = float(n) / (float(raw) + 2 / float(aes))
	best = max(float(m1), float(m2))
	print(sep.join([f"{raw}", f"{idle}", f"{aes}", f"{ceil:.3f}", f"{ceil / float(aes):.2f}", f"{best / ceil:.2f}"]))
except (ValueError, ZeroDivisionError):
	print(sep.join([raw, idle, aes, "-", "-", "-"]))' "$(nproc)" "${R[rawcpu,tcp,$s]}" "${R[rawidle,tcp,$s]}" "${R[aes,$s]}" \
		"${R[mfs1,tcp,$s]}" "${R[mfs2,tcp,$s]}" "$sep")
	if [ "$MARKDOWN" = 1 ]; then echo "| $s${sep}$row |"; else echo "$s${sep}$row"; fi
done
