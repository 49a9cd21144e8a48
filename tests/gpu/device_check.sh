#!/bin/bash
# tests/gpu/device_check.sh: the checks that need a GPU, as one prepared script for a device
# machine (nvcc, PyTorch, meson, ninja, no package registry). It
#   1. unpacks OpenBLAS (and the Fortran runtime it links) from Debian .deb files carried in
#      DEBS (default .debs/) with dpkg -x into /tmp/ob, and points the compiler and loader there;
#   2. configures and builds a headless backstep (no readline, Graphviz, SDL2 or fuzzers; CUDA
#      for sm_90, the H100/H200) in build-dev/;
#   3. runs the GPU suite: gpu_ops on the device (every op of core/ops.def, forward and VJP, f32,
#      bf16 and f64, against the CPU engine), gpu_ops_emu, and run_gpu;
#   4. runs both GPU benchmarks (tests/bench/bench_gpu.py: the bf16 MLP step at N=8192, 4096 wide,
#      and the GPT block step at N=8, S=1024, each against PyTorch eager on the same GPU, with the
#      achieved bf16 TFLOP/s), and the CPU replay's --check of the GPT block against :run gpu.
# Everything it prints also goes to $OUT/device_check.log when OUT is set (the device tool's
# folder that comes back). It stops at the first failing step; budget: about 8 minutes on an H200
# machine (16 cores): build 3-4, GPU suite 1-2, benchmarks 2.
#
# Here, once, to fetch the packages (Debian bookworm's, amd64; they work on newer glibc):
#   mkdir -p .debs && (cd .debs && apt-get download libopenblas0-pthread libopenblas-pthread-dev \
#       libopenblas-dev libopenblas0 libgfortran5 libquadmath0)
#   echo /.debs/ >> "$(git rev-parse --git-common-dir)/info/exclude"
# then run it through the device tool with carry [".debs"]:
#   bash tests/gpu/device_check.sh
set -o pipefail
cd "$(dirname "$0")/../.." || exit 1
LOG=${OUT:+$OUT/device_check.log}
log() { if [ -n "$LOG" ]; then tee -a "$LOG"; else cat; fi; }
step() { echo "== $(date +%T) $*" | log; }
die() { echo "device_check: FAILED: $*" | log; exit 1; }
T0=$(date +%s)

DEBS=${DEBS:-.debs}
OB=/tmp/ob
step "OpenBLAS from $DEBS"
if ls "$DEBS"/*.deb >/dev/null 2>&1; then
    mkdir -p $OB
    for f in "$DEBS"/*.deb; do dpkg -x "$f" $OB || die "dpkg -x $f"; done
    LIBS=$OB/usr/lib/x86_64-linux-gnu
    export CPATH=$OB/usr/include/x86_64-linux-gnu/openblas-pthread${CPATH:+:$CPATH}
    export LIBRARY_PATH=$LIBS/openblas-pthread:$LIBS${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=$LIBS/openblas-pthread:$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PKG_CONFIG_PATH=$LIBS/openblas-pthread/pkgconfig
    export PKG_CONFIG_SYSROOT_DIR=$OB
    ls $LIBS/openblas-pthread/libopenblas.so* 2>&1 | log
else
    echo "no .deb files in $DEBS: using the system's OpenBLAS" | log
fi

step "tools"
export PATH=$PATH:/usr/local/cuda/bin
for t in nvcc meson ninja python3 cc; do
    command -v $t >/dev/null || die "$t not found"
done
(nvcc --version | tail -1; meson --version; ninja --version; nvidia-smi -L 2>&1 | head -2) 2>&1 | log
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")' 2>&1 | log

step "configure build-dev (headless, CUDA sm_90)"
rm -rf build-dev
meson setup build-dev -Dcuda=enabled -Dgpu_arch=90 -Dreadline=disabled -Dgraphviz=disabled \
    -Dsdl2=disabled -Dfuzz=disabled 2>&1 | tail -25 | log || die "meson setup"
step "build"
ninja -C build-dev -j"$(nproc)" 2>&1 | tail -5 | log || die "ninja"

step "GPU suite"
meson test -C build-dev --suite gpu --suite run --print-errorlogs --num-processes 2 2>&1 | tail -30 | log \
    || die "GPU suite (build-dev/meson-logs/testlog.txt)"
build-dev/tests/gpu/test_gpu_ops 2>&1 | tail -8 | log || die "test_gpu_ops"
[ -n "$OUT" ] && cp build-dev/meson-logs/testlog.txt "$OUT/testlog.txt" 2>/dev/null

step ":run gpu --check of the GPT block (against the CPU engine)"
(cat assets/gpt_block.bs; echo ":run gpu N=4 S=256 D=768 H=12 dtype=f32 --check --quiet";
 echo ":run gpu N=4 S=256 D=768 H=12 dtype=bf16 --check --quiet") |
    build-dev/repl/backstep --quiet --no-window 2>&1 | log || die ":run gpu --check"

step "GPU benchmarks"
PYTHONUNBUFFERED=1 python3 tests/bench/bench_gpu.py build-dev/repl/backstep . --steps 10 2>&1 | log \
    || die "bench_gpu.py"
step "done in $(( $(date +%s) - T0 )) s"
