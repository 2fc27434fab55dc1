# SPDX-License-Identifier: MIT
#
# ringlog's front door. meson and ninja do the real work; this file only
# remembers the right options so that nobody has to. `make help` lists the
# targets; docs/building.md explains the build directories and options.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

MESON ?= meson
NINJA ?= ninja
# Parallel compile jobs; ninja's own default oversubscribes small machines.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# How long each stress test runs in `make test` (meson option stress_seconds).
STRESS_SECONDS ?= 5

# The four build directories. Override them to keep a second set, e.g.
# `make test BUILD=b2 BUILD_CRASH=b2-crash BUILD_ASAN=b2-asan BUILD_TSAN=b2-tsan`.
BUILD ?= build
BUILD_CRASH ?= build-crash
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan

# Options of each directory, as meson NAME=VALUE words (see meson_options.txt).
# release: what users run and benchmark; the suites that need no hooks.
RELEASE_OPTS := buildtype=release werror=true tests=enabled stress_seconds=$(STRESS_SECONDS)
# crash: RING_CRASH_POINT() hooks compiled in, so the crash suite can kill a
# process at a chosen instruction. Never ship this build.
CRASH_OPTS := buildtype=debugoptimized werror=true tests=enabled crash_points=true \
	stress_seconds=$(STRESS_SECONDS)
# asan: AddressSanitizer + UndefinedBehaviorSanitizer over the unit and
# integration suites. b_lundef=false: the shared libring cannot be linked
# with -Wl,--no-undefined once the sanitizer runtimes are involved.
ASAN_OPTS := buildtype=debugoptimized werror=true tests=enabled \
	b_sanitize=address,undefined b_lundef=false stress_seconds=$(STRESS_SECONDS)
# tsan: ThreadSanitizer over the threaded stress test (many producers and
# readers in one process) and the suites around it. No ring-bench: its
# spinning processes say nothing TSan can check.
TSAN_OPTS := buildtype=debugoptimized werror=true tests=enabled perf=false \
	b_sanitize=thread b_lundef=false stress_seconds=$(STRESS_SECONDS)

RELEASE_SUITES := unit headers integration stress
CRASH_SUITES := crash
ASAN_SUITES := unit integration
TSAN_SUITES := unit integration stress

# Every sanitizer report is fatal, with a stack trace; leaks count as errors.
SANITIZER_ENV := ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:abort_on_error=1:second_deadlock_stack=1

# Prints the -DNAME=VALUE arguments among its own argv whose value differs
# from what `meson introspect --buildoptions` (on stdin) reports.
OPTDIFF_PY := import json, sys; \
	have = {o["name"]: o["value"] for o in json.load(sys.stdin)}; \
	fmt = lambda v: ",".join(v) if isinstance(v, list) else (str(v).lower() if isinstance(v, bool) else str(v)); \
	print(" ".join("-D" + a for a in sys.argv[1:] if fmt(have.get(a.split("=", 1)[0])) != a.split("=", 1)[1]))

# $(call configure,DIR,OPTIONS): set DIR up with OPTIONS, or, if DIR is
# already configured, change only the options that differ (meson configure),
# so that an unchanged tree costs nothing.
define configure
	@if [ -f $(1)/build.ninja ]; then \
		changed=$$($(MESON) introspect $(1) --buildoptions | python3 -c '$(OPTDIFF_PY)' $(2)); \
		if [ -n "$$changed" ]; then \
			echo "==> meson configure $(1) $$changed"; \
			$(MESON) configure $(1) $$changed; \
		fi; \
	else \
		echo "==> meson setup $(1) $(addprefix -D,$(2))"; \
		$(MESON) setup $(1) $(addprefix -D,$(2)); \
	fi
	@echo "==> ninja -C $(1) -j $(JOBS)"
	@$(NINJA) -C $(1) -j $(JOBS)
endef

# $(call run_suites,DIR,SUITES[,EXTRA-MESON-TEST-ARGS[,ENV]]): run the suites of
# SUITES that have tests in DIR. meson 1.0.1 treats `--suite X` with no test
# in X as "No suitable tests defined" and succeeds, which would hide a typo
# or a suite that vanished; asking per suite lets us say which suites are
# still empty instead.
define run_suites
	@args=""; \
	for s in $(2); do \
		if $(MESON) test -C $(1) --no-rebuild --list --suite $$s >/dev/null 2>&1; then \
			args="$$args --suite $$s"; \
		else \
			echo "==> $(1): suite '$$s' has no tests yet; skipped"; \
		fi; \
	done; \
	rm -f $(1)/meson-logs/testlog.json; \
	if [ -z "$$args" ]; then \
		echo "==> $(1): no tests to run yet"; \
	else \
		echo "==> meson test -C $(1) --print-errorlogs --num-processes 2$(if $(strip $(3)), $(strip $(3)))$$args"; \
		$(4) $(MESON) test -C $(1) --no-rebuild --print-errorlogs --num-processes 2 $(3) $$args; \
	fi
endef

# One line per build directory, from meson's own log of the last run.
define recap
	@log=$(1)/meson-logs/testlog.json; \
	if [ -f $$log ]; then \
		n() { grep -c "\"result\": \"$$1\"" $$log || true; }; \
		printf '    %-14s ok %s, fail %s, skipped %s, timeout %s\n' $(1) \
			$$(n OK) $$(n FAIL) $$(n SKIP) $$(n TIMEOUT); \
	else \
		printf '    %-14s no tests run\n' $(1); \
	fi
endef

# The suites print a lot; one build directory at a time keeps it readable.
.NOTPARALLEL:

.PHONY: all build deps test test-release test-crash test-asan test-tsan demo bench format clean help

all: build

help:
	@echo "ringlog make targets:"
	@echo "  make [build]   install missing Debian packages (as root) and build $(BUILD)/:"
	@echo "                 $(BUILD)/daemon/ringd, $(BUILD)/tools/ringctl, $(BUILD)/perf/ring-bench"
	@echo "  make test      every test suite: unit, headers, integration and stress in"
	@echo "                 $(BUILD)/; crash in $(BUILD_CRASH)/; unit and integration under"
	@echo "                 ASan+UBSan in $(BUILD_ASAN)/; unit, integration and stress"
	@echo "                 under TSan in $(BUILD_TSAN)/. Fails if anything fails."
	@echo "  make test-release | test-crash | test-asan | test-tsan   one of those only"
	@echo "  make demo      build, then a guided tour of ringctl (scripts/demo.sh)"
	@echo "  make bench     build, then ring-bench floor, latency and throughput (JSON lines)"
	@echo "  make format    clang-format -i every tracked C file (or FILES=\"a.c b.h\")"
	@echo "  make clean     remove $(BUILD)/, $(BUILD_CRASH)/, $(BUILD_ASAN)/ and $(BUILD_TSAN)/"
	@echo "  make deps      only check (and, as root, install) the Debian packages"
	@echo ""
	@echo "Variables: JOBS=$(JOBS) STRESS_SECONDS=$(STRESS_SECONDS) BUILD=$(BUILD)" \
		"BUILD_CRASH=$(BUILD_CRASH) BUILD_ASAN=$(BUILD_ASAN) BUILD_TSAN=$(BUILD_TSAN)"

deps:
	@scripts/deps.sh

build: deps
	$(call configure,$(BUILD),$(RELEASE_OPTS))

test: test-release test-crash test-asan test-tsan
	@echo "==> make test: all suites passed"
	$(call recap,$(BUILD))
	$(call recap,$(BUILD_CRASH))
	$(call recap,$(BUILD_ASAN))
	$(call recap,$(BUILD_TSAN))

test-release: build
	$(call run_suites,$(BUILD),$(RELEASE_SUITES))

test-crash: deps
	$(call configure,$(BUILD_CRASH),$(CRASH_OPTS))
	$(call run_suites,$(BUILD_CRASH),$(CRASH_SUITES))

test-asan: deps
	$(call configure,$(BUILD_ASAN),$(ASAN_OPTS))
	@echo "==> sanitizer reports are fatal: $(SANITIZER_ENV)"
	$(call run_suites,$(BUILD_ASAN),$(ASAN_SUITES),--timeout-multiplier 3,$(SANITIZER_ENV))

test-tsan: deps
	$(call configure,$(BUILD_TSAN),$(TSAN_OPTS))
	@echo "==> data races are fatal: $(TSAN_ENV)"
	$(call run_suites,$(BUILD_TSAN),$(TSAN_SUITES),--timeout-multiplier 3,$(TSAN_ENV))

demo: build
	@BUILD_DIR=$(BUILD) scripts/demo.sh

bench: build
	@bench=$(BUILD)/perf/ring-bench; \
	if [ ! -x $$bench ]; then \
		echo "make bench: $$bench was not built (is -Dperf=false, or perf/ unfinished?)" >&2; \
		exit 1; \
	fi; \
	for mode in floor latency throughput; do \
		echo "==> $$bench $$mode --json" >&2; \
		$$bench $$mode --json; \
	done

# `make format FILES="a.c b.h"` formats only those files.
format:
	@command -v clang-format >/dev/null || \
		{ echo "make format: needs clang-format (apt-get install clang-format)" >&2; exit 1; }
	@files="$(FILES)"; \
	if [ -z "$$files" ]; then files=$$(git ls-files -- '*.c' '*.h'); fi; \
	[ -z "$$files" ] || clang-format -i $$files; \
	echo "==> clang-format -i: $$(wc -w <<<"$$files") files"

clean:
	rm -rf -- $(BUILD) $(BUILD_CRASH) $(BUILD_ASAN) $(BUILD_TSAN)
