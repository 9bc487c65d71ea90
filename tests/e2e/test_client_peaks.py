# SPDX-License-Identifier: Apache-2.0
"""Exact peaks through libttalloc's per-thread rings, against a real
tt-alloc-server: the library's own figures (ttalloc_process_memory, through
ttalloc-testclient's `memory`) and the server's (`ttalloc_usage.peak`) agree
with the truth each test built, through churn, threads, a reset, kill -9, a
server restart and a fork in the middle of the churn."""
import os
import signal

import pytest

from conftest import BUILD, Server, wait_for
from test_client_lib import Client, clients, query  # noqa: F401 (fixture)

MIB = 1 << 20
DRAM = "dram"


def memory(client, device=0, mtype=DRAM):
    answer = client.cmd(f"memory {device} {mtype}")
    word, live, peak = answer.split()
    assert word == "memory", answer
    return int(live), int(peak)


def server_usage(srv, pid, device=0):
    """(live, peak) DRAM bytes of pid on device in a fresh snapshot, or None."""
    for u in query(srv, "snapshot")["usage"]:
        if u["pid"] == pid and u["device"] == device:
            return u["bytes"][DRAM], u["peak"][DRAM]
    return None


def hold_ten(client, base=0x100000000):
    client.ok(f"bulk 10 0 dram {base:#x} {MIB}")


def test_a_million_churns_over_ten_mib_peak_at_exactly_eleven(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    hold_ten(c)
    # Distinct addresses, so no two rounds collapse into one buffer.
    c.ok(f"churn 1000000 0 dram {1 << 40:#x} {MIB}", timeout=300)
    assert memory(c) == (10 * MIB, 11 * MIB)
    assert c.flush(30000) == 0
    assert server_usage(server, c.pid) == (10 * MIB, 11 * MIB)
    c.close()


def test_four_threads_holding_one_mib_each_never_show_more_than_four(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok(f"threadchurn 4 100000 0 dram {1 << 40:#x} {MIB}", timeout=300)
    live, peak = memory(c)
    assert live == 0
    assert MIB <= peak <= 4 * MIB
    assert c.flush(30000) == 0
    server_live, server_peak = server_usage(server, c.pid)
    assert server_live == 0
    assert MIB <= server_peak <= 4 * MIB
    c.close()


def test_reset_peak_is_in_order_with_the_events(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok(f"bulk 5 0 dram 0x1000000 {MIB}")
    c.ok(f"bulkfree 3 0 dram 0x1000000 {MIB}")  # 2 MiB live, peak 5
    assert memory(c) == (2 * MIB, 5 * MIB)
    c.ok("reset")
    assert memory(c) == (2 * MIB, 2 * MIB)
    c.ok(f"churn 1 0 dram 0x90000000 {MIB}")
    assert memory(c) == (2 * MIB, 3 * MIB)
    assert c.flush() == 0
    assert server_usage(server, c.pid) == (2 * MIB, 3 * MIB)
    c.close()


def test_kill9_mid_churn_drops_the_process(server, clients):
    victim = Client(server.client_env())
    other = Client(server.client_env())
    clients.extend([victim, other])
    other.ok(f"alloc 0 dram 0x10 {3 * MIB}")
    assert other.flush() == 0
    hold_ten(victim)
    assert victim.flush() == 0
    victim.ok(f"churnbg 100000000 0 dram {1 << 40:#x} {MIB}")
    wait_for(lambda: (server_usage(server, victim.pid) or (0, 0))[1] == 11 * MIB,
             timeout=30, what="the churn to reach the server")
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=30)
    wait_for(lambda: server_usage(server, victim.pid) is None, timeout=30,
             what="the killed process to leave the snapshot")
    # The other process is untouched, and the device holds only its bytes.
    assert server_usage(server, other.pid) == (3 * MIB, 3 * MIB)
    devices = query(server, "snapshot")["devices"]
    assert next(d for d in devices if d["device"] == 0)["used"][DRAM] == 3 * MIB
    other.close()


def test_server_restart_mid_churn_replays_exact_figures(tmp_path, clients):
    srv = Server(tmp_path).start()
    try:
        c = Client(srv.client_env())
        clients.append(c)
        hold_ten(c)
        c.ok(f"churnbg 300000 0 dram {1 << 40:#x} {MIB}")
        wait_for(lambda: (server_usage(srv, c.pid) or (0, 0))[1] == 11 * MIB,
                 timeout=30, what="the churn to reach the server")
        srv.kill()
        srv.start()
        c.ok("join", timeout=300)
        # The replay brings the buffers back and the library's peak (PEAKS).
        wait_for(lambda: c.flush(1000) == 0, timeout=30, what="the client to reconnect")
        assert memory(c) == (10 * MIB, 11 * MIB)
        assert server_usage(srv, c.pid) == (10 * MIB, 11 * MIB)
        c.close()
    finally:
        if srv.proc is not None:
            srv.stop()


def unsanitized_client():
    """The test client without sanitizers when the build under test has them
    (tests/tools/CMakeLists.txt says why: GCC 12's ASan deadlocks a child
    forked while another thread is inside its allocator), else the client."""
    nosan = BUILD / "tests/tools/ttalloc-testclient-nosan"
    return str(nosan.relative_to(BUILD)) if nosan.exists() else "tests/tools/ttalloc-testclient"


def test_fork_mid_churn_child_starts_empty_parent_stays_exact(server, clients):
    c = Client(server.client_env(), program=unsanitized_client())
    clients.append(c)
    hold_ten(c)
    c.ok(f"churnbg 200000 0 dram {1 << 40:#x} {MIB}")
    answer = c.cmd(f"fork memory 0 dram; alloc 0 dram 0x5000 {2 * MIB}; "
                   "memory 0 dram; flush 5000")
    assert answer.startswith("forked ")
    child = int(answer.split()[1])
    try:
        # The churning thread did not come along: the child has nothing.
        assert c.read_line() == "child: memory 0 0"
        assert c.read_line() == "child: ok"
        assert c.read_line() == f"child: memory {2 * MIB} {2 * MIB}"
        assert c.read_line() == "child: flush 0"
        assert c.read_line() == "child: hold"
        assert server_usage(server, child) == (2 * MIB, 2 * MIB)
        c.ok("join", timeout=300)
        assert memory(c) == (10 * MIB, 11 * MIB)
        assert c.flush() == 0
        assert server_usage(server, c.pid) == (10 * MIB, 11 * MIB)
    finally:
        os.kill(child, signal.SIGKILL)
    c.close()


@pytest.mark.parametrize("clock", ["tsc", "monotonic"])
def test_both_clocks_give_the_same_exact_figures(server, clients, clock):
    c = Client(server.client_env(), {"TT_ALLOC_CLOCK": clock})
    clients.append(c)
    hold_ten(c)
    c.ok(f"threadchurn 2 50000 0 dram {1 << 40:#x} {MIB}", timeout=300)
    live, peak = memory(c)
    assert live == 10 * MIB and 11 * MIB <= peak <= 12 * MIB
    assert c.flush() == 0
    assert server_usage(server, c.pid) == (live, peak)
    c.close()
