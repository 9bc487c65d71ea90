# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-sim run: a simulated TT-Metal process seen by the real server, the
fake tree's pids files and the kernel (real processes, real SIGKILL)."""
import os
import signal
import subprocess

import pytest

import wire
from conftest import SANITIZER_ENV, Server, binary, wait_for

N150_DRAM = 12 * 1024 ** 3
N150_L1 = 72 * 1499136


def sim_cmd(*args):
    return [binary("src/sim/tt-alloc-sim"), *args]


def sim(*args, env=None, timeout=120):
    return subprocess.run(sim_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ, **SANITIZER_ENV))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    r = sim("sysroot", str(root), "--devices", "n150,n300,p150a")
    assert r.returncode == 0, r.stderr
    return root


@pytest.fixture
def srv(tmp_path, tree):
    s = Server(tmp_path, extra_args=["--sysroot", str(tree)]).start()
    yield s
    if s.proc is not None and s.proc.poll() is not None:
        pytest.fail(f"server died during the test (rc={s.proc.returncode}):\n{s.log()}")
    s.stop()


def run_env(srv, tree):
    return srv.client_env(TT_SYSROOT=str(tree))


def pids_in(tree, index):
    text = (tree / f"proc/driver/tenstorrent/{index}/pids").read_text()
    return [int(x) for x in text.split()]


def process(snap, pid):
    return next((p for p in snap["processes"] if p["pid"] == pid), None)


def usage_of(snap, pid, device):
    return next((u for u in snap["usage"] if u["pid"] == pid and u["device"] == device), None)


def exit_of(client, pid):
    return [e for e in client.exits() if e["pid"] == pid]


# ---- reproducibility -------------------------------------------------------

def events(*args):
    r = sim("run", "--print-events", *args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for line in lines:
        kind = line.split()[0]
        assert kind in ("alloc", "free", "oom", "crash"), line
    return lines


@pytest.mark.parametrize("profile", ["llm", "cnn", "train", "leaky", "churn"])
def test_same_seed_same_events(profile):
    args = ["--device", "0:n150,1:p150a", "--profile", profile, "--steps", "400"]
    a = events(*args, "--seed", "7")
    b = events(*args, "--seed", "7")
    c = events(*args, "--seed", "8")
    assert len(a) > 100
    assert a == b
    assert a != c


def test_print_events_budget_is_duration_times_rate():
    lines = events("--device", "0:n300", "--profile", "churn", "--seed", "1",
                   "--duration", "2", "--rate", "500")
    stepped = [l for l in lines if l.split()[0] in ("alloc", "free")]
    # 1000 events of the run, then the clean end frees what is still live
    allocs = sum(1 for l in stepped if l.startswith("alloc"))
    frees = sum(1 for l in stepped if l.startswith("free"))
    assert allocs == frees
    assert len(stepped) >= 1000


def test_seeded_runs_record_the_same_leaks(srv, tree):
    """Recorded through the library: two leaky runs with one seed leave the
    same leak report in the server."""
    reports = []
    for _ in range(2):
        p = subprocess.run(sim_cmd("run", "--device", "2", "--profile", "leaky", "--seed", "11",
                                   "--steps", "300", "--rate", "0", "--quiet"),
                           env=run_env(srv, tree), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        with wire.Client(srv.socket, role=wire.CONSUMER) as c:
            # the pid is gone; its exit record is there once the server saw it
            rec = wait_for(lambda: [e for e in c.exits() if e["bytes"][wire.DRAM] > 0
                                    and e["pid"] not in [r["pid"] for r in reports]],
                           what="the leaky run's exit record")
            assert len(rec) == 1
            reports.append(rec[0])
    assert reports[0]["pid"] != reports[1]["pid"]
    assert reports[0]["bytes"] == reports[1]["bytes"]
    assert reports[0]["buffers"] == reports[1]["buffers"]


# ---- a live run --------------------------------------------------------------

def test_run_is_a_device_user_and_ends_cleanly(srv, tree):
    proc = subprocess.Popen(sim_cmd("run", "--device", "0", "--profile", "llm", "--seed", "3"),
                            env=run_env(srv, tree), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        node = os.path.realpath(tree / "dev/tenstorrent/0")
        # it holds the fake node open, and says so in the pids file
        wait_for(lambda: any(os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == node
                             for fd in os.listdir(f"/proc/{proc.pid}/fd")),
                 what="an fd on the fake node")
        wait_for(lambda: proc.pid in pids_in(tree, 0), what="its pid in the pids file")
        with wire.Client(srv.socket, role=wire.CONSUMER) as c:
            snap = wait_for(lambda: (lambda s: s if (usage_of(s, proc.pid, 0) or {})
                                     .get("bytes", [0])[wire.DRAM] > 0 else None)(c.snapshot()),
                            what="its DRAM in a snapshot")
            info = process(snap, proc.pid)
            assert info["label"] == "sim-llm"
            assert info["name"] == "tt-alloc-sim"
            dev = next(d for d in snap["devices"] if d["device"] == 0)
            assert dev["board_type"] == "n150"
            assert dev["total"][wire.DRAM] == N150_DRAM
            assert dev["total"][wire.L1] == N150_L1
            serial = (tree / "sys/class/tenstorrent/tenstorrent!0/tt_serial").read_text()
            assert dev["board_serial"] == int(serial, 16)
            # the weights arrive layer by layer, never beyond the device
            u = usage_of(snap, proc.pid, 0)
            assert u["bytes"][wire.DRAM] + u["bytes"][wire.TRACE] <= N150_DRAM
            wait_for(lambda: usage_of(c.snapshot(), proc.pid, 0)["bytes"][wire.TRACE] > 0,
                     what="the trace buffer")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert "done:" in out
            # a clean end frees everything it allocated: no memory, no leak report
            wait_for(lambda: (usage_of(c.snapshot(), proc.pid, 0) or {"bytes": [0] * 6})
                     ["bytes"] == [0] * 6, what="its memory freed")
            assert exit_of(c, proc.pid) == []
        assert proc.pid not in pids_in(tree, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_crash_after_is_a_death_with_a_leak_report(srv, tree):
    p = subprocess.run(sim_cmd("run", "--device", "1,2", "--profile", "cnn", "--seed", "5",
                               "--crash-after", "1", "--label", "crashy"),
                       env=run_env(srv, tree), capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    pid = int(p.stdout.split("pid ")[1].split(",")[0])
    with wire.Client(srv.socket, role=wire.CONSUMER) as c:
        recs = wait_for(lambda: exit_of(c, pid), what="the crashed run's leak report")
        assert sorted(r["device"] for r in recs) == [1, 2]
        for r in recs:
            assert r["name"] == "tt-alloc-sim"
            assert r["bytes"][wire.DRAM] > 0
            assert sum(r["buffers"]) > 0
        # and its memory is gone from the live view
        wait_for(lambda: process(c.snapshot(), pid) is None
                 or process(c.snapshot(), pid)["bytes"] == 0, what="its memory dropped")
    # the stale line of the killed process is dropped by the next writer
    assert pid in pids_in(tree, 1)
    r = sim("run", "--device", "1", "--profile", "churn", "--steps", "10", "--quiet",
            env=run_env(srv, tree))
    assert r.returncode == 0, r.stderr
    assert pid not in pids_in(tree, 1)


def test_leaky_clean_exit_keeps_its_leaks(srv, tree):
    p = subprocess.run(sim_cmd("run", "--device", "0", "--profile", "leaky", "--seed", "2",
                               "--steps", "200", "--rate", "0"),
                       env=run_env(srv, tree), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    pid = int(p.stdout.split("pid ")[1].split(",")[0])
    with wire.Client(srv.socket, role=wire.CONSUMER) as c:
        recs = wait_for(lambda: exit_of(c, pid), what="the leak report")
        assert recs[0]["bytes"][wire.DRAM] > 0


# ---- out of memory, no server, bad arguments ---------------------------------

def test_out_of_memory_is_reported_and_the_run_goes_on(tmp_path):
    env = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"))
    env.pop("TT_SYSROOT", None)
    r = sim("run", "--device", "0:n150", "--profile", "leaky", "--seed", "4", "--share", "10",
            "--rate", "0", "--steps", "2500", env=env)
    assert r.returncode == 0, r.stderr
    assert "Out of Memory: Not enough space to allocate " in r.stderr
    assert " B DRAM buffer across 12 banks, where each bank needs to store " in r.stderr
    assert "(no server reached)" in r.stdout
    oom = int(r.stdout.split("events, ")[1].split(" out of memory")[0])
    assert oom > 0


@pytest.mark.parametrize("args", [
    ["--profile", "nope", "--device", "0:n150"],
    ["--device", "0,0"],
    ["--device", "x"],
    ["--rate", "-1"],
    ["--share", "5"],
    ["--print-events", "--device", "0:n150"],
    ["stray"],
])
def test_bad_arguments(args):
    r = sim("run", *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr


def test_unknown_capacity_is_refused(tmp_path):
    root = tmp_path / "root"
    assert sim("sysroot", str(root), "--devices", "galaxy-wormhole").returncode == 0
    r = sim("run", "--sysroot", str(root), "--device", "0", "--steps", "1")
    assert r.returncode == 1
    assert "no known memory size" in r.stderr
