# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of libttalloc against a real tt-alloc-server: real
processes (ttalloc-testclient), real sockets, real SIGKILL/SIGSTOP. Every
wait is for a condition with a deadline; results are compared with the truth
each test built itself."""
import json
import os
import select
import signal
import subprocess
import time

import pytest

from conftest import Server, binary, wait_for

ENOTCONN = 107
TYPES = ["dram", "l1", "system_memory", "l1_small", "trace", "cb"]


class Client:
    """A ttalloc-testclient driven line by line."""

    def __init__(self, env, extra_env=None, program="tests/tools/ttalloc-testclient"):
        # stdout unbuffered on our side: lines are split here, so select()
        # never waits on data already read (a fork's child writes too).
        self.proc = subprocess.Popen(
            [binary(program)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env=dict(env, **(extra_env or {})))
        self.pid = self.proc.pid
        self.fd = self.proc.stdout.fileno()
        self.pending = b""

    def read_line(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            assert ready, "testclient did not answer in time"
            chunk = os.read(self.fd, 65536)
            assert chunk, f"testclient ended: {self.proc.stderr.read()}"
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode().strip()

    def cmd(self, line, timeout=60.0):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read_line(timeout)

    def ok(self, line, timeout=60.0):
        answer = self.cmd(line, timeout)
        assert answer == "ok", f"{line!r} -> {answer!r}"

    def flush(self, ms=5000):
        answer = self.cmd(f"flush {ms}", timeout=ms / 1000 + 30)
        assert answer.startswith("flush "), answer
        return int(answer.split()[1])

    def close(self):
        """Clean exit: stdin closes, the library flushes, sanitizers report."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=30)
            assert rc == 0, f"testclient rc={rc}: {self.proc.stderr.read()}"


def query(srv, *args, timeout_ms=5000):
    out = subprocess.run(
        [binary("tests/tools/ttalloc-query"), "--socket", srv.socket, "--timeout",
         str(timeout_ms), *args], capture_output=True, text=True, env=srv.client_env(),
        timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def usage_of(snap, pid):
    """{device: {type: bytes}} of one process in a snapshot."""
    result = {}
    for u in snap["usage"]:
        if u["pid"] == pid:
            result[u["device"]] = {t: b for t, b in u["bytes"].items() if b}
    return result


def process(snap, pid):
    return next((p for p in snap["processes"] if p["pid"] == pid), None)


@pytest.fixture
def clients():
    made = []
    yield made
    for c in made:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait(timeout=30)


def test_concurrent_clients_match_truth(server, clients):
    truth = {}
    for i in range(4):
        c = Client(server.client_env())
        clients.append(c)
        base = 0x10000000 * (i + 1)
        # 300 DRAM buffers of 4 KiB + i, then free the first 100.
        c.ok(f"bulk 300 {i % 2} dram {base} {4096 + i}")
        c.ok(f"bulkfree 100 {i % 2} dram {base} {4096 + i}")
        c.ok(f"alloc 3 l1 0x100 {1000 + i}")
        truth[c.pid] = {i % 2: {"dram": 200 * (4096 + i)}, 3: {"l1": 1000 + i}}
    threaded = Client(server.client_env())
    clients.append(threaded)
    threaded.ok("threads 8 2000 2 trace 0x40000000 64")
    truth[threaded.pid] = {2: {"trace": 8 * 2000 * 64}}
    for c in clients:
        assert c.flush() == 0

    snap = query(server, "snapshot")
    for pid, want in truth.items():
        assert usage_of(snap, pid) == want
    devices = {d["device"]: d for d in snap["devices"]}
    assert devices[0]["used"]["dram"] == 200 * 4096 + 200 * 4098
    assert devices[1]["used"]["dram"] == 200 * 4097 + 200 * 4099
    assert devices[2]["used"]["trace"] == 8 * 2000 * 64
    assert devices[2]["buffers"] == 16000
    assert devices[3]["used"]["l1"] == 1000 + 1001 + 1002 + 1003

    buffers = query(server, "buffers", str(clients[0].pid))["buffers"]
    assert len(buffers) == 201
    assert sorted(b["size"] for b in buffers)[-1] == 4096
    for c in clients:
        c.close()


def test_kill9_removes_memory_and_records_exit(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok("alloc 0 dram 0x1000 1048576")
    c.ok("alloc 0 l1 0x2000 4096")
    c.ok("alloc 1 dram 0x1000 512")
    assert c.flush() == 0
    pid = c.pid
    assert usage_of(query(server, "snapshot"), pid) == {0: {"dram": 1048576, "l1": 4096},
                                                         1: {"dram": 512}}
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(timeout=30)

    wait_for(lambda: process(query(server, "snapshot"), pid) is None, what="pid gone")
    assert usage_of(query(server, "snapshot"), pid) == {}
    exits = [e for e in query(server, "exits")["exits"] if e["pid"] == pid]
    by_device = {e["device"]: e for e in exits}
    assert set(by_device) == {0, 1}
    assert by_device[0]["bytes"]["dram"] == 1048576
    assert by_device[0]["bytes"]["l1"] == 4096
    assert by_device[0]["buffers"]["dram"] == 1
    assert by_device[1]["bytes"]["dram"] == 512


def test_server_restart_replays_everything(tmp_path, clients):
    srv = Server(tmp_path).start()
    try:
        a = Client(srv.client_env())
        b = Client(srv.client_env())
        clients.extend([a, b])
        a.ok("bulk 1000 0 dram 0x100000 8192")
        b.ok("bulk 50 1 l1 0x0 2048")
        assert a.flush() == 0 and b.flush() == 0

        srv.kill()
        # The server is gone: records still succeed and change the truth.
        a.ok("bulkfree 400 0 dram 0x100000 8192")
        b.ok("alloc 1 cb 0x9000 777")
        assert a.flush(200) == -ENOTCONN

        srv.start()
        # Within the reconnect backoff the library finds the new server.
        wait_for(lambda: a.flush(1000) == 0, timeout=20, what="client a reconnected")
        wait_for(lambda: b.flush(1000) == 0, timeout=20, what="client b reconnected")
        snap = query(srv, "snapshot")
        assert usage_of(snap, a.pid) == {0: {"dram": 600 * 8192}}
        assert usage_of(snap, b.pid) == {1: {"l1": 50 * 2048, "cb": 777}}
        a.close()
        b.close()
    finally:
        if srv.proc is not None:
            srv.stop()


def test_fork_child_is_a_new_empty_process(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok("alloc 0 dram 0x1000 5000")
    assert c.flush() == 0
    answer = c.cmd("fork alloc 0 dram 0x2000 777; flush 5000")
    assert answer.startswith("forked ")
    child = int(answer.split()[1])
    try:
        assert c.read_line() == "child: ok"
        assert c.read_line() == "child: flush 0"
        assert c.read_line() == "child: hold"
        # The parent goes on recording.
        c.ok("alloc 0 l1 0x3000 10")
        assert c.flush() == 0
        snap = query(server, "snapshot")
        assert usage_of(snap, child) == {0: {"dram": 777}}
        assert usage_of(snap, c.pid) == {0: {"dram": 5000, "l1": 10}}
    finally:
        os.kill(child, signal.SIGKILL)
    wait_for(lambda: process(query(server, "snapshot"), child) is None, what="child gone")
    assert usage_of(query(server, "snapshot"), c.pid) == {0: {"dram": 5000, "l1": 10}}
    c.close()


def test_stopped_server_does_not_block_clients(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok("alloc 0 dram 0x1 100")
    assert c.flush() == 0
    server.proc.send_signal(signal.SIGSTOP)
    try:
        # 1M events while nobody reads: the process must get through them.
        c.ok("bulk 600000 1 l1 0x10000000 32", timeout=300)
        c.ok("bulkfree 400000 1 l1 0x10000000 32", timeout=300)
        assert c.flush(100) == -110  # ETIMEDOUT: connected, but nothing is read
    finally:
        server.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: c.flush(2000) == 0, timeout=60, what="flush after SIGCONT")
    snap = query(server, "snapshot")
    assert usage_of(snap, c.pid) == {0: {"dram": 100}, 1: {"l1": 200000 * 32}}
    assert process(snap, c.pid)["buffers"] == 200001
    c.close()


def test_flush_without_server_is_enotconn(tmp_path, clients):
    env = dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"))
    c = Client(env)
    clients.append(c)
    c.ok("alloc 0 dram 0x1000 4096")
    assert c.flush(5000) == -ENOTCONN
    c.ok("free 0 dram 0x1000")
    c.close()
    # Silent without TT_ALLOC_DEBUG.
    assert c.proc.stderr.read() == ""


def test_debug_says_why_once(tmp_path, clients):
    env = dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"), TT_ALLOC_DEBUG="1")
    c = Client(env)
    clients.append(c)
    for i in range(5):
        c.ok(f"alloc 0 dram {i * 4096} 4096")
        assert c.flush(50) == -ENOTCONN
    c.close()
    lines = [line for line in c.proc.stderr.read().splitlines() if "libttalloc" in line]
    assert len(lines) == 1 and "no tt-alloc server" in lines[0]


def socket_fds(pid):
    fds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:") or "eventfd" in target:
            fds.append(target)
    return fds


def test_tracking_off_opens_nothing(server, clients):
    c = Client(server.client_env(TT_ALLOC_TRACKING="0"))
    clients.append(c)
    c.ok("alloc 0 dram 0x1000 4096")
    c.ok("label silent")
    assert c.flush() == 0
    assert socket_fds(c.pid) == []
    assert len(os.listdir(f"/proc/{c.pid}/task")) == 1
    on = Client(server.client_env())
    clients.append(on)
    on.ok("alloc 0 dram 0x1000 4096")
    assert on.flush() == 0
    assert len(socket_fds(on.pid)) == 2  # the connection and the eventfd
    snap = query(server, "snapshot")
    assert usage_of(snap, c.pid) == {}
    assert usage_of(snap, on.pid) == {0: {"dram": 4096}}
    c.close()
    on.close()


def test_label_and_device_description(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok("label llama-70b")
    c.ok("describe 4 serial=0x1234 board=n300 dram=12884901888 l1=95944704 remote=1")
    c.ok("alloc 4 dram 0x1000 100")
    assert c.flush() == 0
    snap = query(server, "snapshot")
    assert process(snap, c.pid)["label"] == "llama-70b"
    dev = next(d for d in snap["devices"] if d["device"] == 4)
    assert dev["board_type"] == "n300"
    assert dev["board_serial"] == 0x1234
    assert dev["total"]["dram"] == 12884901888
    assert dev["total"]["l1"] == 95944704
    assert dev["flags"] & 0x1 and dev["flags"] & 0x2
    c.close()


def test_invalid_arguments_are_rejected(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    assert c.cmd("alloc 0 6 0x1000 10") == "error -22"
    assert c.cmd("alloc 0 dram 0x1000 0") == "error -22"
    assert c.cmd("free 0 200 0x1000") == "error -22"
    assert c.flush() == 0
    assert usage_of(query(server, "snapshot"), c.pid) == {}
    c.close()


def test_subscription_pushes_snapshots(server, clients):
    c = Client(server.client_env())
    clients.append(c)
    c.ok("alloc 0 dram 0x1000 4096")
    assert c.flush() == 0
    out = subprocess.run(
        [binary("tests/tools/ttalloc-query"), "--socket", server.socket, "watch", "3", "20"],
        capture_output=True, text=True, env=server.client_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    snaps = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(snaps) == 3
    assert snaps[0]["seq"] < snaps[1]["seq"] < snaps[2]["seq"]
    assert all(usage_of(s, c.pid) == {0: {"dram": 4096}} for s in snaps)
    c.close()


def test_refused_client_reports_the_error_and_backs_off(tmp_path, clients):
    """A server that accepts and then refuses (over --max-buffers) sends an
    ERROR frame and closes: the library reports the frame's text (read even
    though the kernel reports the reset first) and does not reconnect in a
    storm: the backoff keeps doubling, to 1 s, while no connection lasts."""
    srv = Server(tmp_path, ["--max-buffers", "10"]).start()
    try:
        c = Client(srv.client_env(TT_ALLOC_DEBUG="1"))
        clients.append(c)
        c.ok("bulk 50 0 dram 0x100000 4096")
        started = time.monotonic()
        assert c.flush(3000) != 0
        elapsed = time.monotonic() - started
        c.proc.kill()
        c.proc.wait(timeout=30)
        stderr = c.proc.stderr.read()
        assert "server error:" in stderr and "--max-buffers" in stderr, stderr
        connects = stderr.count("connected to")
        # 10, 20, 40, ... ms up to 1 s: about 9 attempts in 3 s, never hundreds.
        assert 2 <= connects <= 12, f"{connects} connections in {elapsed:.1f} s"
    finally:
        srv.stop()
