#!/usr/bin/env python3
"""tests/gpu/test_gpu_fatbin.py: the GPU module carries code for every architecture of -Dgpu_arch.

Reads the .nv_fatbin section of gpu/libbsgpu.so (objcopy) and walks its fat binaries, one per
.cu file: each must hold SASS (an ELF image) for every architecture listed in -Dgpu_arch and PTX
for one of them (the JIT path for later GPUs), and there must be one per .cu file (an extra one,
as nvcc's device-link stub for its default sm_75, fails). Needs no GPU.
Usage: test_gpu_fatbin.py MODULE GPU_ARCH NFILES
"""
import os
import struct
import subprocess
import sys
import tempfile

module, archs, nfiles = sys.argv[1], sys.argv[2], int(sys.argv[3])
want = sorted({int(a.strip().lower().replace("sm_", "").rstrip("af")) for a in archs.split(",")})

fd, raw = tempfile.mkstemp(prefix="bs-fatbin-")
os.close(fd)
try:
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", module, raw], check=True)
    data = open(raw, "rb").read()
finally:
    os.unlink(raw)

MAGIC = 0xBA55ED50  # the fat binary header: magic, version, header size, size of its entries
fat = []
pos = 0
while pos + 16 <= len(data):
    magic, _, hsize, size = struct.unpack_from("<IHHQ", data, pos)
    if magic != MAGIC:
        pos += 8  # the containers are 8-byte aligned
        continue
    entries = []
    e = pos + hsize
    while e < pos + hsize + size:
        # an entry: kind (1 PTX, 2 ELF), header size, payload size, ..., the arch at byte 28
        kind, _, ehsize, esize = struct.unpack_from("<HHIQ", data, e)
        (arch,) = struct.unpack_from("<I", data, e + 28)
        entries.append(({1: "ptx", 2: "sass"}.get(kind, str(kind)), arch))
        e += ehsize + esize
    fat.append(sorted(set(entries)))
    pos += hsize + size

failed = 0
if len(fat) != nfiles:
    print("FAIL: %d fat binaries in %s, want %d (one per .cu file)" % (len(fat), module, nfiles))
    failed += 1
for i, entries in enumerate(fat):
    sass = sorted(a for k, a in entries if k == "sass")
    ptx = sorted(a for k, a in entries if k == "ptx")
    ok = sass == want and len(ptx) >= 1 and all(p in want for p in ptx)
    print("%s: fat binary %d: SASS %s, PTX %s (want SASS %s and PTX for one of them)"
          % ("ok" if ok else "FAIL", i, sass, ptx, want))
    failed += not ok
print("PASS" if not failed else "FAIL")
sys.exit(1 if failed else 0)
