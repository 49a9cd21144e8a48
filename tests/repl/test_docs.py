#!/usr/bin/env python3
"""docs/reference.md is what `backstep --reference` writes from the op table, the builtins and the
commands: the committed file must equal the program's output, so the reference cannot drift from
what the program does (after adding an op: backstep --reference > docs/reference.md). And the
project's documents link only to files inside the project.
Usage: test_docs.py BACKSTEP SOURCE_ROOT"""
import os
import re
import subprocess
import sys


def main():
    exe, root = sys.argv[1], sys.argv[2]
    out = subprocess.run([exe, "--reference"], capture_output=True, text=True, timeout=60)
    failures = 0
    with open(os.path.join(root, "docs", "reference.md")) as f:
        committed = f.read()
    if out.returncode != 0 or out.stdout != committed:
        a, b = committed.splitlines(), out.stdout.splitlines()
        diff = [(i + 1, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]
        print("FAIL docs/reference.md differs from `backstep --reference` (%d vs %d lines); first "
              "differences: %s" % (len(a), len(b), diff or "a length difference"))
        failures += 1
    else:
        print("ok: docs/reference.md is the program's own reference (%d lines)" % len(committed.splitlines()))
    for doc in ["README.md", "docs/language.md", "docs/reference.md", "core/README.md", "lessons/README.md"]:
        path = os.path.join(root, doc)
        if not os.path.exists(path):
            continue
        for target in re.findall(r"\]\(([^)#]+)", open(path).read()):
            if target.startswith("http"):
                continue
            full = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if not full.startswith(os.path.normpath(root) + os.sep) or not os.path.exists(full):
                print("FAIL %s links to %s, which is not a file of the project" % (doc, target))
                failures += 1
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
