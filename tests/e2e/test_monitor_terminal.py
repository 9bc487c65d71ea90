# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-monitor never spins: without a terminal on stdin or stdout it says
so and exits 2 (`--once` works anywhere), and when its terminal goes away
(the pty's other end closed, a hangup) it ends. Each case runs the real
binary as our child and reads the CPU time it used from wait4's rusage after
a bounded wait for its exit; a spinning monitor would use all of that wait.
"""
import os
import pty
import signal
import subprocess
import time

from conftest import SANITIZER_ENV, binary, wait_for

MONITOR = "src/monitor/tt-alloc-monitor"
# A monitor that spins burns ~100 % of a core; an idle one a few ms per second
# (ASan build included). Over the waits below a spinner would be far above this.
CPU_BUDGET_S = 0.8


def monitor_env(tmp_path):
    return dict(os.environ, **SANITIZER_ENV, TERM="xterm", LANG="C.UTF-8",
                TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"), TT_SYSROOT=str(tmp_path))


def wait_child(pid, timeout):
    """Wait up to `timeout` s for child pid; (status, cpu seconds) or None if still running."""
    deadline = time.monotonic() + timeout
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            return status, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def proc_cpu(pid):
    """CPU seconds (user + system) a live process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reap(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=20)


def run_without_terminal(tmp_path, stdin, stdout):
    err = tmp_path / "stderr"
    with open(err, "w") as errf:
        proc = subprocess.Popen([binary(MONITOR)], stdin=stdin, stdout=stdout, stderr=errf,
                                env=monitor_env(tmp_path))
    try:
        result = wait_child(proc.pid, 10)
        assert result is not None, \
            f"the monitor did not exit without a terminal ({proc_cpu(proc.pid):.1f} s of CPU in 10 s)"
        proc.returncode = os.waitstatus_to_exitcode(result[0])
        return proc.returncode, result[1], err.read_text()
    finally:
        reap(proc)


def test_stdin_not_a_terminal(tmp_path):
    master, slave = pty.openpty()
    try:
        with open(os.devnull) as devnull:
            rc, cpu, err = run_without_terminal(tmp_path, devnull, slave)
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2, err
    assert "error: standard input is not a terminal" in err and "--once" in err
    assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU"


def test_stdout_not_a_terminal(tmp_path):
    master, slave = pty.openpty()
    try:
        rc, cpu, err = run_without_terminal(tmp_path, slave, subprocess.PIPE)
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2, err
    assert "error: standard output is not a terminal" in err


def test_once_needs_no_terminal(tmp_path):
    with open(os.devnull) as devnull:
        r = subprocess.run([binary(MONITOR), "--once"], stdin=devnull, capture_output=True,
                           text=True, env=monitor_env(tmp_path), timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tt-alloc-monitor ")


def start_on_pty(tmp_path):
    """The monitor on a pty of ours (not its controlling terminal: no SIGHUP)."""
    master, slave = pty.openpty()
    err = open(tmp_path / "stderr", "w")
    proc = subprocess.Popen([binary(MONITOR), "-r", "100"], stdin=slave, stdout=slave,
                            stderr=err, env=monitor_env(tmp_path), start_new_session=True)
    os.close(slave)
    err.close()
    # It is up once it has drawn: the title arrives on the master.
    seen = bytearray()

    def drawn():
        try:
            seen.extend(os.read(master, 65536))
        except BlockingIOError:
            pass
        return b"tt-alloc-monitor" in seen
    os.set_blocking(master, False)
    wait_for(drawn, timeout=15, interval=0.02, what="the first frame")
    return proc, master


def test_terminal_closed_ends_the_monitor(tmp_path):
    proc, master = start_on_pty(tmp_path)
    try:
        os.close(master)  # the terminal is gone: reads give EIO, poll POLLHUP
        result = wait_child(proc.pid, 10)
        assert result is not None, "the monitor kept running after its terminal closed"
        status, cpu = result
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert not os.WIFSIGNALED(status), (tmp_path / "stderr").read_text()
        assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU"
    finally:
        reap(proc)


def test_hangup_ends_the_monitor(tmp_path):
    proc, master = start_on_pty(tmp_path)
    try:
        proc.send_signal(signal.SIGHUP)
        result = wait_child(proc.pid, 10)
        assert result is not None, "the monitor ignored SIGHUP"
        status, cpu = result
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, \
            (tmp_path / "stderr").read_text()
        assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU"
    finally:
        os.close(master)
        reap(proc)


def test_idle_monitor_does_not_spin(tmp_path):
    """The reference for the budget above: an idle monitor over 2 s."""
    proc, master = start_on_pty(tmp_path)
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # keep the pty drained so writes never block
            try:
                os.read(master, 65536)
            except (BlockingIOError, OSError):
                time.sleep(0.05)
        cpu = proc_cpu(proc.pid)
        assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU while idle"
        proc.send_signal(signal.SIGTERM)
        assert wait_child(proc.pid, 10) is not None
    finally:
        os.close(master)
        reap(proc)
