#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run every libFuzzer harness (tests/fuzz/fuzz_*.c) built in BUILD for
# SECONDS each, starting from its seed corpus (tests/fuzz/corpus/NAME/).
# New inputs go to a scratch copy; a crash, leak or timeout fails the run
# and leaves the reproducer in CRASH_DIR. docs/fuzzing.md says more.
# usage: scripts/fuzz.sh BUILD [SECONDS]
set -eu
build=$1
seconds=${2:-15}
src=$(cd "$(dirname "$0")/.." && pwd)
crash_dir=${CRASH_DIR:-$build/fuzz-crashes}
mkdir -p "$crash_dir"
failed=0
for harness in "$src"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    bin=$build/tests/fuzz/$name
    if [ ! -x "$bin" ]; then
        echo "fuzz: $name is not built in $build" >&2
        failed=1
        continue
    fi
    scratch=$(mktemp -d)
    seeds=$src/tests/fuzz/corpus/$name
    echo "fuzz: $name for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
            -artifact_prefix="$crash_dir/$name-" "$scratch" "$seeds" >"$scratch.log" 2>&1; then
        tail -n 40 "$scratch.log" >&2
        echo "fuzz: $name FAILED (reproducer in $crash_dir)" >&2
        failed=1
    else
        grep -E "^#[0-9]+ +DONE" "$scratch.log" | tail -n 1 || true
    fi
    rm -rf "$scratch" "$scratch.log"
done
exit $failed
