#!/usr/bin/env python3
"""tests/repl/test_pty.py: drive the real backstep binary through a pseudo-terminal, as a person would.

It types a session, completes `sigm<Tab>` to `sigmoid(`, recalls a line with Up, cancels a line with
Ctrl-C (the session keeps its names), continues a statement over two lines (`... ` prompt), shows an
error with a caret, interrupts a long evaluation with Ctrl-C, quits with Ctrl-D, then checks the
history file, and that a second start recalls it.

usage: test_pty.py BACKSTEP [readline|plain]
The oracle for numbers is Python's own math (sigmoid(0.5) = 1/(1+e^-0.5)), printed with 6 significant
digits as backstep does by default. Exits 77 (skipped) when backstep was built without readline.
"""
import math
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import tempfile
import time

TIMEOUT = 10.0
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def fmt(v):
    """A number as backstep prints it by default: 6 significant digits (%g)."""
    return "%.6g" % v


def strip(raw):
    """Terminal output as text: escape sequences, carriage returns and bells removed."""
    text = raw.decode("utf-8", "replace")
    return ANSI.sub("", text).replace("\r", "").replace("\x07", "")


class Term:
    """One backstep process on a pseudo-terminal, with an expect-style reader."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child: a 24x200 terminal, then backstep
            try:
                import fcntl
                import termios
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
            except Exception:
                pass
            os.execve(argv[0], argv, env)
        self.raw = b""
        self.mark = 0
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            return None
        self.raw += data
        return True

    def since_mark(self):
        return strip(self.raw[self.mark:])

    def expect(self, pattern, what, timeout=TIMEOUT):
        """Wait until the output since the mark matches `pattern`; move the mark past the match."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            text = self.since_mark()
            m = rx.search(text)
            if m:
                # move the mark to the raw position that covers the match
                for cut in range(self.mark, len(self.raw) + 1):
                    if rx.search(strip(self.raw[self.mark:cut])):
                        self.mark = cut
                        break
                return m
            left = end - time.monotonic()
            if left <= 0 or self._read(min(left, 0.1)) is None:
                fail("%s: did not see %r" % (what, pattern), self)

    def line(self):
        """The cursor's screen line as a terminal would show it (trailing blanks dropped)."""
        return self.line_and_cursor()[0].rstrip()

    def line_and_cursor(self):
        """The cursor's screen line and the cursor's column: the output after the last newline,
        with carriage return, backspace, cursor left/right and erase-to-end applied."""
        tail = self.raw[self.raw.rfind(b"\n") + 1:].decode("utf-8", "replace")
        cells, x, i = [], 0, 0
        while i < len(tail):
            c = tail[i]
            m = ANSI.match(tail, i)
            if m:
                seq = m.group(0)
                i = m.end()
                n = int(seq[2:-1]) if seq[2:-1].isdigit() else 1
                if seq.startswith("\x1b[") and seq[-1] == "K":
                    del cells[x:]
                elif seq.startswith("\x1b[") and seq[-1] == "C":
                    x += n
                elif seq.startswith("\x1b[") and seq[-1] == "D":
                    x = max(0, x - n)
                continue
            i += 1
            if c == "\r":
                x = 0
            elif c == "\b":
                x = max(0, x - 1)
            elif c >= " ":
                cells.extend(" " * (x + 1 - len(cells)))
                cells[x] = c
                x += 1
        return "".join(cells), x

    def expect_line(self, want, what, timeout=TIMEOUT):
        """Wait until the cursor's line reads exactly `want` (trailing blanks aside)."""
        end = time.monotonic() + timeout
        while self.line() != want:
            left = end - time.monotonic()
            if left <= 0 or self._read(min(left, 0.1)) is None:
                fail("%s: the line reads %r, not %r" % (what, self.line(), want), self)
        self.mark = len(self.raw)

    def settle(self, quiet=0.3):
        """Read until the output has been quiet for `quiet` seconds."""
        while self._read(quiet):
            pass

    def send(self, s):
        os.write(self.fd, s.encode())

    def wait_exit(self, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
                return st
            self._read(0.05)
        fail("backstep did not exit", self)

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass


CURRENT = []


def fail(msg, term=None):
    print("FAIL:", msg)
    if term is not None:
        print("---- terminal output (escapes removed) ----")
        print(strip(term.raw))
        print("---- raw tail ----")
        print(repr(term.raw[-600:]))
    for t in CURRENT:
        t.kill()
    sys.exit(1)


def main():
    if len(sys.argv) < 2:
        print("usage: test_pty.py BACKSTEP [readline|plain]")
        return 2
    exe = os.path.abspath(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] != "readline":
        print("SKIP: backstep was built without readline")
        return 77

    tmp = tempfile.mkdtemp(prefix="backstep-pty-")
    # meson's timeout sends SIGTERM: leave through the finally below, which cleans up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        return run(exe, tmp)
    finally:
        for t in CURRENT:
            t.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def run(exe, tmp):
    state = os.path.join(tmp, "state")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "TMUX")}
    env.update(HOME=tmp, XDG_STATE_HOME=state, TERM="xterm", INPUTRC=os.devnull, LC_ALL="C.UTF-8")
    argv = [exe, "--no-window"]

    sig = 1.0 / (1.0 + math.exp(-0.5))
    t = Term(argv, env)
    CURRENT.append(t)
    t.expect(r">>> ", "first prompt")

    t.send("x = param(0.5)\r")
    t.expect(r">>> ", "prompt after x = param(0.5)")

    # Completion from the op table: sigm<Tab> -> sigmoid( with no space after the '('.
    t.send("y = sigm")
    t.expect_line(">>> y = sigm", "echo of y = sigm")
    t.send("\t")
    t.expect_line(">>> y = sigmoid(", "sigm<Tab> completed to sigmoid(")
    t.settle()
    text, col = t.line_and_cursor()
    if text.rstrip() != ">>> y = sigmoid(" or col != len(">>> y = sigmoid("):
        fail("completion left %r with the cursor at %d, not right after '>>> y = sigmoid(' "
             "(no space after the '(')" % (text, col), t)
    t.send("x)\r")
    t.expect(r">>> ", "prompt after y = sigmoid(x)")
    t.send("y\r")
    t.expect(re.escape(fmt(sig)) + r"\s*\n>>> ", "value of y = sigmoid(0.5)")

    # History: Up shows the previous line; Enter runs it again.
    t.send("y + 1\r")
    t.expect(re.escape(fmt(sig + 1)) + r"\s*\n>>> ", "value of y + 1")
    t.send("\x1b[A")
    t.expect_line(">>> y + 1", "Up recalled 'y + 1'")
    t.send("\r")
    t.expect(re.escape(fmt(sig + 1)) + r"\s*\n>>> ", "value of the recalled y + 1")

    # Ctrl-C drops a half-typed line; the session keeps x.
    t.send("x + 100")
    t.expect_line(">>> x + 100", "echo of x + 100")
    t.send("\x03")
    t.expect(r"\n>>> ", "fresh prompt after Ctrl-C")
    t.send("x\r")
    t.expect(re.escape(fmt(0.5)) + r"\s*\n>>> ", "x after Ctrl-C")
    if fmt(100.5) in strip(t.raw):
        fail("the cancelled line 'x + 100' was evaluated", t)

    # A statement over two lines: the continuation prompt while the bracket is open.
    t.send("z = (x +\r")
    t.expect(r"\.\.\. ", "continuation prompt")
    t.send("1)\r")
    t.expect(r">>> ", "prompt after the closed bracket")
    t.send("z * 2\r")
    t.expect(re.escape(fmt((0.5 + 1) * 2)) + r"\s*\n>>> ", "value of z * 2")

    # An error: the line, a caret under the column, the message, and the session goes on.
    t.send("w = nosuchname + 1\r")
    m = t.expect(r"w = nosuchname \+ 1\n( *)\^\s*\nerror: [^\n]+\n>>> ", "caret under the error")
    echo = strip(t.raw).rsplit("w = nosuchname + 1\n", 1)[0]
    line_start = echo.rfind("\n") + 1
    shown_at = len(echo) - line_start  # column where the reprinted source starts
    if len(m.group(1)) - shown_at != len("w = "):
        fail("the caret is not under 'nosuchname'", t)
    t.send("z * 2\r")
    t.expect(re.escape(fmt(3.0)) + r"\s*\n>>> ", "session intact after an error")

    # Ctrl-C during a long evaluation interrupts it: the prompt comes back, the statement left
    # nothing behind (B stays unbound) and x is still there. No delay decides when: Ctrl-C is sent
    # every 0.2 s until the error or the next prompt shows (a Ctrl-C that lands between the line's
    # acceptance and the statement's start is taken back when the statement starts).
    def interrupt(what):
        end = time.monotonic() + 40
        while time.monotonic() < end:
            t.send("\x03")
            t.settle(0.2)
            out = t.since_mark()
            if re.search(r"error: [^\n]*interrupted[^\n]*\n>>> ", out):
                t.mark = len(t.raw)
                return True
            if re.search(r"\n>>> $", out) and "error" not in out:
                return False  # it finished first
        fail(what + ": Ctrl-C did not stop it within 40 s", t)

    # :check over 160,000 entries takes hours: Ctrl-C always finds it running
    t.send("W = param(randn(400, 400)); Lc = sum(W @ W @ W)\r")
    t.expect(r"\n>>> ", "prompt after W, Lc")
    t.send(":check Lc\r")
    t.expect(r":check Lc\n", "echo of :check")
    if not interrupt(":check"):
        fail(":check over 160,000 entries finished before Ctrl-C", t)
    t.send("x\r")
    t.expect(re.escape(fmt(0.5)) + r"\s*\n>>> ", "x after an interrupted :check")
    # many short products rather than a few long ones: Ctrl-C is seen between two ops, and on a
    # loaded machine one 1500x1500 product alone could outlast the 40 s above
    t.send("A = randn(600, 600) / 25\r")
    t.expect(r"\n>>> ", "prompt after A = randn(600, 600)")
    t.send("B = " + " @ ".join(["A"] * 300) + "\r")
    t.expect(r"@ A\n", "echo of the long statement")
    if not interrupt("the assignment"):
        print("note: the 300 products finished before Ctrl-C; the unbound-name check is skipped")
    else:
        t.send("B\r")
        t.expect(r"error: [^\n]*\n>>> ", "an interrupted assignment binds nothing")
        t.send("x\r")
        t.expect(re.escape(fmt(0.5)) + r"\s*\n>>> ", "x after an interrupted evaluation")

    # A block typed at the prompt goes on with '...' until an empty line; a loop that never ends
    # stops at Ctrl-C with the session intact
    t.send("if True:\r")
    t.expect(r"\.\.\. ", "continuation prompt inside a block")
    t.send("    print('looping')\r")
    t.expect(r"\.\.\. ", "continuation prompt on the block's second line")
    t.send("    while True:\r")
    t.expect(r"\.\.\. ", "continuation prompt on the block's third line")
    t.send("        n = 1\r")
    t.expect(r"\.\.\. ", "continuation prompt on the block's fourth line")
    t.send("\r")
    t.expect(r"looping\r?\n", "the block runs after the empty line")  # then Ctrl-C hits the loop
    if not interrupt("while True:"):
        fail("while True: finished by itself", t)
    t.send("x\r")
    t.expect(re.escape(fmt(0.5)) + r"\s*\n>>> ", "x after an interrupted loop")

    # Ctrl-D on an empty line quits with status 0.
    t.send("\x04")
    st = t.wait_exit()
    if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
        fail("Ctrl-D: exit status %r" % st, t)

    # The history file holds the typed lines, in order, once each, without the cancelled one.
    path = os.path.join(state, "backstep", "history")
    if not os.path.isfile(path):
        fail("no history file at " + path, t)
    with open(path, encoding="utf-8") as f:
        hist = [ln.rstrip("\n") for ln in f if not ln.startswith("#")]
    typed = ["x = param(0.5)", "y = sigmoid(x)", "y", "y + 1", "x", "z = (x +", "1)", "z * 2",
             "w = nosuchname + 1", "z * 2", "A = randn(600, 600) / 25"]
    it = iter(hist)
    if not all(any(h == want for h in it) for want in typed):
        fail("history file %r lacks, or misorders, the typed lines %r" % (hist, typed))
    if "x + 100" in hist:
        fail("history holds the cancelled line: %r" % hist)
    last = hist[-1]
    if hist.count("y + 1") != 1:
        fail("a recalled line was stored twice in a row: %r" % hist)

    # A second start loads the history: Up shows the last line of the first session.
    t2 = Term(argv, env)
    CURRENT.append(t2)
    t2.expect(r">>> ", "first prompt of the second session")
    t2.send("\x1b[A")
    t2.expect_line(">>> " + last, "Up in a new session recalls the saved history")
    t2.send("\x03")
    t2.expect(r"\n>>> ", "prompt after Ctrl-C in the second session")
    t2.send("\x04")
    st = t2.wait_exit()
    if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
        fail("second session: exit status %r" % st, t2)
    print("ok: completion, history, Ctrl-C (line and evaluation), continuation, caret, Ctrl-D, history file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
