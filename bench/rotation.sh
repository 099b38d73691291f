#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Does a static key rotation stall mfsd? Two mfsd on loopback with both
# McEliece sets; the event loop's responsiveness is sampled as the round
# trip of an admin request ("peers", over the admin socket, from Python: no
# process start in the loop) every 2 ms, first idle (the reference), then
# while `mfsctl rotate-static` generates, writes and announces both new keys
# (the worker thread's time is in the log). Reported: median, 99th
# percentile and maximum round trip of both windows and their ratios
# (same run, same box: meaningful under load), the worker's key generation
# times, and the exchange durations the log reports during the rotation.
# Not part of make check (docs/performance.md).
#
#   bench/rotation.sh [MFSD MFSCTL]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
MFSD=$(realpath "${1:-$top/build/src/daemon/mfsd}") MFSCTL=$(realpath "${2:-$top/build/src/cli/mfsctl}")
KEX=$top/build/src/cli/mfs-kex
T=$(mktemp -d /tmp/mfs-bench-rotation.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
cd "$T" || exit 1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(port) P2=$(port)
"$MFSCTL" genid --id office --dir id-office >office.pins || exit 1
"$MFSCTL" genid --id gpu-dc --dir id-gpu >gpu.pins || exit 1
mkdir -m 700 psk copy-office copy-gpu
"$KEX" keygen --method psk --secret-key psk/link.psk >/dev/null || exit 1
cp id-office/*.pk copy-office/ && cp id-gpu/*.pk copy-gpu/
conf() {	# me peer mydir peercopy myport peerport peerpins
	cat <<CONF
[node]
id = $1
listen = 127.0.0.1:$5
identity_key = $3/node.key
identity_cert = $3/node.crt
mceliece460896_key = $3/mceliece460896.sk
mceliece460896_pub = $3/mceliece460896.pk
mceliece6688128_key = $3/mceliece6688128.sk
mceliece6688128_pub = $3/mceliece6688128.pk
state_dir = state-$1
admin_socket = $1.sock
psk_dir = psk
log_level = info
[peer $2]
address = 127.0.0.1:$6
$(grep '^pin_' "$7" | sed "s|= peers/$2\.|= $4/|")
psk_id = link
[class $2 bulk]
required = mceliece460896, mceliece6688128, psk
optional = mlkem768
pool_low = 32
pool_high = 64
CONF
}
conf office gpu-dc id-office copy-gpu "$P1" "$P2" gpu.pins >office.conf
conf gpu-dc office id-gpu copy-office "$P2" "$P1" office.pins >gpu-dc.conf
for n in office gpu-dc; do "$MFSD" --config $n.conf --foreground >$n.log 2>&1 & PIDS+=($!); done
for _ in $(seq 1 100); do
	"$MFSCTL" --socket office.sock --json status 2>/dev/null | grep -q '"outbound": 6[4-9]' && break
	sleep 0.2
done
# keep exchanges running from both sides throughout
( while :; do "$MFSCTL" --socket office.sock rekey gpu-dc >/dev/null 2>&1; sleep 0.2; done ) & PIDS+=($!)
python3 - "$MFSCTL" <<'PY'
import json, socket, struct, subprocess, sys, time
ctl = sys.argv[1]
def req(path, obj):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    b = json.dumps(obj).encode(); s.sendall(struct.pack(">I", len(b)) + b)
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    d = b""
    while len(d) < n: d += s.recv(n - len(d))
    s.close(); return json.loads(d)
def sample(seconds=None, until=None):
    rtts, t_end = [], time.monotonic() + (seconds or 60)
    while time.monotonic() < t_end:
        t0 = time.perf_counter(); r = req("office.sock", {"cmd": "peers"}); rtts.append((time.perf_counter() - t0) * 1e3)
        if until and until(): break
        time.sleep(0.002)
    return sorted(rtts)
def ids(): return [k["id"] for k in req("office.sock", {"cmd": "status"})["static_keys"]]
def stat(x): return x[len(x) // 2], x[min(len(x) - 1, int(len(x) * 0.99))], x[-1]
ref = sample(seconds=3)
old = ids()
subprocess.run([ctl, "--socket", "office.sock", "rotate-static"], check=True, stdout=subprocess.DEVNULL)
t0 = time.monotonic()
def done():
    st = req("office.sock", {"cmd": "status"})["static_keys"]
    return all(k["id"] not in old and k["state"] in ("grace",) for k in st)
dur = sample(until=done)
el = time.monotonic() - t0
a, b = stat(ref), stat(dur)
print(f"admin round trip, idle (reference): median {a[0]:.2f} ms, p99 {a[1]:.2f} ms, max {a[2]:.2f} ms ({len(ref)} samples)")
print(f"admin round trip, during rotation : median {b[0]:.2f} ms, p99 {b[1]:.2f} ms, max {b[2]:.2f} ms ({len(dur)} samples, {el:.2f} s until both keys were pinned by the peer)")
print(f"ratio rotation/idle: median {b[0]/a[0]:.2f}, p99 {b[1]/a[1]:.2f}, max {b[2]/a[2]:.2f}")
PY
echo "worker thread (office.log):"
grep -h 'generated and written' office.log | sed 's/^mfsd: info: /  /'
echo "exchanges during the rotation (office.log, duration as logged):"
awk '/rotate-static|generating a new/ {on=1} on && /exchange done/ {for (i=1;i<=NF;i++) if ($i=="ms,") print $(i-1)}' office.log |
	sort -n | awk '{a[NR]=$1} END {if (NR) printf "  %d exchanges: median %s ms, max %s ms\n", NR, a[int((NR+1)/2)], a[NR]}'
echo "exchanges before (reference):"
awk '/generating a new/ {exit} /exchange done/ {for (i=1;i<=NF;i++) if ($i=="ms,") print $(i-1)}' office.log |
	sort -n | awk '{a[NR]=$1} END {if (NR) printf "  %d exchanges: median %s ms, max %s ms\n", NR, a[int((NR+1)/2)], a[NR]}'
