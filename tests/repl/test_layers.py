"""tests/repl/test_layers.py: the walls between the folders and inside repl/, checked on the
built objects and the sources (issue "Layers a newcomer can trust").

  - repl/'s link graph: which object calls which (nm on libbsrepl.a). The interpreter (eval,
    exec, builtins, ...) is one component, as any interpreter's evaluator and builtins are; every
    other file is in no cycle, and no interpreter file calls a tool above it.
  - the node's engine bookkeeping is not in core's public header, and bs_node_at (the writable
    node) is core's alone.
  - the replay planner (core/plan*.c) names no backend.
  - no repl/ or viz/ file includes the GPU backend's header, and the program links no CUDA
    library (the backend is a module loaded by :run gpu).
  - no file points users to the design folder outside the project (LANGUAGE.md, ../shared).

usage: test_layers.py SRC_ROOT LIBBSREPL.a BACKSTEP"""
import collections
import os
import re
import subprocess
import sys

INTERP = {"eval", "exec", "builtins", "nn", "modules", "amp", "heap", "index", "pydict",
          "suggest", "print", "cmdtab"}
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def link_graph(lib):
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    defs, undef = {}, collections.defaultdict(set)
    for line in out.splitlines():
        parts = line.split(":")
        obj = parts[-2].split("/")[-1].replace(".c.o", "")
        rest = parts[-1].split()
        if len(rest) == 2 and rest[0] == "U":
            undef[obj].add(rest[1])
        elif len(rest) == 3 and rest[1] in "TDBRC":
            defs[rest[2]] = obj
    dep = collections.defaultdict(set)
    for obj, syms in undef.items():
        for s in syms:
            if s in defs and defs[s] != obj:
                dep[obj].add((defs[s], s))
    return dep


def sccs(nodes, edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(set(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main():
    src, lib, exe = sys.argv[1:4]
    dep = link_graph(lib)
    files = set(dep) | {d for ds in dep.values() for d, _ in ds}
    if not INTERP <= files:
        fail("objects missing from the library: %s" % sorted(INTERP - files))
    edges = {f: {d for d, _ in ds} for f, ds in dep.items()}
    for comp in sccs(sorted(files), edges):
        if len(comp) > 1 and comp != INTERP:
            fail("files calling each other in a circle: %s" % " ".join(sorted(comp)))
    for f in sorted(INTERP):
        for d, sym in sorted(dep.get(f, ())):
            if d not in INTERP:
                fail("the interpreter's %s.c calls up into %s.c (%s)" % (f, d, sym))
    print("repl/: %d files; the interpreter (%d files) is the one cycle; %d calls between files"
          % (len(files), len(INTERP), sum(len(v) for v in edges.values())))

    hdr = open(os.path.join(src, "core", "backstep.h")).read()
    struct = re.search(r"struct bs_node \{(.*?)\n\};", hdr, re.S).group(1)
    for field in ("mark", "gtmp", "sgtmp", "in_version", "txn", "freed", "text_borrowed"):
        if re.search(r"\b%s\b" % field, re.sub(r"/\*.*?\*/", "", struct, flags=re.S)):
            fail("core/backstep.h's struct bs_node has the bookkeeping field %s" % field)
    if re.search(r"\bbs_node_at\s*\(", hdr):
        fail("core/backstep.h declares bs_node_at: the writable node is core's alone")
    for d in ("repl", "viz", "gpu", "tests"):
        for root, _, names in os.walk(os.path.join(src, d)):
            for name in names:
                if name.endswith((".c", ".h", ".cu", ".cpp")):
                    text = open(os.path.join(root, name), errors="replace").read()
                    if re.search(r"\bbs_node_at\s*\(", text):
                        fail("%s calls bs_node_at" % os.path.join(root, name))

    for name in sorted(os.listdir(os.path.join(src, "core"))):
        if not re.match(r"plan.*\.[ch]$", name):
            continue
        plan = re.sub(r"/\*.*?\*/", "", open(os.path.join(src, "core", name)).read(), flags=re.S)
        for pat in (r"bs_backend_cpu\s*\(", r"bs__cpu_", r"bs_gpu_", r'"cpu"', r'"gpu"'):
            if re.search(pat, plan):
                fail("core/%s names a backend (%s)" % (name, pat))

    for d in ("repl", "viz"):
        for name in os.listdir(os.path.join(src, d)):
            if name.endswith((".c", ".h")):
                text = open(os.path.join(src, d, name)).read()
                if re.search(r'#include\s+"(bsgpu|gpu_int)\.h"', text):
                    fail("%s/%s includes the GPU backend's header" % (d, name))
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    for lib_name in ("libcudart", "libcublas", "libcuda."):
        if lib_name in ldd:
            fail("backstep links %s" % lib_name)

    # the project carries its own references: nothing points users to the design folder outside
    # it (a PyTorch case may name the source text it was taken from, as an attribution)
    for d in ("", "docs", "core", "repl", "viz", "gpu", "tests", "lessons", "assets"):
        for root, dirs, names in os.walk(os.path.join(src, d)):
            if d == "":
                dirs[:] = []
            for name in names:
                if not name.endswith((".md", ".py", ".c", ".h", ".cu", ".build", ".lesson", ".bs")):
                    continue
                path = os.path.join(root, name)
                if os.path.abspath(path) == os.path.abspath(__file__):
                    continue
                for k, line in enumerate(open(path, errors="replace"), 1):
                    if re.search(r"LANGUAGE\.md|\.\./shared|\bshared/(DESIGN|STYLE)", line):
                        fail("%s:%d points outside the project: %s" % (path, k, line.strip()))

    print("layers: %s" % ("ok" if not failures else "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
