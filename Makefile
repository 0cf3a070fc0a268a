# The front door: build, boot, debug and test the kernel. `make help` lists everything.
#
# Cargo does the real dependency tracking, so the build targets are phony and always ask
# cargo (a no-op build takes a fraction of a second); the Image, the root filesystem and the
# initrd are cheap to remake and are remade every time.

# ---- Variables you may set on the command line -----------------------------------------------

BOOTARGS     ?=
ROOTFS_EXTRA ?=
QEMU_ARGS    ?=
CPU          ?= cortex-a72
MACHINE_OPTS ?=
# CPUs QEMU gives the guest (-smp); `make bench`'s deterministic table always uses one.
SMP          ?= 4
# For `make bench` and `make profile`: `release` measures an optimised kernel instead of the
# one `make run` boots (opt-level 1 with debug assertions and overflow checks, for gdb).
BENCH_KERNEL ?= dev
# For `make test`: only the tests whose names match these shell patterns (default: all).
TESTS        ?=

# scripts/qemu.sh reads these from the environment.
export BOOTARGS QEMU_ARGS CPU MACHINE_OPTS SMP

# ---- Fixed names -----------------------------------------------------------------------------

KERNEL_TARGET := aarch64-unknown-none-softfloat
USER_TARGET   := aarch64-unknown-none
USER_PKGS     := -p init -p utest -p bench -p crash

KERNEL_ELF    := target/$(KERNEL_TARGET)/debug/kernel
KTEST_ELF     := target/ktest/$(KERNEL_TARGET)/debug/kernel
BENCH_DEV_ELF := target/bench/$(KERNEL_TARGET)/debug/kernel
RELEASE_ELF   := target/$(KERNEL_TARGET)/release/kernel
USER_DEBUG    := target/$(USER_TARGET)/debug
USER_RELEASE  := target/$(USER_TARGET)/release
C_OUT         := build/c

BUILD         := build
IMAGE         := $(BUILD)/Image
RELEASE_IMAGE := $(BUILD)/release/Image
KTEST_IMAGE   := $(BUILD)/ktest/Image
BENCH_DEV_IMAGE := $(BUILD)/bench/Image
ROOTFS        := $(BUILD)/rootfs
INITRD        := $(BUILD)/initrd.cpio

# llvm-objcopy from the toolchain's llvm-tools component. Expanded only inside recipes, i.e.
# after the prerequisite check has made sure the toolchain exists.
OBJCOPY = "$$(rustc --print sysroot)/lib/rustlib/$$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-objcopy"

PREREQS := scripts/ensure-prereqs.sh

# Each timeout (in seconds) bounds one QEMU run that must end on its own.
BENCH_TIMEOUT ?= 300

.DEFAULT_GOAL := help

.PHONY: profile bench-kernel help setup prereqs kernel ktest-kernel user c bench-release rootfs rootfs-bench initrd \
        build run debug gdb test lint bench bench-smp clean

# ---- Help ------------------------------------------------------------------------------------

help:
	@echo 'Targets:'
	@echo '  make run     build everything and boot it (serial console here; Ctrl-A X quits QEMU)'
	@echo '  make debug   like run, but QEMU waits for gdb on :1234 (-s -S); then run make gdb'
	@echo '  make gdb     gdb-multiarch on the kernel ELF, attached to QEMU at :1234'
	@echo '  make test    all tests: host unit tests, lint, in-kernel tests, boot, user-space,'
	@echo '               crash and debugger tests (logs in build/test-logs/)'
	@echo '  make lint    cargo clippy -D warnings for the host crates, the kernel and user space'
	@echo '  make bench   boot /bin/bench (release) under -icount and print its bench: lines,'
	@echo '               then the scaling run (make bench-smp)'
	@echo '  make bench-smp  /bin/bench --scaling on SMP=4 without -icount: wall-clock rates'
	@echo '               and speedups for 1, 2 and 4 processes (BENCH_SMP=<n> CPUs)'
	@echo '  make profile per-function instruction counts of one bench measurement'
	@echo '               (WINDOW=<k>: the k-th measure() call, ITERATIONS=<its count>)'
	@echo '  make build   build the kernel Image and the initrd without booting'
	@echo '  make setup   install the toolchain, QEMU and gdb if missing, fetch crates'
	@echo '  make clean   remove build/ and target/'
	@echo
	@echo 'Variables (run, debug, bench):'
	@echo '  BOOTARGS="..."       kernel command line, e.g. BOOTARGS="init=/bin/utest"'
	@echo '  ROOTFS_EXTRA=<dir>   copy <dir> over the root filesystem (also for test)'
	@echo '  QEMU_ARGS="..."      extra QEMU options, e.g. QEMU_ARGS="-d int -D build/qemu.log"'
	@echo '  CPU=<model>          QEMU -cpu (default cortex-a72; e.g. max)'
	@echo '  SMP=<n>              CPUs (QEMU -smp n, default 4)'
	@echo '  MACHINE_OPTS=<opts>  appended to -M virt, e.g. MACHINE_OPTS=,gic-version=3'
	@echo '                       or MACHINE_OPTS=,virtualization=on'
	@echo '  BENCH_KERNEL=release  bench and profile an optimised kernel (default: the make run one, without the lock validator)'
	@echo 'Variables (test):'
	@echo '  TESTS="<patterns>"   run only the tests matching these shell patterns, e.g.'
	@echo '                       TESTS="boot-* utest"; scripts/systest.py --list names them'

# ---- Prerequisites ---------------------------------------------------------------------------

prereqs:
	@$(PREREQS)

setup:
	$(PREREQS)
	cargo fetch

# ---- Building --------------------------------------------------------------------------------

# Every kernel that is run or tested has the lock-order validator on (DESIGN §5); only the
# kernels `make bench` measures are built without it.
VALIDATOR := --features lock-validator

kernel: prereqs
	cargo build -p kernel --target $(KERNEL_TARGET) $(VALIDATOR)
	@mkdir -p $(dir $(IMAGE))
	$(OBJCOPY) -O binary $(KERNEL_ELF) $(IMAGE)

# The in-kernel test build has its own target dir, so switching between it and the normal
# kernel never rebuilds either from scratch.
ktest-kernel: prereqs
	cargo build -p kernel --target $(KERNEL_TARGET) --features ktest,lock-validator --target-dir target/ktest
	@mkdir -p $(dir $(KTEST_IMAGE))
	$(OBJCOPY) -O binary $(KTEST_ELF) $(KTEST_IMAGE)

user: prereqs
	cargo build $(USER_PKGS) --target $(USER_TARGET)

# The C runtime and C test programs (userland/c), built with the GNU cross toolchain.
c: prereqs
	$(MAKE) --no-print-directory -C userland/c OUT=$(abspath $(C_OUT))

# The kernel that bench and profile boot: the `make run` one without the lock validator (its
# own target dir, so neither build undoes the other), or (BENCH_KERNEL=release) the same code
# optimised.
ifeq ($(BENCH_KERNEL),release)
BENCH_IMAGE := $(RELEASE_IMAGE)
BENCH_ELF   := $(RELEASE_ELF)
bench-kernel: prereqs
	cargo build -p kernel --target $(KERNEL_TARGET) --release
	@mkdir -p $(dir $(RELEASE_IMAGE))
	$(OBJCOPY) -O binary $(RELEASE_ELF) $(RELEASE_IMAGE)
else ifeq ($(BENCH_KERNEL),dev)
BENCH_IMAGE := $(BENCH_DEV_IMAGE)
BENCH_ELF   := $(BENCH_DEV_ELF)
bench-kernel: prereqs
	cargo build -p kernel --target $(KERNEL_TARGET) --target-dir target/bench
	@mkdir -p $(dir $(BENCH_DEV_IMAGE))
	$(OBJCOPY) -O binary $(BENCH_DEV_ELF) $(BENCH_DEV_IMAGE)
else
$(error BENCH_KERNEL must be dev or release, not '$(BENCH_KERNEL)')
endif

# Only bench is measured, so only bench is built optimised.
bench-release: prereqs
	cargo build -p bench --target $(USER_TARGET) --release

# The root filesystem normally holds the debug user programs; `make bench` puts the release
# build of bench in its place (the other programs stay debug). Programs are installed without
# their debug info (the unstripped builds stay in target/ and build/c/ for gdb).
rootfs: user c
	scripts/mkrootfs.sh $(ROOTFS) $(USER_DEBUG) $(USER_DEBUG)/bench $(C_OUT)/bin '$(ROOTFS_EXTRA)'

rootfs-bench: user bench-release c
	scripts/mkrootfs.sh $(ROOTFS) $(USER_DEBUG) $(USER_RELEASE)/bench $(C_OUT)/bin '$(ROOTFS_EXTRA)'

initrd: rootfs
	scripts/mkinitrd.py $(ROOTFS) $(INITRD)

build: kernel initrd

# ---- Running ---------------------------------------------------------------------------------

# No timeout here: these are interactive, and stdin is whatever make was given (a terminal).
run: build
	scripts/qemu.sh

debug: build
	@echo 'QEMU is waiting for gdb on :1234 — run "make gdb" in another terminal.'
	scripts/qemu.sh -s -S

gdb: prereqs
	gdb-multiarch -q -x scripts/gdbinit -ex 'target remote :1234' $(KERNEL_ELF)

# ---- Testing ---------------------------------------------------------------------------------

lint: prereqs
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p kernel --target $(KERNEL_TARGET) $(VALIDATOR) -- -D warnings
	cargo clippy -p kernel --target $(KERNEL_TARGET) --features ktest,lock-validator --target-dir target/ktest -- -D warnings
	cargo clippy -p kernel --target $(KERNEL_TARGET) --target-dir target/bench -- -D warnings
	cargo clippy $(USER_PKGS) --target $(USER_TARGET) -- -D warnings

# systest.py runs each step itself (cargo test, make lint, the builds, the QEMU boots) so that
# it can report every one as PASS/FAIL and end with the "N passed, M failed" summary.
test: prereqs
	scripts/systest.py $(foreach t,$(TESTS),'$(t)')

# bench runs with stdin from /dev/null: it needs no input, and a terminal would be put in
# raw mode by QEMU for nothing. The console is kept in build/bench.log. After the
# deterministic table comes the scaling run (bench-smp).
bench: bench-kernel rootfs-bench
	scripts/mkinitrd.py $(ROOTFS) $(INITRD)
	@echo 'bench: kernel $(BENCH_KERNEL) ($(BENCH_IMAGE))'
	KERNEL_IMAGE=$(BENCH_IMAGE) BOOTARGS="init=/bin/bench" SMP=1 QEMU_ARGS="-icount shift=0,sleep=off $(QEMU_ARGS)" \
		scripts/bench.sh $(BENCH_TIMEOUT) $(BUILD)/bench.log
	$(bench_smp_run)

# The scaling run: /bin/bench --scaling on BENCH_SMP CPUs without -icount (wall time: with
# icount QEMU runs every CPU on one host thread), N = 1, 2, 4 processes of fixed work each.
# The root filesystem gets /bin/bench-scaling, a `#!/bin/bench --scaling=<host cores>` script
# (init gets no arguments from the kernel command line), only now: the deterministic table
# is measured on the file system without it. The console is kept in build/bench-smp.log.
BENCH_SMP  ?= 4
HOST_CORES := $(shell nproc 2>/dev/null || echo 0)
define bench_smp_run
printf '#!/bin/bench --scaling=%s\n' '$(HOST_CORES)' >$(ROOTFS)/bin/bench-scaling
chmod 0755 $(ROOTFS)/bin/bench-scaling
scripts/mkinitrd.py $(ROOTFS) $(INITRD)
@echo 'bench: scaling run: kernel $(BENCH_KERNEL), SMP=$(BENCH_SMP), no -icount, host cores $(HOST_CORES)'
KERNEL_IMAGE=$(BENCH_IMAGE) BOOTARGS="init=/bin/bench-scaling" SMP=$(BENCH_SMP) QEMU_ARGS="$(QEMU_ARGS)" \
	scripts/bench.sh $(BENCH_TIMEOUT) $(BUILD)/bench-smp.log
@tr -d '\r' <$(BUILD)/bench-smp.log | sed -n 's/^ *\([0-9]* of [0-9]* CPUs running\).*/bench: scaling: the kernel says: \1/p'
endef

bench-smp: bench-kernel rootfs-bench
	$(bench_smp_run)

# A per-function instruction profile of one bench measurement (scripts/profile/): WINDOW is
# the measure() call to profile, counted from 0 in bench's order; ITERATIONS its loop count.
WINDOW     ?= 12
ITERATIONS ?= 20
profile: bench-kernel rootfs-bench
	scripts/mkinitrd.py $(ROOTFS) $(INITRD)
	KERNEL_IMAGE=$(BENCH_IMAGE) KERNEL_ELF=$(BENCH_ELF) scripts/profile/profile.sh $(WINDOW) $(ITERATIONS)

# ---- Cleaning --------------------------------------------------------------------------------

clean:
	rm -rf $(BUILD) target
