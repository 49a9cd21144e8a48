#!/bin/sh
# setup.sh: the one set-up script. On a fresh Debian machine (as root) it installs whatever is
# missing, builds backstep, and then either starts the REPL or runs every test.
#   ./setup.sh [args...]   install, build, start the REPL (args go to backstep)
#   ./setup.sh test        install, build, run every test suite; ends with "N passed, N failed"
#   ./setup.sh build       install and build only
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential pkg-config meson ninja-build python3 libopenblas-dev libsleef-dev libreadline-dev
  libgraphviz-dev graphviz libsdl2-dev libsdl2-ttf-dev fonts-dejavu-core libcmocka-dev xvfb xauth
  tmux libxml2-utils"
# `./setup.sh test` also fuzzes (tests/fuzz: libFuzzer needs clang and its runtime)
# reads the window's screenshots (tests/repl/test_window_steps.py: tesseract) and runs the
# exported PyTorch programs (tests/repl/test_export_py.py: python3-torch)
[ "${1:-}" = test ] && PACKAGES="$PACKAGES clang libclang-rt-14-dev tesseract-ocr tesseract-ocr-eng python3-torch"

install_missing() {
    missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "setup: installing$missing" >&2
    if [ "$(id -u)" != 0 ]; then
        echo "setup: run as root (or install these Debian packages):$missing" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# nvcc is used when present (CUDA backend), never required
[ -x /usr/local/cuda/bin/nvcc ] && PATH="$PATH:/usr/local/cuda/bin" && export PATH

build() {
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
    else # an existing build takes the options and finds what was installed since
        meson setup --reconfigure "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}

# Print "N passed, N failed, N skipped" from meson's test logs (meson's own summary is not counted).
count() {
    python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    try:
        lines = open(log).read().splitlines()
    except OSError:
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
PY
}

install_missing
case "${1:-run}" in
    build)
        build build
        ;;
    test)
        build build
        status=0
        meson test -C build --print-errorlogs --num-processes 2 || status=1
        # the unit suites (and the REPL, golden and lesson suites) again under AddressSanitizer,
        # LeakSanitizer and UBSan
        build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled
        ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            meson test -C build-asan --suite unit --suite repl --suite golden --suite lessons --suite pytorch \
            --print-errorlogs --num-processes 2 || status=1
        # the libFuzzer targets (tests/fuzz), when clang is here: ~12 s of fuzzing each, after
        # their regression inputs; any crash, sanitizer report, leak or hang fails
        fuzzlog=""
        if command -v clang >/dev/null 2>&1; then
            if { [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dcuda=disabled \
                    -Dsdl2=disabled -Dfuzz=enabled >/dev/null; } && ninja -C build-fuzz >/dev/null; then
                meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 1 || status=1
                fuzzlog=build-fuzz/meson-logs/testlog.json
            else
                echo "setup: the fuzz build (build-fuzz) failed" >&2
                status=1
            fi
        fi
        count build/meson-logs/testlog.json build-asan/meson-logs/testlog.json $fuzzlog || status=1
        exit $status
        ;;
    *)
        [ "${1:-}" = run ] && shift
        build build
        exec build/repl/backstep "$@"
        ;;
esac
