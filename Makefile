# SPDX-License-Identifier: GPL-2.0
# fuse-uring-export: plain make, one file per concern.

PROG := fuse-uring-export
SRCS := main.c cli.c init.c cpus.c queue.c fuse_uring.c fuse_dev.c \
	decode.c ops.c image.c image_file.c image_null.c falloc.c fault.c mount.c daemon.c stats.c report.c trace.c log.c
OBJS := $(SRCS:.c=.o)

CC ?= cc
CFLAGS ?= -O2 -g
# What the sources need, kept whatever CFLAGS the user gives.
override CPPFLAGS += -D_GNU_SOURCE
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -pthread
LDLIBS += -luring -pthread

# make SANITIZE=1: AddressSanitizer and UBSan for the daemon and the tests.
ifeq ($(SANITIZE),1)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
endif

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all clean deps smoke check install fuzz bench bench-quick \
	vm-build vm-check vm-smoke vm-matrix \
	kselftest-tree abi-check

all: $(PROG)

$(PROG): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

%.o: %.c $(wildcard *.h)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Installs only the Debian packages that are missing.
deps:
	@scripts/install-deps

# The kernel feature smoke test: one verdict line, exit 0/1/4.
smoke: deps
	@$(MAKE) --no-print-directory all
	@scripts/smoke

# The selftests built and run by kselftest's lib.mk and runner
# (selftests/Makefile), TESTS="a_test b_test" for just those; the runner's
# TAP then goes through scripts/ksft-summary, whose count of test cases is
# the last line.  enable-uring exits 4 on a kernel without the ring: its
# tests then skip; --release unmounts the fusectl it mounted for them,
# quietly, so that the summary stays the last line.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C selftests all
	@scripts/enable-uring || [ $$? -eq 4 ]
	@$(MAKE) --no-print-directory -s -C selftests run_tests 2>&1 | \
		scripts/ksft-summary; rc=$$?; \
		scripts/enable-uring --release > /dev/null; exit $$rc

# The kernel under test, booted under QEMU over a read-only view of this
# machine's root: make vm-check KERNEL=arch/x86/boot/bzImage
# [MODULES=dir] [VM_TESTS="smoke semantics_test:-v,dev ..."] runs
# scripts/vm-tests there (by default its whole set); vm-smoke runs
# scripts/smoke.  The guest's status is make's verdict.
VM_RUN = scripts/vm-run $(if $(MODULES),--modules "$(MODULES)")

vm-build: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C selftests all

vm-check: vm-build
	@test -n "$(KERNEL)" || { echo "usage: make vm-check KERNEL=bzImage [MODULES=dir] [VM_TESTS=...]"; exit 2; }
	@$(VM_RUN) "$(KERNEL)" scripts/vm-tests $(VM_TESTS)

vm-smoke: vm-build
	@test -n "$(KERNEL)" || { echo "usage: make vm-smoke KERNEL=bzImage [MODULES=dir]"; exit 2; }
	@$(VM_RUN) "$(KERNEL)" scripts/smoke

# vm-check on Debian's 6.1 and 6.12 kernels and, with the ring required,
# on the newest 7.x of unstable and experimental, fetched into a cache outside
# the tree ($$FUE_VM_CACHE, default /var/cache/fuse-uring-export/kernels).
vm-matrix: vm-build
	@scripts/vm-matrix $(VM_TESTS)

# fio side by side: the raw image, the export over the ring and over
# /dev/fuse, and the peers bench/run is asked for in BENCH_ARGS
# (--with-qemu, --with-passthrough-hp=PATH).
bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run $(BENCH_ARGS)

# A few seconds a target: proves the benchmark runs, asserts no numbers.
bench-quick: deps
	@$(MAKE) --no-print-directory all
	@bench/run --quick $(BENCH_ARGS)

# libFuzzer over the daemon's decode and opcode handlers, no kernel involved.
FUZZER := fuzz/fuzz_request
FUZZ_SRCS := $(filter-out main.c,$(SRCS)) fuzz/fuzz_request.c
FUZZ_SECONDS ?= 60

$(FUZZER): $(FUZZ_SRCS) $(wildcard *.h)
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -I. -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -pthread \
		-o $@ $(FUZZ_SRCS) -luring -pthread

# Runs the seed corpus, then fuzzes for FUZZ_SECONDS; new inputs land in
# fuzz/work (not kept), crashes in fuzz/crash-*.
fuzz: deps $(FUZZER)
	@mkdir -p fuzz/work
	@$(FUZZER) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		-artifact_prefix=fuzz/ -print_final_stats=1 \
		fuzz/work fuzz/corpus > fuzz/work/log 2>&1; rc=$$?; \
	grep -E '^(Done|stat::|==[0-9]+==ERROR|SUMMARY)' fuzz/work/log; \
	if [ $$rc -eq 0 ]; then echo "fuzz: PASS, no crash in $(FUZZ_SECONDS) s"; \
	else tail -n 40 fuzz/work/log; echo "fuzz: FAIL (exit $$rc)"; fi; \
	exit $$rc

# The daemon and the selftests built with gcc and clang against the
# system's <linux/fuse.h> and each kernel source's in ABI_SOURCES
# (linux-source tarballs, kernel trees or header directories; default
# every /usr/src/linux-source-*.tar.xz); ABI_DEBIAN=1 adds the newest
# linux-libc-dev of Debian's unstable and experimental.
abi-check: deps
	@scripts/abi-check $(if $(filter 1,$(ABI_DEBIAN)),--debian) $(ABI_SOURCES)

# Place the selftests and the daemon's sources into a kernel tree as
# tools/testing/selftests/filesystems/fuse_uring/; KSFT_ADD_TARGET=1 also
# adds that directory to the selftests' top Makefile TARGETS.
kselftest-tree:
	@if [ -z "$(LINUX)" ]; then \
		echo "usage: make kselftest-tree LINUX=/path/to/linux [KSFT_ADD_TARGET=1]" >&2; \
		exit 2; \
	fi
	@scripts/kselftest-tree $(if $(filter 1,$(KSFT_ADD_TARGET)),--add-target) \
		"$(LINUX)" $(SRCS)

install: $(PROG)
	install -D -m 0755 $(PROG) $(DESTDIR)$(PREFIX)/sbin/$(PROG)
	install -D -m 0644 $(PROG).8 $(DESTDIR)$(PREFIX)/share/man/man8/$(PROG).8

clean:
	rm -f $(PROG) $(OBJS) $(FUZZER)
	rm -rf fuzz/work
	-@$(MAKE) --no-print-directory -C selftests clean
