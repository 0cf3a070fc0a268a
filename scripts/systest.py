#!/usr/bin/env python3
"""The `make test` driver: every level of the test pyramid (DESIGN §5), in order.

  host-unit-tests  cargo test (the workspace's default members are the host crates)
  lint             make lint (clippy -D warnings, host and aarch64)
  build            the kernel Image, the ktest kernel Image and the initrd
  ktest-*          in-kernel tests under -cpu cortex-a72 and -cpu max
  kernel-stack-overflow  a kernel stack overflow ends in a clear panic
  boot-*           boot to init, type a line at it, see it exit; four machine setups
  utest            the user-space test program as init (also on -cpu max entered at EL2)
  console-under-load  two CPU hogs must not starve the console
  ps               /bin/ps as init lists processes through proc_info
  *-smp4           the in-kernel, user-space, boot and crash tests again on four CPUs
                   (GICv2 and GICv3): every CPU must come up
  crash-*          programs that die of a signal as init: the kernel must report and power off
  c-*              the GNU-built C programs (userland/c) as init: their output and exit status
  bad-init         an init that cannot be loaded (ENOEXEC) is reported, then a clean power-off
  gdb              gdb-multiarch against QEMU's gdb stub: break in kmain, backtrace

Each test prints PASS or FAIL; the run stops at the first failure (unless --keep-going) and
ends with a line "N passed, M failed". The exit status is 1 if anything failed.

Every QEMU run is bounded twice: each console step has its own timeout here, and QEMU runs
under coreutils `timeout`, so it is gone even if this script dies. QEMU's stdin is a pipe we
write to (never the terminal). Console transcripts go to build/test-logs/<test>.log.

Usage: scripts/systest.py [--list] [--keep-going] [PATTERN...]
  PATTERN  shell-style patterns selecting tests by name (default: all); `make test TESTS=...`
Environment: TIMEOUT_SCALE=<factor> multiplies every timeout (for slow machines).
"""

import argparse
import fnmatch
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expect import ExpectError, Spawn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "test-logs")

IMAGE = "build/Image"
KTEST_IMAGE = "build/ktest/Image"
INITRD = "build/initrd.cpio"
KERNEL_ELF = "target/aarch64-unknown-none-softfloat/debug/kernel"

SCALE = float(os.environ.get("TIMEOUT_SCALE", "1"))

# Seconds. Boots take a few seconds under TCG; these leave room for a loaded 2-core CI host.
FIRST_OUTPUT = 60 * SCALE  # from starting QEMU to the first expected line
STEP = 30 * SCALE  # between two console lines
EXIT = 30 * SCALE  # from the last line to QEMU's exit
KTEST = 300 * SCALE  # the whole in-kernel test run
UTEST = 300 * SCALE  # the whole user-space test run
# CPUs of the multiprocessor runs (the `-smp4` tests).
SMP = 4
QEMU_LIMIT = 600 * SCALE  # hard limit on any one QEMU process (coreutils timeout)
GDB = 60 * SCALE  # the gdb batch session
CONSOLE_UNDER_LOAD = 5 * SCALE  # typed line to echo, with two CPU hogs running
CARGO = 900 * SCALE  # a cargo/make step (a hang guard; a cold build takes ~1 min)


class Failure(Exception):
    """A test failed; `detail` is extra text to show (e.g. the end of the console)."""

    def __init__(self, message, detail=""):
        super().__init__(message)
        self.detail = detail


# ---- Running things ------------------------------------------------------------------------


def run_step(argv, limit):
    """Runs a build/check command with its output on our stdout; fails on non-zero exit."""
    print("+ " + shlex.join(argv), flush=True)
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        status = proc.wait(limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise Failure(f"{argv[0]} did not finish within {limit:.0f}s") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if status != 0:
        raise Failure(f"`{shlex.join(argv)}` exited with status {status}")


def make(*targets):
    run_step(["make", "--no-print-directory", *targets], CARGO)


def boot(name, *, image=None, cpu="cortex-a72", machine_opts="", bootargs="", smp=1, extra=()):
    """Starts QEMU through scripts/qemu.sh on a console we drive; use it with `with`."""
    env = dict(os.environ)
    env.update(
        KERNEL_IMAGE=os.path.join(ROOT, image or IMAGE),
        INITRD=os.path.join(ROOT, INITRD),
        CPU=cpu,
        MACHINE_OPTS=machine_opts,
        BOOTARGS=bootargs,
        SMP=str(smp),
    )
    # The tests choose their own machine; a QEMU_ARGS from `make test QEMU_ARGS=...` must not
    # leak in.
    env.pop("QEMU_ARGS", None)
    argv = ["timeout", "-k", "5", str(int(QEMU_LIMIT)), "scripts/qemu.sh", *extra]
    return Spawn(argv, log_path=os.path.join(LOGS, name + ".log"), env=env, cwd=ROOT)


def describe_status(status):
    if status == 0:
        return "0 (clean power-off)"
    if status == 101:
        return "101 (kernel panic)"
    if status in (124, 137):
        return f"{status} (killed by timeout after {QEMU_LIMIT:.0f}s)"
    return str(status)


def expect_exit(qemu, want=0, timeout=EXIT):
    status = qemu.wait(timeout)
    if status != want:
        raise Failure(
            f"QEMU exited with status {describe_status(status)}, expected {want}", qemu.tail()
        )


# ---- The tests -----------------------------------------------------------------------------


def test_host_unit_tests():
    run_step(["cargo", "test"], CARGO)


def test_lint():
    make("lint")


def test_build():
    make("kernel", "ktest-kernel", "initrd")


def expect_cpus(qemu, smp):
    """The banner's CPU line: every CPU QEMU gave us came up."""
    m = qemu.expect(r"^  (\d+) of (\d+) CPUs? running", FIRST_OUTPUT)
    if (int(m.group(1)), int(m.group(2))) != (smp, smp):
        raise Failure(f"{m.group(1)} of {m.group(2)} CPUs came up, expected {smp} of {smp}", qemu.tail())


def ktest(name, cpu, smp=1, machine_opts=""):
    with boot(name, image=KTEST_IMAGE, cpu=cpu, smp=smp, machine_opts=machine_opts) as qemu:
        expect_cpus(qemu, smp)
        m = qemu.expect(r"^ktest: (\d+) passed, (\d+) failed", KTEST)
        print("    " + m.group(0), flush=True)
        if m.group(2) != "0":
            failed = [line for line in qemu.buffer.splitlines() if "... FAILED" in line]
            raise Failure("in-kernel tests failed", "\n".join(failed + ["..."]) + "\n" + qemu.tail())
        expect_exit(qemu, 0)


def test_kernel_stack_overflow():
    """Running off a kernel stack hits its guard and panics clearly, on a spare stack."""
    with boot("kernel-stack-overflow", image=KTEST_IMAGE, bootargs="ktest=stack-overflow") as qemu:
        qemu.expect(r"ktest: overflowing this thread's kernel stack on purpose", FIRST_OUTPUT)
        qemu.expect(r"panic: kernel stack overflow", STEP)
        m = qemu.expect(r"thread (\d+) in task 0", STEP)
        print("    overflow reported for kernel " + m.group(0), flush=True)
        expect_exit(qemu, 101)


def boot_test(name, machine_opts="", cpu="cortex-a72", gic=None, smp=1):
    with boot(name, cpu=cpu, machine_opts=machine_opts, smp=smp) as qemu:
        m = qemu.expect(r"^rxnu \S+ \(aarch64\): .*GICv(2|3)", FIRST_OUTPUT)
        if gic and m.group(1) != gic:
            raise Failure(f"banner says GICv{m.group(1)}, expected GICv{gic}", qemu.tail())
        expect_cpus(qemu, smp)
        qemu.expect(r"init: hello from pid 1", STEP)
        qemu.expect(r"init: type a line:", STEP)
        # Enter on a serial console is CR; the tty turns it into a newline for init.
        qemu.send("hello kernel\r")
        qemu.expect(r"init: you typed: hello kernel", STEP)
        qemu.expect(r"bsd: pid 1 \(init\) exited with status 3", STEP)
        expect_exit(qemu, 0)


def test_utest(name="utest", cpu="cortex-a72", machine_opts="", smp=1):
    with boot(name, bootargs="init=/bin/utest", cpu=cpu, machine_opts=machine_opts, smp=smp) as qemu:
        expect_cpus(qemu, smp)
        m = qemu.expect(r"^utest: (\d+) passed, (\d+) failed", UTEST)
        print("    " + m.group(0), flush=True)
        if m.group(2) != "0" or int(m.group(1)) < 1:
            # The failures may be far above the tail: name them first.
            failed = [line for line in qemu.buffer.splitlines() if "... FAILED" in line]
            raise Failure("user-space tests failed", "\n".join(failed + ["..."]) + "\n" + qemu.tail())
        expect_exit(qemu, 0)


def test_console_under_load(name="console-under-load", smp=1):
    """Two CPU hogs at the default priority must not keep the console from answering."""
    with boot(name, bootargs="init=/bin/hog-echo", smp=smp) as qemu:
        qemu.expect(r"hog-echo: two hogs running; type a line:", FIRST_OUTPUT)
        qemu.send("still here\r")
        qemu.expect(r"hog-echo: you typed: still here", CONSOLE_UNDER_LOAD)
        qemu.expect(r"bsd: pid 1 \(hog-echo\) exited with status 0", STEP)
        expect_exit(qemu, 0)


def test_ps(name="ps", smp=1):
    """/bin/ps as init lists the kernel task and itself through proc_info."""
    with boot(name, bootargs="init=/bin/ps", smp=smp) as qemu:
        qemu.expect(r"PID\s+PPID\s+PGID\s+UID\s+STAT", FIRST_OUTPUT)
        qemu.expect(r"\n\s+0\s+0\s+0\s+0\s+Rs\s+\d+\s+\d+\.\d\d kernel_task", STEP)
        qemu.expect(r"\n\s+1\s+0\s+1\s+0\s+Rs\s+\d+\s+\d+\.\d\d ps", STEP)
        qemu.expect(r"bsd: pid 1 \(ps\) exited with status 0", STEP)
        expect_exit(qemu, 0)


# The C programs built by userland/c with the GNU toolchain, as init: what each must print
# and the status it must exit with (utest runs them through posix_spawn and execve too).
C_PROGRAMS = {
    "hello": (r"c-hello: hello, world from /bin/c/hello-\S+ \(pid 1, argc 1\)", 0),
    "bss": (r"c-bss: 1541 words zeroed, sum after writing 3561251", 0),
    "data": (r"c-data: constants, data and bss agree\r?\nc-data: sum of primes 77, last counter 407", 42),
    "tls": (r"c-tls: counter 1235, words sum 37, buffer end 7", 0),
    "true": (None, 0),
    "files": (
        r"c-files: /tmp/c-files: a.txt b.txt\r?\n"
        r"c-files: /tmp/c-files: b.txt c.txt\r?\n"
        r"c-files: child \d+ sent \"hello from a\" through a pipe and exited with 7\r?\n"
        r"c-files: /tmp/c-files:\r?\n"
        r"c-files: made, listed, renamed, piped and removed: all as POSIX says",
        0,
    ),
    "fileops": (
        r"c-fileops: pwrite/pread with a hole, ftruncate down and up: hello \+ 3 zeros\r?\n"
        r"c-fileops: chmod 0600, access, a hard link \(2 links\) and a symlink to it\r?\n"
        r"c-fileops: a child's \"via fifo\" came through a FIFO, then end of file\r?\n"
        r"c-fileops: flock kept another process out, then let it in\r?\n"
        r"c-fileops: every call answered as Darwin's manual pages say",
        0,
    ),
    "mapfile": (
        r"c-mapfile: MAP_SHARED: a store reached read\(\), write\(\) reached the mapping\r?\n"
        r"c-mapfile: MAP_PRIVATE: the store stayed in the copy, the file kept \"Hello\"\r?\n"
        r"c-mapfile: child \d+ stored through its own mapping: \"Hello, World!\"\r?\n"
        r"bsd: pid \d+ \(mapfile-\S+\) killed by signal 10 \(SIGBUS\)\r?\n"
        r"c-mapfile: a child that read past the end was killed by signal 10 \(SIGBUS\)\r?\n"
        r"c-mapfile: /dev/zero ENODEV, write-only EACCES; mmap behaves as Darwin's",
        0,
    ),
    "poll": (
        r"c-poll: poll woke for \"ping\" from child \d+\r?\n"
        r"c-poll: the child answered, exited with 5 and poll saw POLLIN\|POLLHUP\r?\n"
        r"c-poll: an idle pipe timed out; poll and select behave as Darwin's",
        0,
    ),
}


# Built at -O0 and -O2 by GNU ld; hello, data and tls also at -O2 by gold and LLD.
C_VARIANTS = ("O0", "O2", "gold-O2", "lld-O2")


def c_init_test(prog, variant):
    name = f"{prog}-{variant}"
    output, status = C_PROGRAMS[prog]
    with boot(f"c-{name}", bootargs=f"init=/bin/c/{name}") as qemu:
        if output:
            qemu.expect(output, FIRST_OUTPUT)
        qemu.expect(rf"bsd: pid 1 \({re.escape(name)}\) exited with status {status}\b", STEP)
        expect_exit(qemu, 0)


def test_bad_init():
    """An init that cannot be loaded is reported, and the machine powers off cleanly."""
    path = "/bin/mutants/truncated"
    with boot("bad-init", bootargs=f"init={path}") as qemu:
        qemu.expect(rf"bsd: cannot run {re.escape(path)} as init: ENOEXEC; powering off", FIRST_OUTPUT)
        expect_exit(qemu, 0)


def crash_test(prog, signo, signame, smp=1):
    with boot(prog if smp == 1 else f"{prog}-smp{smp}", bootargs=f"init=/bin/{prog}", smp=smp) as qemu:
        qemu.expect(
            rf"bsd: pid 1 \({re.escape(prog)}\) killed by signal {signo} \({signame}\)",
            FIRST_OUTPUT,
        )
        expect_exit(qemu, 0)


def free_port():
    """A TCP port nobody listens on right now (QEMU may still lose a race for it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The gdb session. Commands in a file rather than -ex options, because gdb stops a command
# file at the first error (an -ex list would carry on and `continue` with no breakpoint).
# kmain is a private Rust function, so its symbol is kernel::kmain: a plain `break kmain`
# does not resolve it (gdb's wild matching of unqualified names doesn't apply to Rust).
GDB_SCRIPT = """\
set pagination off
set confirm off
set breakpoint pending off
set tcp auto-retry on
set tcp connect-timeout 30
target remote 127.0.0.1:{port}
break kernel::kmain
continue
bt
"""


def test_gdb():
    elf = os.path.join(ROOT, KERNEL_ELF)
    script = os.path.join(LOGS, "gdb-commands.gdb")
    # A port taken between free_port() and QEMU's bind makes QEMU exit at once; try again.
    for attempt in range(3):
        port = free_port()
        with open(script, "w") as f:
            f.write(GDB_SCRIPT.format(port=port))
        with boot("gdb", extra=("-gdb", f"tcp:127.0.0.1:{port}", "-S")) as qemu:
            argv = ["gdb-multiarch", "-q", "-nx", "-batch", "-x", script, elf]
            print("+ " + shlex.join(argv), flush=True)
            gdb = subprocess.run(
                ["timeout", "-k", "5", str(int(GDB)), *argv],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            qemu_gone = qemu.proc.poll() is not None
        # Leaving the `with` killed QEMU, whatever gdb did.
        with open(os.path.join(LOGS, "gdb-session.log"), "w") as f:
            f.write(gdb.stdout)
        if qemu_gone and "Breakpoint 1, " not in gdb.stdout and attempt < 2:
            print(f"    QEMU exited early (port {port} taken?); retrying", flush=True)
            continue
        break
    out = gdb.stdout
    missing = [
        what
        for what, ok in (
            ("'Breakpoint 1, '", "Breakpoint 1, " in out),
            ("'kmain'", "kmain" in out),
            ("a '#0' frame", re.search(r"^#0\s", out, re.MULTILINE)),
        )
        if not ok
    ]
    if missing:
        status = "" if gdb.returncode == 0 else f" (gdb exit status {gdb.returncode})"
        raise Failure(f"gdb output lacks {', '.join(missing)}{status}", out[-3000:])
    for line in out.splitlines():
        if line.startswith(("Breakpoint 1, ", "#0")):
            print("    " + line, flush=True)


def all_tests():
    """(name, function, needs the build) in the order they run."""
    tests = [
        ("host-unit-tests", test_host_unit_tests, False),
        ("lint", test_lint, False),
        ("build", test_build, False),
        ("ktest-cortex-a72", lambda: ktest("ktest-cortex-a72", "cortex-a72"), True),
        ("ktest-max", lambda: ktest("ktest-max", "max"), True),
        ("kernel-stack-overflow", test_kernel_stack_overflow, True),
        ("boot-virt", lambda: boot_test("boot-virt"), True),
        ("boot-gicv3", lambda: boot_test("boot-gicv3", ",gic-version=3", gic="3"), True),
        ("boot-virtualization", lambda: boot_test("boot-virtualization", ",virtualization=on"), True),
        ("boot-cpu-max", lambda: boot_test("boot-cpu-max", cpu="max"), True),
        ("utest", test_utest, True),
        # The same on `-cpu max` entered at EL2: PAN on, FEAT_HCX and the other v8.x/v9 bits.
        ("utest-cpu-max-el2", lambda: test_utest("utest-cpu-max-el2", "max", ",virtualization=on"), True),
        ("console-under-load", test_console_under_load, True),
        ("ps", test_ps, True),
        # Again on four CPUs (SMP): the in-kernel and user-space tests, the boot tests, and
        # (below) the crash tests; GICv3 too, where each CPU has a redistributor of its own.
        ("ktest-cortex-a72-smp4", lambda: ktest("ktest-cortex-a72-smp4", "cortex-a72", SMP), True),
        ("ktest-max-smp4", lambda: ktest("ktest-max-smp4", "max", SMP), True),
        ("ktest-gicv3-smp4", lambda: ktest("ktest-gicv3-smp4", "cortex-a72", SMP, ",gic-version=3"), True),
        ("boot-virt-smp4", lambda: boot_test("boot-virt-smp4", smp=SMP), True),
        ("boot-gicv3-smp4", lambda: boot_test("boot-gicv3-smp4", ",gic-version=3", gic="3", smp=SMP), True),
        (
            "boot-virtualization-smp4",
            lambda: boot_test("boot-virtualization-smp4", ",virtualization=on", smp=SMP),
            True,
        ),
        ("boot-cpu-max-smp4", lambda: boot_test("boot-cpu-max-smp4", cpu="max", smp=SMP), True),
        ("utest-smp4", lambda: test_utest("utest-smp4", smp=SMP), True),
        (
            "utest-cpu-max-el2-smp4",
            lambda: test_utest("utest-cpu-max-el2-smp4", "max", ",virtualization=on", smp=SMP),
            True,
        ),
        ("utest-gicv3-smp4", lambda: test_utest("utest-gicv3-smp4", machine_opts=",gic-version=3", smp=SMP), True),
        ("console-under-load-smp4", lambda: test_console_under_load("console-under-load-smp4", SMP), True),
        ("ps-smp4", lambda: test_ps("ps-smp4", SMP), True),
    ]
    for prog, signo, signame in (
        ("crash-segv", 11, "SIGSEGV"),
        ("crash-ill", 4, "SIGILL"),
        ("crash-mach-trap", 12, "SIGSYS"),
        ("crash-nosys", 12, "SIGSYS"),
        ("crash-protect", 10, "SIGBUS"),
        ("crash-stack", 10, "SIGBUS"),
        ("crash-oom", 9, "SIGKILL"),
    ):
        tests.append((prog, lambda p=prog, n=signo, s=signame: crash_test(p, n, s), True))
        tests.append((f"{prog}-smp4", lambda p=prog, n=signo, s=signame: crash_test(p, n, s, SMP), True))
    for prog in C_PROGRAMS:
        for v in C_VARIANTS:
            if v in ("O0", "O2") or prog in ("hello", "data", "tls"):
                tests.append((f"c-{prog}-{v}", lambda p=prog, v=v: c_init_test(p, v), True))
    tests.append(("bad-init", test_bad_init, True))
    tests.append(("gdb", test_gdb, True))
    return tests


def indent(text):
    return "\n".join("    | " + line for line in text.rstrip("\n").splitlines())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("patterns", nargs="*", help="run only tests whose names match")
    ap.add_argument("--list", action="store_true", help="list the test names and exit")
    ap.add_argument("--keep-going", action="store_true", help="don't stop at the first failure")
    args = ap.parse_args()
    # Turn SIGTERM (e.g. CI cancelling the job) into an exception, like Ctrl-C's
    # KeyboardInterrupt, so that the `with` blocks kill the QEMU they started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tests = all_tests()
    if args.list:
        for name, _, _ in tests:
            print(name)
        return 0
    if args.patterns:
        chosen = [t for t in tests if any(fnmatch.fnmatch(t[0], p) for p in args.patterns)]
        if not chosen:
            print(f"no test matches {' '.join(args.patterns)} (see --list)", file=sys.stderr)
            return 2
        # QEMU tests need the images: build them even when "build" was not asked for.
        if any(needs for _, _, needs in chosen) and all(n != "build" for n, _, _ in chosen):
            chosen = [t for t in tests if t[0] == "build"] + chosen
        tests = chosen

    os.makedirs(LOGS, exist_ok=True)
    passed, failed, not_run = [], [], []
    for i, (name, fn, _) in enumerate(tests):
        print(f"=== {name}", flush=True)
        start = time.monotonic()
        try:
            fn()
        except (Failure, ExpectError) as e:
            detail = getattr(e, "detail", "") or getattr(e, "tail", "")
            print(f"FAIL: {name}: {e} ({time.monotonic() - start:.1f}s)")
            if detail:
                print(indent(detail))
            log = os.path.join(LOGS, name + ".log")
            if os.path.exists(log):
                print(f"    (full console: {os.path.relpath(log, ROOT)})")
            sys.stdout.flush()
            failed.append(name)
            if not args.keep_going:
                not_run = [n for n, _, _ in tests[i + 1 :]]
                break
        else:
            print(f"PASS: {name} ({time.monotonic() - start:.1f}s)", flush=True)
            passed.append(name)

    print()
    if failed:
        print("failed: " + " ".join(failed))
    if not_run:
        print("not run (stopped at the first failure): " + " ".join(not_run))
    print(f"{len(passed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
