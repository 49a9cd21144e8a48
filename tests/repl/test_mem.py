#!/usr/bin/env python3
""":mem against PyTorch: every graph of mem_fixtures.txt (written by gen_mem_fixtures.py from
torch's grad_fn._saved_*) runs through the real binary with :mem after each statement. After every
statement the total and the count of distinct tensors must equal torch's; at the end, each named
node that is one grad_fn in torch too (the same backward kernel, modulo the overload number)
must keep torch's bytes, and a graph freed by backward() must count nothing and report what was
released.
Usage: test_mem.py BACKSTEP FIXTURES [OPS_DEF]"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOTAL = re.compile(r"^activation memory saved for backward: (\d+) bytes in (\d+) tensors?, ")
RELEASED = re.compile(r"^\d+ nodes? w(?:as|ere) freed by backward\(\) without retain_graph=True: "
                      r"the (\d+) bytes")
NODE = re.compile(r"^(\S+)\s+(\w+)\s+(\(.*?\))\s+(\d+)  ")
# torch.matmul's kernels are one backstep op
MATMUL = {"Mm", "Mv", "Dot", "Bmm"}


def load(path):
    graphs, g = [], None
    for ln in open(path):
        ln = ln.rstrip("\n")
        if not ln or ln.startswith("#"):
            continue
        word, _, rest = ln.partition(" ")
        if word == "graph":
            g = {"name": rest, "lines": [], "after": [], "nodes": {}, "released": None}
        elif word == "dtype":
            g["dtype"] = rest
        elif word == "line":
            g["lines"].append(rest)
        elif word == "after":
            k, b, n = map(int, rest.split())
            g["after"].append((b, n))
        elif word == "node":
            var, fn, b = rest.split()
            g["nodes"][var] = (fn, int(b))
        elif word == "total":
            g["total"] = tuple(map(int, rest.split()))
        elif word == "released":
            g["released"] = int(rest)
        elif word == "end":
            graphs.append(g)
    return graphs


def grad_fns(ops_def):
    """op name -> PyTorch's backward class, from the op table"""
    out = {}
    for ln in open(ops_def):
        m = re.match(r'BS_OP\(\s*\w+,\s*(\w+),.*?"(\w+Backward\d*)"', ln)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def family(fn):
    base = re.sub(r"Backward\d*$", "", fn)
    return "Mm" if base in MATMUL else base


def run_graph(exe, g, tmp):
    src = [":dtype %s" % g["dtype"]]
    for ln in g["lines"]:
        src += [ln, ":mem"]
    path = os.path.join(tmp, g["name"] + ".bs")
    with open(path, "w") as f:
        f.write("\n".join(src) + "\n")
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["HOME"] = tmp
    p = subprocess.run([exe, "--no-window", path], capture_output=True, text=True, env=env,
                       cwd=tmp, timeout=60)
    return p


def main():
    exe, fixtures = os.path.abspath(sys.argv[1]), sys.argv[2]
    ops_def = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "core", "ops.def")
    fns = grad_fns(ops_def)
    graphs = load(fixtures)
    bad, checks = [], 0
    tmp = tempfile.mkdtemp(prefix="bs-mem-")
    try:
        for g in graphs:
            p = run_graph(exe, g, tmp)
            if p.returncode != 0:
                bad.append("%s: exit %d: %s" % (g["name"], p.returncode, p.stderr.strip()))
                continue
            totals, nodes, released = [], {}, None
            for ln in p.stdout.splitlines():
                m = TOTAL.match(ln)
                if m:
                    totals.append((int(m.group(1)), int(m.group(2))))
                    nodes, last_nodes = {}, nodes
                    continue
                m = RELEASED.match(ln)
                if m:
                    released = int(m.group(1))
                m = NODE.match(ln)
                if m and ln.split()[0] != "node":
                    nodes[m.group(1)] = (m.group(2), int(m.group(4)))
            checks += 1
            if totals != g["after"]:
                bad.append("%s: totals after each statement (bytes, tensors) %s, torch %s"
                           % (g["name"], totals, g["after"]))
            if not totals or totals[-1] != g["total"]:
                bad.append("%s: total %s, torch %s" % (g["name"], totals[-1:], g["total"]))
            for var, (tfn, tb) in g["nodes"].items():
                if var not in last_nodes:
                    if tb:
                        bad.append("%s: %s keeps nothing, torch's %s keeps %d bytes"
                                   % (g["name"], var, tfn, tb))
                    continue
                op, b = last_nodes[var]
                if family(fns.get(op, "?")) != family(tfn):
                    continue  # several grad_fns in torch (3 / x is reciprocal then mul)
                checks += 1
                if b != tb:
                    bad.append("%s: %s (%s) keeps %d bytes, torch's %s %d"
                               % (g["name"], var, op, b, tfn, tb))
            if g["released"] is not None:
                checks += 1
                if (released or 0) != g["released"]:
                    bad.append("%s: released %s bytes, torch %d" % (g["name"], released, g["released"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for b in bad:
        print("FAIL", b)
    print("%d graphs, %d checks, %d failed" % (len(graphs), checks, len(bad)))
    return 1 if bad or not graphs else 0


if __name__ == "__main__":
    sys.exit(main())
