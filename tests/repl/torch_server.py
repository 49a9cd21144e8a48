#!/usr/bin/python3 -S
"""Run many PyTorch programs without paying `import torch` for each (about 2 s of CPU here; a test
that checks 190 exported programs spent most of its ten minutes on it).

    torch_server.py serve SOCKET        imports torch, then runs each program it is sent in a fresh
                                        fork of itself (nothing carries over from one to the next)
    torch_server.py PROGRAM ARGS...     the client, a stand-in for `python3 PROGRAM ARGS...`: sends
                                        its argv, working directory, environment and its stdin,
                                        stdout and stderr (the descriptors themselves) to the server
                                        named by $BS_TORCH_SERVER, and exits with the program's status

Tests start the server with start() and point BACKSTEP_PYTHON at this file, so backstep's own
`:export --check` path (which runs `$BACKSTEP_PYTHON model.py ...`) is what gets tested."""
import json
import os
import socket
import struct
import sys
import time


def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError("the other side closed the connection")
        buf += part
    return buf


def _run_one(conn):
    """in a fork of the server: take the request, run the program in a fork of this, send its status"""
    head = _recv_exact(conn, 4)
    msg, fds, _, _ = socket.recv_fds(conn, struct.unpack("!I", head)[0], 3)
    req = json.loads(msg)
    pid = os.fork()
    if pid == 0:
        os.setsid()  # its own process group, so that it can be stopped with what it starts
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        conn.close()
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        prog = req["argv"][0]
        sys.argv = list(req["argv"])
        sys.path.insert(0, os.path.dirname(os.path.abspath(prog)))
        sys.stdin = os.fdopen(0, "r", closefd=False)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", closefd=False)
        code = 0
        try:
            import runpy
            runpy.run_path(prog, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int) and e.code is not None:
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    for fd in fds:
        os.close(fd)
    # wait for the program; if the client goes away first (killed by a test's timeout), the
    # program goes too, with everything it started: a killed client must not leave it running
    # with the test's pipes open
    import select
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        r, _, _ = select.select([conn], [], [], 0.2)
        if r and not conn.recv(1, socket.MSG_PEEK):
            try:
                os.killpg(pid, 9)
            except OSError:
                pass
            os.waitpid(pid, 0)
            return
    code = os.waitstatus_to_exitcode(status)
    conn.sendall(struct.pack("!i", code))


def serve(path):
    import torch  # noqa: F401  (the point of the server: imported once, inherited by every fork)
    try:
        import numpy  # noqa: F401
    except ImportError:
        pass
    parent = os.getppid()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)  # a server before this one died without removing it
    srv.bind(path)
    srv.listen(16)
    srv.settimeout(1.0)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test that started it is gone: stop
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        if os.fork() == 0:
            srv.close()
            conn.settimeout(None)
            try:
                _run_one(conn)
            finally:
                os._exit(0)
        conn.close()


def client(argv):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(os.environ["BS_TORCH_SERVER"])
    msg = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    conn.sendall(struct.pack("!I", len(msg)))
    socket.send_fds(conn, [msg], [0, 1, 2])
    code = struct.unpack("!i", _recv_exact(conn, 4))[0]
    sys.exit(code if code >= 0 else 128 - code)


def start(python, tmpdir):
    """start a server under `python` (which must import torch); returns (process, environment
    additions that make this file a stand-in for that python)"""
    import subprocess
    path = os.path.join(tmpdir, "torch.sock")
    p = subprocess.Popen([python, os.path.abspath(__file__), "serve", path], stdout=subprocess.PIPE,
                         text=True)
    if p.stdout.readline().strip() != "ready":
        p.wait()
        raise RuntimeError("the torch server did not start")
    deadline = time.time() + 30
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.01)
    return p, {"BS_TORCH_SERVER": path, "BACKSTEP_PYTHON": os.path.abspath(__file__)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 2:
        client(sys.argv[1:])
    else:
        sys.exit(__doc__)
