#!/usr/bin/env python3
"""tests/lessons/pty_lesson.py: a learner takes lesson 1 through a pseudo-terminal.

Drives the real `backstep` binary as a person would: starts `backstep --lesson chain-rule`, answers
a prediction wrongly (and must get the hint), then rightly (and must get the answer and the
explanation), leaves at the next prediction with `q`, and resumes with `:lesson chain-rule` (or, if
the program exited after the lesson, with a fresh `backstep --lesson chain-rule`): it must pick up
at the saved screen, not at the start, with the earlier screens' values restored. Progress lives in
a temporary XDG_STATE_HOME.

usage: pty_lesson.py PATH/TO/backstep   (BACKSTEP_LESSON_DIR names the lessons folder)
"""
import os
import pty
import re
import select
import shutil
import signal
import sys
import tempfile
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")


class Learner:
    """A child process on a pty, with expect-style waiting on its output."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.seen = b""      # everything read so far, escapes stripped
        self.pos = 0         # where the next expect starts looking
        self.alive = True

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.alive = False
            return False
        self.seen += ANSI.sub(b"", data)
        return True

    def expect(self, text, timeout=30):
        """Wait until `text` appears after the last match; return what came before it."""
        want = text.encode()
        deadline = time.time() + timeout
        while True:
            i = self.seen.find(want, self.pos)
            if i >= 0:
                before = self.seen[self.pos:i].decode(errors="replace")
                self.pos = i + len(want)
                return before
            left = deadline - time.time()
            if left <= 0 or (not self.alive):
                raise AssertionError("timed out waiting for %r; output since the last match:\n%s"
                                     % (text, self.seen[self.pos:].decode(errors="replace")))
            self._read(min(left, 0.5))

    def settle(self, quiet=1.0, timeout=5.0):
        """Read until nothing arrives for `quiet` seconds (or the child exits)."""
        deadline = time.time() + timeout
        last = time.time()
        while time.time() < deadline and self.alive:
            if self._read(0.1):
                last = time.time()
            elif time.time() - last >= quiet:
                break

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def close(self):
        if self.alive:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


def check(cond, msg, out=""):
    if not cond:
        sys.stderr.write("FAIL: %s\n%s\n" % (msg, out))
        sys.exit(1)
    print("ok: " + msg)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    exe = sys.argv[1]
    if not os.access(exe, os.X_OK):
        sys.stderr.write("no executable at %s\n" % exe)
        return 77
    state = tempfile.mkdtemp(prefix="bs-lesson-pty-")
    env = dict(os.environ)
    env.update({"XDG_STATE_HOME": state, "TERM": "dumb", "COLUMNS": "80", "LINES": "24",
                "HOME": state})
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    progress = os.path.join(state, "backstep", "lessons.progress")
    argv = [exe, "--no-window", "--lesson", "chain-rule"]

    p = Learner(argv, env)
    try:
        p.expect("Lesson 1 · Derivatives and the chain rule on one path · 1/6")
        p.expect("[Enter] next")
        p.send("")
        p.expect("Predict: At our point u = 6")
        p.expect("your answer")
        p.send("5")                                       # wrong: 2u at u = 6 is 12
        p.expect("Not quite. Hint: The rule for v = u² is dv/du = 2u.")
        check(True, "a wrong prediction gets the hint")
        p.expect("your answer")
        p.send("12")
        p.expect("Right: the engine computes 12.")
        p.expect("dv/du = 2 × 6 = 12.")
        check(True, "the right prediction gets the answer and the explanation")
        p.expect("Predict: Multiply the three local factors")
        p.expect("your answer")
        p.send("q")                                       # leave at screen 3
        p.expect("Left at screen 3 of 6")
        check(True, "q leaves the lesson")
        p.settle()
        with open(progress) as f:
            saved = f.read()
        check("chain-rule 3/6 open" in saved, "progress saved in XDG_STATE_HOME", saved)

        if p.alive:                                       # back at the REPL prompt
            print("resuming with :lesson chain-rule at the REPL prompt")
            p.send(":lesson chain-rule")
        else:                                             # the program ended: start it again
            print("resuming with a new backstep --lesson chain-rule")
            p.close()
            p = Learner(argv, env)
        tail_start = p.pos
        p.expect("Resuming lesson 1 (chain-rule) at screen 3 of 6")
        if "clear your" in p.seen[tail_start:p.pos].decode(errors="replace"):
            p.send("y")
        p.expect("Lesson 1 · Derivatives and the chain rule on one path · 3/6")
        before = p.expect("Predict: Multiply the three local factors")
        check("At our point u = 6" not in before and "1/6" not in before,
              "resumes at the saved screen, not at the start", before)
        p.expect("your answer")
        p.send("1")                                       # needs u and v from earlier screens
        p.expect("Right: the engine computes 1.")
        check(True, "the earlier screens' values were restored on resume")
        p.expect("[Enter] next")
        p.send("q")
        p.expect("Left at screen 4 of 6")
        p.settle()
        with open(progress) as f:
            saved = f.read()
        check("chain-rule 4/6 open" in saved, "progress moved on", saved)
        if p.alive:
            p.send(":quit")
            p.settle()
    finally:
        p.close()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
