#!/bin/sh
# make bench: run every benchmark program of a release build and print its
# figures as `name value unit` lines (method and bars: docs/PERFORMANCE.md).
set -eu
BUILD=${1:-build-bench}
for prog in "$BUILD"/bench/tt-alloc-bench; do
    [ -x "$prog" ] && "$prog"
done
