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
#                Not part of make check.
#   make deps    scripts/install-deps
#   make clean   remove build/ and build-san/
#
# Variables: MESON_OPTS="-Dmceliece=disabled ..." (extra meson options),
# JOBS (default: number of CPUs), FUZZ_SECONDS (default 60), FUZZ_TARGETS,
# BENCH_ARGS (passed to build/bench/kex, e.g. "--markdown --no-mceliece-speed"),
# BENCH_EXCHANGE_ARGS (passed to build/bench/exchange, e.g. "--markdown --reps 3"),
# BENCH_PUSH_ARGS (passed to build/bench/push, e.g. "--markdown --keys 5000").

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MESON_OPTS ?=
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
BENCH_ARGS ?=
BENCH_EXCHANGE_ARGS ?=
BENCH_QKD_ARGS ?=
export JOBS MESON_OPTS FUZZ_SECONDS FUZZ_TARGETS

.PHONY: all deps build check demo fuzz bench clean

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

clean:
	rm -rf build build-san
