# SPDX-License-Identifier: Apache-2.0
#
# Entry points; the build itself is Meson (meson.build). Each target that
# needs the toolchain runs scripts/install-deps first (fast when all is there).
#
#   make demo    install dependencies, build, run scripts/demo
#   make check   install dependencies, then scripts/run-tests: source checks, the
#                whole suite with gcc, then again under ASan+UBSan with every fuzz
#                corpus replayed by libFuzzer; last line "N passed, N failed"
#   make build   configure (first time) and compile build/
#   make fuzz    run each libFuzzer harness for FUZZ_SECONDS (scratch corpus)
#   make bench   install dependencies, build, run build/bench/kex: ops/s and CPU
#                time per exchange of every method and of the four-factor suite,
#                each with its ratio to openssl speed / mceliece-speed measured in
#                the same run (takes ~5-8 minutes, half of it mceliece-speed; see
#                docs/performance.md); then build/bench/exchange: full exchanges
#                per second and CPU per exchange, two parties on real TLS and
#                SQLite, persistent channel and new TLS per exchange (~5 min);
#                then build/bench/qkd: QKD relay latency against hop count and
#                keys/s through the qkdsim KSA over HTTPS (~1 min, docs/qkdsim.md).
#                then build/bench/supply: ETSI 014 key supply keys/s and p50/p99
#                with 64 mTLS clients against a same-run reference (~2 min).
#                Not part of make check.
#   make check-long  the tunnel integration test with its full 60-s rekey run (root)
#   make bench-tunnel  bench/tunnel.sh: iperf3 through mfs-tunnel vs raw veth,
#                wireguard-go and the openssl speed AES-256-GCM bound (root, ~10 min)
#   make deps    scripts/install-deps
#   make clean   remove build/ and build-san/
#
# Variables: MESON_OPTS="-Dmceliece=disabled ..." (extra meson options),
# JOBS (default: number of CPUs), FUZZ_SECONDS (default 60), FUZZ_TARGETS,
# BENCH_ARGS (passed to build/bench/kex, e.g. "--markdown --no-mceliece-speed"),
# BENCH_EXCHANGE_ARGS (passed to build/bench/exchange, e.g. "--markdown --reps 3"),
# BENCH_PUSH_ARGS (passed to build/bench/push, e.g. "--markdown --keys 5000").
# BENCH_SUPPLY_ARGS (passed to build/bench/supply, e.g. "--markdown --seconds 5").

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MESON_OPTS ?=
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
BENCH_ARGS ?=
BENCH_EXCHANGE_ARGS ?=
BENCH_QKD_ARGS ?=
BENCH_SUPPLY_ARGS ?=
export JOBS MESON_OPTS FUZZ_SECONDS FUZZ_TARGETS

.PHONY: all deps build check check-long demo fuzz bench bench-tunnel clean

all: build

deps:
	@scripts/install-deps

build:
	@scripts/build

# The summary must stay the last line of output, but make prints its own
# "make: *** [Makefile:N: check] Error 1" after a failed recipe, and has no
# switch to keep quiet about a failure it does not ignore. So on failure the
# recipe ends make with SIGPIPE (whose default action is silent, and which
# shells do not report): make exits non-zero (141) and prints nothing more.
# Should SIGPIPE be ignored, make carries on and prints its line as usual.
check:
	@scripts/run-tests --deps || { kill -PIPE $$PPID; exit 1; }

# The tunnel test with the full 60-s rekey-every-2-s run under iperf3 load
# (make check runs it for 20 s).
check-long: deps
	@scripts/build
	@TUNNEL_REKEY_SECONDS=60 meson test -C build --no-rebuild --print-errorlogs --suite tunnel

demo: deps
	@scripts/build
	@scripts/demo

fuzz: deps
	@scripts/fuzz

bench: deps
	@scripts/build
	@build/bench/kex $(BENCH_ARGS)
	@build/bench/exchange $(BENCH_EXCHANGE_ARGS)
	@build/bench/qkd $(BENCH_QKD_ARGS)
	@build/bench/push $(BENCH_PUSH_ARGS)
	@build/bench/supply $(BENCH_SUPPLY_ARGS)

bench-tunnel: deps
	@scripts/build
	@bench/tunnel.sh $(BENCH_TUNNEL_ARGS)

clean:
	rm -rf build build-san
