"""A small expect: drive a program's console over pipes, with a timeout on every step.

Standard library only. Typical use, on QEMU's serial console (stdin/stdout with -nographic):

    with Spawn(["scripts/qemu.sh"], log_path="build/test-logs/boot.log") as qemu:
        qemu.expect(r"init: type a line:", timeout=30)
        qemu.send("hello kernel\\r")
        qemu.expect(r"init: you typed: hello kernel", timeout=10)
        status = qemu.wait(timeout=30)

The program runs in its own session (process group), with stderr merged into stdout, so
that kill() takes down it and anything it started, and so that a terminal's Ctrl-C or job
control never reaches it. Leaving the `with` block kills whatever is still running.

Output is decoded as UTF-8 and carriage returns are dropped (a serial console ends lines
with CR LF). expect() searches the output that follows the previous match, with the regex
flag MULTILINE, so `^` anchors at the start of a line. Everything read is also written to
`log_path`, as it arrives, for the post-mortem.
"""

import codecs
import os
import re
import selectors
import signal
import subprocess
import time


class ExpectError(Exception):
    """A step failed; the message says which and why. `tail` holds the last console lines."""

    def __init__(self, message, tail=""):
        super().__init__(message)
        self.tail = tail


class Timeout(ExpectError):
    pass


class EOF(ExpectError):
    pass


class Spawn:
    def __init__(self, argv, *, log_path=None, env=None, cwd=None):
        self.argv = list(argv)
        self.log = open(log_path, "w", encoding="utf-8") if log_path else None
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = ""  # everything read so far, CRs removed
        self.pos = 0  # where the next expect() starts searching
        self.eof = False

    # -- reading --------------------------------------------------------------------------

    def _read(self, timeout):
        """Reads what is available within `timeout` seconds; returns False at end of file."""
        if self.eof:
            return False
        if not self.selector.select(max(timeout, 0)):
            return True
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        text = self.decoder.decode(data, final=not data).replace("\r", "")
        self.buffer += text
        if self.log:
            self.log.write(text)
            self.log.flush()
        if not data:
            self.eof = True
            self.selector.unregister(self.fd)
            return False
        return True

    def tail(self, lines=30):
        """The last lines of output, for error messages."""
        return "\n".join(self.buffer.splitlines()[-lines:])

    def expect(self, pattern, timeout):
        """Waits until `pattern` (a regex) matches the unread output; returns the match.

        Raises Timeout if it does not within `timeout` seconds, EOF if the program closes
        its output first. After a match, the next search starts where this one ended.
        """
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.buffer, self.pos)
            if m:
                self.pos = m.end()
                return m
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"timed out after {timeout}s waiting for /{pattern}/", self.tail())
            if not self._read(remaining):
                status = self.proc.poll()
                how = f", exit status {status}" if status is not None else ""
                raise EOF(f"output ended{how} while waiting for /{pattern}/", self.tail())

    # -- writing --------------------------------------------------------------------------

    def send(self, text):
        """Writes text to the program's stdin (a serial console wants "\\r" for Enter)."""
        if self.log:
            self.log.write(f"\n[expect: sent {text!r}]\n")
        try:
            self.proc.stdin.write(text.encode("utf-8"))
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise EOF(f"the program exited before we could send {text!r}", self.tail())

    # -- ending ---------------------------------------------------------------------------

    def wait(self, timeout):
        """Waits for the program to exit, reading its output meanwhile; returns its status.

        Raises Timeout (and leaves the program running) if it has not exited in time.
        """
        deadline = time.monotonic() + timeout
        # Drain the output first: the program may block writing to a full pipe.
        while self._read(deadline - time.monotonic()):
            if time.monotonic() >= deadline:
                raise Timeout(f"still running after {timeout}s", self.tail())
        try:
            return self.proc.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            raise Timeout(f"still running after {timeout}s", self.tail()) from None

    def kill(self):
        """Ends the program and its process group: SIGTERM, then SIGKILL if need be."""
        if self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.close()

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.selector.close()
        if self.log:
            self.log.close()
            self.log = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False
