#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# bench/monitor_cpu.sh [BUILD] - the CPU the live monitor costs.
#
# 8 simulated devices, a server, a producer holding buffers on every device
# and changing one every 100 ms, and tt-alloc-monitor -r 100 in a 160x50 tmux
# pane for SECONDS (default 10). The monitor's CPU time (utime + stime from
# /proc/<pid>/stat) over that wall time is printed as
#   monitor_cpu_percent V %
# (percent of one core; the bar is <= 2). Then the server is killed and the
# same is measured without it, when the monitor looks for processes in the
# pids files and TT-Metal's SHM statistics once a second:
#   monitor_no_server_cpu_percent V %
# Needs tmux. The producer is
# tests/tools/ttalloc-testclient from BUILD, or from $TESTCLIENT, or from
# build/; without one the monitor still draws 8 idle devices.
set -eu
BUILD=${1:-build-bench}
SECONDS_TO_RUN=${SECONDS_TO_RUN:-10}
for prog in src/server/tt-alloc-server src/monitor/tt-alloc-monitor src/sim/tt-alloc-sim; do
    [ -x "$BUILD/$prog" ] || { echo "monitor_cpu.sh: $BUILD/$prog is not built" >&2; exit 1; }
done
command -v tmux >/dev/null || { echo "monitor_cpu.sh: needs tmux" >&2; exit 1; }
TESTCLIENT=${TESTCLIENT:-}
for c in "$BUILD/tests/tools/ttalloc-testclient" build/tests/tools/ttalloc-testclient; do
    [ -z "$TESTCLIENT" ] && [ -x "$c" ] && TESTCLIENT=$c
done

DIR=$(mktemp -d /tmp/tt-monitor-bench.XXXXXX)
TMUX_NAME="ttmon-bench-$$"
SERVER_PID=""
FEEDER_PID=""
cleanup() {
    tmux -L "$TMUX_NAME" kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$TMUX_NAME"
    [ -n "$FEEDER_PID" ] && kill "$FEEDER_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

"$BUILD/src/sim/tt-alloc-sim" sysroot "$DIR/root" \
    --devices n150,n150,n300,n300,p150a,p150a,p150b,p100a >/dev/null
export TT_ALLOC_SOCKET="$DIR/s.sock" TT_SYSROOT="$DIR/root"
"$BUILD/src/server/tt-alloc-server" --socket "$TT_ALLOC_SOCKET" --sysroot "$TT_SYSROOT" \
    >"$DIR/server.log" 2>&1 &
SERVER_PID=$!

# Wait (with a deadline) for a condition given as a shell command.
wait_until() {
    i=0
    while ! sh -c "$1" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 200 ]; then
            echo "monitor_cpu.sh: timed out waiting for: $1" >&2
            tmux -L "$TMUX_NAME" capture-pane -p >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.05
    done
}
wait_until "test -S '$TT_ALLOC_SOCKET'"

if [ -n "$TESTCLIENT" ]; then
    # 64 buffers on each device, then one buffer that changes size every 100 ms.
    (
        for d in 0 1 2 3 4 5 6 7; do echo "bulk 64 $d dram 0x10000000 16777216"; done
        echo "bulk 32 0 l1 0x1000 65536"
        n=0
        while :; do
            echo "alloc $((n % 8)) dram 0x7000000000 $(( (n % 50 + 1) * 16777216 ))"
            n=$((n + 1))
            sleep 0.1
        done
    ) | "$TESTCLIENT" >/dev/null 2>&1 &
    FEEDER_PID=$!
fi

tmux -L "$TMUX_NAME" -f /dev/null new-session -d -x 160 -y 50 \
    "exec env LANG=C.UTF-8 TERM=xterm-256color $BUILD/src/monitor/tt-alloc-monitor -r 100"
MON_PID=$(tmux -L "$TMUX_NAME" list-panes -F '#{pane_pid}')
wait_until "tmux -L '$TMUX_NAME' capture-pane -p | grep -q 'of 8'"

# The monitor's CPU percent of one core over SECONDS_TO_RUN, printed as $1.
measure() {
    t0=$(date +%s.%N)
    c0=$(ticks "$MON_PID")
    sleep "$SECONDS_TO_RUN"
    c1=$(ticks "$MON_PID")
    t1=$(date +%s.%N)
    awk -v name="$1" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
        'BEGIN { printf "%s %.2f %%\n", name, (c1 - c0) / hz / (t1 - t0) * 100 }'
}
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
measure monitor_cpu_percent

kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait_until "tmux -L '$TMUX_NAME' capture-pane -p | grep -q 'server: lost'"
measure monitor_no_server_cpu_percent
