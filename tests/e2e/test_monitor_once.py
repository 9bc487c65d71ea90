# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-monitor --once (one plain-text frame, for logs and CI) and the
command line: a real server on a simulated sysfs tree and a real producer."""
import subprocess

import pytest

from conftest import SANITIZER_ENV, Server, binary

GIB = 1024 ** 3


def make_sysroot(tmp_path, devices):
    root = tmp_path / "root"
    subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices", devices],
                   check=True, capture_output=True)
    return str(root)


def monitor(*args, env):
    return subprocess.run([binary("src/monitor/tt-alloc-monitor"), *args], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def rig(tmp_path):
    root = make_sysroot(tmp_path, "n150,n300")
    srv = Server(tmp_path, extra_args=["--sysroot", root]).start()
    producer = subprocess.Popen([binary("tests/tools/ttalloc-testclient")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=srv.client_env(), text=True,
                                bufsize=1)

    def cmd(line):
        producer.stdin.write(line + "\n")
        producer.stdin.flush()
        answer = producer.stdout.readline().strip()
        assert answer in ("ok", "flush 0"), f"{line!r} -> {answer!r}"

    cmd(f"alloc 0 dram 0x1000 {3 * GIB}")
    cmd(f"alloc 1 dram 0x1000 {6 * GIB}")
    cmd("alloc 1 l1 0x2000 4096")
    cmd("flush")
    env = srv.client_env(TT_SYSROOT=root)
    yield env, producer.pid, root, tmp_path
    producer.stdin.close()
    producer.wait(timeout=20)
    srv.stop()


def test_once_frame(rig):
    env, pid, _, _ = rig
    r = monitor("--once", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "server: connected" in out and "devices: 2" in out
    lines = out.splitlines()
    dram = [l for l in lines if l.strip().startswith("DRAM")]
    assert "3.00 GiB / 12.0 GiB  25.0%" in dram[0]
    assert "6.00 GiB / 12.0 GiB  50.0%" in dram[1]
    # The bar: 40 cells, a quarter and a half of them used.
    assert "[" + "#" * 10 + "." * 30 + "]" in dram[0]
    assert "[" + "#" * 20 + "." * 20 + "]" in dram[1]
    assert "4.00 KiB / 91.5 MiB" in out
    assert out.count(str(pid)) == 2  # listed under both devices
    assert "\x1b" not in out  # plain text
    assert r.stderr == ""


def test_once_peak_mark_is_the_exact_device_peak(tmp_path):
    """Two connections of one process churn 1 MiB buffers that overlap by one
    over 10 MiB held, their frames arriving out of order: the peak the monitor
    shows is exactly 12 MiB."""
    import time
    import wire
    mib = 1 << 20
    root = make_sysroot(tmp_path, "n150")
    srv = Server(tmp_path, extra_args=["--sysroot", root, "--order-hold", "60000"]).start()
    try:
        a = wire.Client(srv.socket, wire.PRODUCER)
        b = wire.Client(srv.socket, wire.PRODUCER)
        t = time.monotonic_ns()
        a.send_events([wire.event(wire.OP_FREE, 0, wire.L1, 0xdead, 0, t)])
        b.send_events([wire.event(wire.OP_FREE, 0, wire.L1, 0xbeef, 0, t)])
        ea = [wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x1, 10 * mib, t + 1)]
        eb = []
        for k in range(5000):
            ts = t + 10 + 4 * k
            ea += [wire.event(wire.OP_ALLOC, 0, wire.DRAM, (1 << 40) + k, mib, ts),
                   wire.event(wire.OP_FREE, 0, wire.DRAM, (1 << 40) + k, 0, ts + 2)]
            eb += [wire.event(wire.OP_ALLOC, 0, wire.DRAM, (2 << 40) + k, mib, ts + 1),
                   wire.event(wire.OP_FREE, 0, wire.DRAM, (2 << 40) + k, 0, ts + 3)]
        b.send_events(eb)
        a.send_events(ea + [wire.event(wire.OP_FREE, 0, wire.L1, 0xdead, 0, t + 30000)])
        b.flush()   # answered once a's last event passed b's: all of the churn is applied
        env = srv.client_env(TT_SYSROOT=root)
        r = monitor("--once", env=env)
        assert r.returncode == 0, r.stderr
        dram = [l for l in r.stdout.splitlines() if l.strip().startswith("DRAM")][0]
        assert "10.0 MiB / 12.0 GiB" in dram and "peak 12.0 MiB" in dram, dram
        a.close()
        b.close()
    finally:
        srv.stop()


def test_once_device_filter(rig):
    env, _, _, _ = rig
    r = monitor("--once", "-d", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert "device 1: n300" in r.stdout and "device 0:" not in r.stdout
    assert "devices: 1" in r.stdout
    r = monitor("--once", "-d", "7", env=env)
    assert r.returncode == 6
    assert "error: device 7 not found" in r.stderr


def test_once_without_server(tmp_path):
    root = make_sysroot(tmp_path, "n150,p150a")
    env = dict(SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"), TT_SYSROOT=root)
    r = monitor("--once", env=env)
    assert r.returncode == 0, r.stderr
    assert "server: not reachable" in r.stdout
    assert "device 0: n150" in r.stdout and "device 1: p150a" in r.stdout
    assert "used unknown (no server) / 12.0 GiB" in r.stdout
    assert "%" not in r.stdout  # no made-up percentages
    # --sysroot wins over TT_SYSROOT.
    empty = tmp_path / "empty"
    empty.mkdir()
    r = monitor("--once", "--sysroot", str(empty), env=env)
    assert r.returncode == 0
    assert "no devices" in r.stdout


@pytest.mark.parametrize("args", [["-r", "5"], ["-r", "abc"], ["-d", "x"], ["--bogus"],
                                  ["extra"]])
def test_bad_arguments(args):
    r = monitor(*args, "--once", env=dict(SANITIZER_ENV))
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "error: " in r.stderr or "unrecognized option" in r.stderr, r.stderr
    assert r.stderr


def test_help_and_version():
    r = monitor("--help", env=dict(SANITIZER_ENV))
    assert r.returncode == 0 and "--once" in r.stdout and "-d, --device ID" in r.stdout
    r = monitor("--version", env=dict(SANITIZER_ENV))
    assert r.returncode == 0 and r.stdout.startswith("tt-alloc-monitor ")


def test_once_to_a_full_disk(tmp_path):
    """--once > /dev/full: exit 255 with the reason, not a silent failure."""
    root = make_sysroot(tmp_path, "n150")
    env = dict(SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"), TT_SYSROOT=root)
    with open("/dev/full", "w") as full:
        r = subprocess.run([binary("src/monitor/tt-alloc-monitor"), "--once"], env=env,
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)
    assert r.returncode == 255
    assert "error: cannot write to standard output: No space left on device" in r.stderr
