#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# demo.sh BUILD_DIR - tt-alloc at work without a Tenstorrent card: a simulated
# tt-kmd tree (n150, n300, p150a), tt-alloc-server on a private socket, five
# simulated TT-Metal processes (one leaks, one crashes after 6 s), and the
# monitor (tt-alloc-monitor, else `tt-smi -w`). Quitting it stops every
# process this script started and removes its temporary directory.
# Without a terminal (stdout not a tty, or CI=true) it prints `tt-smi` every
# 2 s for 10 s instead, then stops the same way.
# One workload (leaky-service) runs under `tt-alloc-sim run --record`; at the
# end the demo writes its report (tt-alloc-report --html) to $DEMO_REPORT_DIR
# (default BUILD_DIR/demo), which is kept, and says where it is.
# The temporary directory is made under $TMPDIR (default /tmp).
set -u

BUILD=${1:-build}
SIM=$BUILD/src/sim/tt-alloc-sim
SERVER=$BUILD/src/server/tt-alloc-server
SMI=$BUILD/src/smi/tt-smi
MONITOR=$BUILD/src/monitor/tt-alloc-monitor
REPORT=$BUILD/src/report/tt-alloc-report
REPORT_DIR=${DEMO_REPORT_DIR:-$BUILD/demo}

for b in "$SIM" "$SERVER" "$SMI" "$REPORT" "$BUILD/src/record/tt-alloc-record"; do
    if [ ! -x "$b" ]; then
        echo "demo: $b is not built (run: make build)" >&2
        exit 1
    fi
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/tt-alloc-demo.XXXXXX") || exit 1
WORKLOADS=""
SYSROOT_PID=""
SERVER_PID=""

# Is process $1 still running (not a zombie)? Linux /proc.
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# SIGTERM the given PIDs, wait up to 10 s for them, then SIGKILL; reap them.
stop() {
    [ $# -gt 0 ] || return 0
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    i=0
    while [ $i -lt 100 ]; do
        any=0
        for p in "$@"; do alive "$p" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
        i=$((i + 1))
    done
    for p in "$@"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    return 0
}

cleanup() {
    trap - EXIT INT TERM
    # workloads first (they free what they hold), then the tree, then the server
    # shellcheck disable=SC2086
    stop $WORKLOADS
    # shellcheck disable=SC2086
    stop $SYSROOT_PID
    # shellcheck disable=SC2086
    stop $SERVER_PID
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Wait for a condition (a shell command) for up to $1 seconds.
wait_until() {
    limit=$(($1 * 10))
    shift
    i=0
    while ! "$@"; do
        i=$((i + 1))
        if [ $i -ge $limit ]; then
            return 1
        fi
        sleep 0.1
    done
}

ROOT=$DIR/root
SOCK=$DIR/tt-alloc.sock
export TT_SYSROOT="$ROOT" TT_ALLOC_SOCKET="$SOCK"

# 1. the fake driver tree; --live moves telemetry and keeps the pids files
"$SIM" sysroot "$ROOT" --devices n150,n300,p150a --live >"$DIR/sysroot.log" 2>&1 &
SYSROOT_PID=$!
if ! wait_until 10 test -f "$ROOT/sys/module/tenstorrent/version"; then
    echo "demo: the simulated tree did not appear:" >&2
    cat "$DIR/sysroot.log" >&2
    exit 1
fi

# 2. the server
"$SERVER" --socket "$SOCK" --sysroot "$ROOT" >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_until 10 test -S "$SOCK"; then
    echo "demo: tt-alloc-server did not start:" >&2
    cat "$DIR/server.log" >&2
    exit 1
fi

# 3. the workloads: name, then tt-alloc-sim run arguments
workload() {
    name=$1
    shift
    "$SIM" run --label "$name" "$@" >"$DIR/$name.log" 2>&1 &
    WORKLOADS="$WORKLOADS $!"
}
workload llama-decode   --device 0 --profile llm --share 70 --seed 1
workload resnet-crashy  --device 0 --profile cnn --share 30 --seed 2 --crash-after 6
workload bert-train     --device 1 --profile train --seed 3
mkdir -p "$REPORT_DIR" || exit 1
rm -f "$REPORT_DIR/leaky-service.ttrec" "$REPORT_DIR/leaky-service.html"
workload leaky-service  --device 2 --profile leaky --share 50 --seed 4 \
    --record "$REPORT_DIR/leaky-service.ttrec"
workload resnet-batch   --device 2 --profile cnn --share 50 --seed 5

if [ -t 1 ] && [ -t 0 ] && [ "${CI:-}" != "true" ]; then
    if [ -x "$MONITOR" ]; then
        "$MONITOR"
    else
        "$SMI" -w
    fi
else
    n=0
    while [ $n -lt 5 ]; do
        "$SMI"
        echo
        n=$((n + 1))
        sleep 2
    done
    # The leak history, as tt-smi shows it (-q, then the JSON's `exits`).
    echo "\$ tt-smi -q | sed -n '/^Leak History/,\$p'"
    "$SMI" -q | sed -n '/^Leak History/,$p'
    echo
    echo "\$ tt-smi --json | sed -n '/\"exits\"/,\$p'"
    "$SMI" --json | sed -n '/"exits"/,$p'
fi

# The recorded workload's report: stop the workloads (the recorder completes
# its file when its workload ends), then the HTML page and the summary.
# shellcheck disable=SC2086
stop $WORKLOADS
WORKLOADS=""
if "$REPORT" "$REPORT_DIR/leaky-service.ttrec" --html "$REPORT_DIR/leaky-service.html" \
        >"$REPORT_DIR/leaky-service.txt" 2>&1; then
    echo
    echo "\$ tt-alloc-report $REPORT_DIR/leaky-service.ttrec | head -8"
    head -8 "$REPORT_DIR/leaky-service.txt"
    echo
    echo "The leaky service's memory over time, its peak and its leaks, in a browser:"
    echo "  $REPORT_DIR/leaky-service.html"
else
    echo "demo: no report of the recorded workload:" >&2
    cat "$REPORT_DIR/leaky-service.txt" >&2
fi
exit 0
