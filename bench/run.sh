#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make bench: run every benchmark of a release build and print its figures as
# `name value unit` lines (method and bars: docs/PERFORMANCE.md).
set -eu
BUILD=${1:-build-bench}
"$BUILD"/bench/tt-alloc-bench
"$BUILD"/src/smi/tt-smi-bench
sh "$(dirname "$0")/monitor_cpu.sh" "$BUILD"
"$BUILD"/bench/ttrec-bench
"$BUILD"/bench/record-bench
# The soak: SOAK_SECONDS (default 600) of mixed clients, kill -9 and restarts.
"$BUILD"/bench/tt-alloc-soak
