# SPDX-License-Identifier: Apache-2.0
"""A connect burst: 200 libttalloc clients start at once; every one's
ttalloc_flush returns 0 (the library waits for a busy server rather than
taking EAGAIN for "no server"), and every buffer is counted."""
import subprocess

from conftest import binary
from hostile_util import needs_root, open_dir  # noqa: F401
from conftest import Server
import wire

pytestmark = needs_root
N = 200


def test_connect_burst_of_200_clients_all_flush(open_dir):
    srv = Server(open_dir).start()
    procs = []
    try:
        script = "alloc 0 dram 0x1000 4096\nflush\nprint-pid\n"
        for _ in range(N):
            procs.append(subprocess.Popen([binary("tests/tools/ttalloc-testclient")],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, env=srv.client_env(
                                              ASAN_OPTIONS="detect_leaks=0")))
        for p in procs:
            p.stdin.write(script)
            p.stdin.flush()
        answers = []
        for p in procs:
            lines = [p.stdout.readline().strip() for _ in range(3)]
            answers.append(lines)
        bad = [a for a in answers if a[1] != "flush 0"]
        assert not bad, f"{len(bad)} of {N} flushes did not return 0, e.g. {bad[:3]}"
        pids = {int(a[2].split()[1]) for a in answers}
        with wire.Client(srv.socket, wire.CONSUMER) as c:
            snap = c.snapshot()
        counted = {p["pid"] for p in snap["processes"] if p["bytes"] == 4096}
        assert pids <= counted
    finally:
        for p in procs:
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
        for p in procs:
            p.wait(timeout=60)
        srv.stop()
