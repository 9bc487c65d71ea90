# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-monitor in a real terminal: a tmux pane of its own (a private tmux
server per test, `tmux -L`), a real tt-alloc-server on a simulated sysfs tree,
and test clients with known allocations. Everything is read back with
`capture-pane -p` and waited for with a deadline (wait_for), never slept on.
"""
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import uuid

import pytest

from conftest import SANITIZER_ENV, Server, binary, wait_for

GIB = 1024 ** 3
MIB = 1024 ** 2
BH_DRAM = 8 * 4278190080  # p150a


class Tmux:
    """One private tmux server with one pane running the monitor."""

    def __init__(self, tmp_path):
        self.name = f"ttmon-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.err = tmp_path / "monitor.stderr"

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check)

    def start(self, args, env, width=120, height=50, prefix=()):
        env_words = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        pre = " ".join(shlex.quote(p) for p in prefix)
        cmd = (f"exec env {env_words} {pre} {shlex.quote(binary('src/monitor/tt-alloc-monitor'))} "
               f"{' '.join(shlex.quote(a) for a in args)} 2>{shlex.quote(str(self.err))}")
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), cmd,
                  ";", "set-option", "remain-on-exit", "on")
        self.pid = int(self.tmux("list-panes", "-F", "#{pane_pid}").stdout.split()[0])
        return self

    def screen(self, escapes=False):
        args = ["capture-pane", "-p"] + (["-e"] if escapes else [])
        return self.tmux(*args).stdout

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def resize(self, width, height):
        self.tmux("resize-window", "-x", str(width), "-y", str(height))

    def dead(self):
        """None while the monitor runs, else its exit status."""
        out = self.tmux("list-panes", "-F",
                        "#{pane_dead_status}:#{pane_dead_signal}").stdout.strip()
        self.last_panes = out
        status, sig = (out.split(":") + ["", ""])[:2]
        if status == "" and sig == "":
            # tmux 3.3 sometimes leaves a pane's process a zombie for a long
            # while; the kernel keeps its exit code in /proc/PID/stat then.
            code = zombie_exit_code(self.pid)
            if code is None:
                return None
            status, sig = str((code >> 8) & 0xFF), str(code & 0x7F or "")
        assert sig == "", f"the monitor died of signal {sig}:\n{self.stderr()}"
        return int(status)

    def wait_exit(self, what="the monitor to quit"):
        try:
            wait_for(lambda: self.dead() is not None, what=what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; panes: {self.last_panes!r}; "
                                 f"screen:\n{self.screen()}\nstderr:\n{self.stderr()}")
        return self.dead()

    def wait_screen(self, predicate, what, timeout=15.0):
        """Wait until predicate(screen text) holds; return that screen."""
        last = {"screen": ""}

        def check():
            last["screen"] = self.screen()
            return predicate(last["screen"])
        try:
            wait_for(check, timeout=timeout, interval=0.05, what=what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; screen was:\n{last['screen']}\n"
                                 f"stderr:\n{self.stderr()}")
        return last["screen"]

    def stderr(self):
        return self.err.read_text() if self.err.exists() else ""

    def kill(self):
        self.tmux("kill-server", check=False)
        # tmux leaves its socket file behind; remove ours.
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        sock = os.path.join(tmpdir, f"tmux-{os.getuid()}", self.name)
        if os.path.exists(sock):
            os.unlink(sock)


def zombie_exit_code(pid):
    """The wait status of a zombie process (field 52 of /proc/PID/stat), else None."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
    if fields[0] != "Z" or len(fields) < 50:
        return None
    return int(fields[49])


class Producer:
    """ttalloc-testclient: one command line in, one answer line out."""

    def __init__(self, env):
        self.proc = subprocess.Popen([binary("tests/tools/ttalloc-testclient")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.pid = self.proc.pid

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer and not answer.startswith("error"), f"{line!r} -> {answer!r}"
        return answer

    def alloc(self, dev, typ, addr, size):
        self.cmd(f"alloc {dev} {typ} {addr:#x} {size}")

    def flush(self):
        assert self.cmd("flush") == "flush 0"

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait(timeout=20)


def make_sysroot(tmp_path, devices):
    root = tmp_path / "root"
    subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices", devices],
                   check=True, capture_output=True)
    return str(root)


@pytest.fixture
def rig(tmp_path):
    """A simulated n150, n300 and p150a; a server reading that tree; a tmux."""
    root = make_sysroot(tmp_path, "n150,n300,p150a")
    srv = Server(tmp_path, extra_args=["--sysroot", root]).start()
    tmux = Tmux(tmp_path)
    clients = []

    class Rig:
        pass
    rig = Rig()
    rig.root, rig.server, rig.tmux, rig.tmp = root, srv, tmux, tmp_path

    def client():
        c = Producer(srv.client_env())
        clients.append(c)
        return c

    def monitor(*args, width=120, height=50, lang="C.UTF-8", extra_env=None):
        env = dict(SANITIZER_ENV, TERM="xterm-256color", LANG=lang, LC_ALL=lang,
                   TT_ALLOC_SOCKET=srv.socket, TT_SYSROOT=root)
        env.update(extra_env or {})
        return tmux.start(list(args), env, width, height)
    rig.client, rig.monitor = client, monitor
    yield rig
    tmux.kill()
    for c in clients:
        c.close()
    srv.stop()


def quit_cleanly(tmux):
    tmux.keys("q")
    rc = tmux.wait_exit("the monitor to quit on q")
    assert rc == 0, f"monitor exited {rc}:\n{tmux.stderr()}"


def test_devices_and_percentages(rig):
    c = rig.client()
    c.alloc(0, "dram", 0x1000, 3 * GIB)          # n150: 12 GiB -> 25.0 %
    c.alloc(0, "l1", 0x2000, 72 * 1499136 // 2)  # half the n150's L1 -> 50.0 %
    c.alloc(1, "dram", 0x1000, 9 * GIB)          # n300: 75.0 % (yellow from here)
    c.alloc(2, "dram", 0x1000, BH_DRAM // 10 * 9)  # p150a: 90.0 % (red)
    c.flush()
    t = rig.monitor("-r", "100")
    screen = t.wait_screen(lambda s: "75.0%" in s and "90.0%" in s, "the percentages")
    for text in ("device 0  n150", "device 1  n300", "device 2  p150a", "25.0%", "50.0%",
                 "3.00 GiB / 12.0 GiB", "9.00 GiB / 12.0 GiB", "server: connected",
                 "refresh 100 ms", str(c.pid), "ttalloc-testcli"):
        assert text in screen, f"{text!r} not on screen:\n{screen}"
    # Telemetry from the simulated sysfs, and a history graph.
    assert " C  " in screen and " W / " in screen
    assert "history of device 0" in screen

    # Colours by threshold: 25 % green, 75 % yellow, 90 % red (SGR 32/33/31).
    colour = t.screen(escapes=True)
    line = {pct: next(l for l in colour.splitlines() if pct in l)
            for pct in ("25.0%", "75.0%", "90.0%")}
    assert "\x1b[32m" in line["25.0%"], line["25.0%"]
    assert "\x1b[33m" in line["75.0%"], line["75.0%"]
    assert "\x1b[31m" in line["90.0%"], line["90.0%"]

    # Figures follow the allocations live.
    c.cmd("free 0 dram 0x1000")
    c.flush()
    t.wait_screen(lambda s: "0 B / 12.0 GiB" in s, "device 0's DRAM to drop to 0")
    quit_cleanly(t)


def test_keys_select_sort_pause_buffers(rig):
    big_dram = rig.client()
    big_l1 = rig.client()
    big_dram.alloc(0, "dram", 0x10000, 2 * GIB)
    big_dram.alloc(0, "dram", 0x90000000, 64 * MIB)
    big_dram.alloc(0, "l1", 0x100, 1 * MIB)
    big_l1.alloc(0, "dram", 0x10000, 1 * GIB)
    big_l1.alloc(0, "l1", 0x100, 8 * MIB)
    big_dram.alloc(1, "dram", 0x10000, 5 * GIB)
    big_dram.flush()
    big_l1.flush()
    t = rig.monitor("-r", "50", lang="C")  # C locale: the ASCII glyphs
    pid_a, pid_b = str(big_dram.pid), str(big_l1.pid)

    def order(screen):
        rows = [l.split()[0] for l in screen.splitlines()
                if l.split() and l.split()[0] in (pid_a, pid_b)]
        return rows

    screen = t.wait_screen(lambda s: len(order(s)) == 2, "both processes of device 0")
    assert "> device 0" in screen  # ASCII selection mark
    assert order(screen) == [pid_a, pid_b]        # sorted by DRAM
    t.keys("s")
    screen = t.wait_screen(lambda s: "*L1" in s, "sort by L1")
    assert order(screen) == [pid_b, pid_a]
    t.keys("s", "s", "s", "s")  # BUFFERS, PID, NAME, back to DRAM
    t.wait_screen(lambda s: "*DRAM" in s and order(s) == [pid_a, pid_b], "sort by DRAM again")

    # Enter: the selected (first) process's buffers, largest first.
    t.keys("Enter")
    screen = t.wait_screen(lambda s: f"buffers of {pid_a}" in s, "the buffer view")
    assert "0x0000000000010000" in screen and "0x0000000090000000" in screen
    lines = screen.splitlines()
    sizes = [l for l in lines if "0x00000000" in l]
    assert "5.00 GiB" in sizes[0] and "2.00 GiB" in sizes[1], sizes
    t.keys("Enter")
    t.wait_screen(lambda s: "buffers of" not in s and "*DRAM" in s, "back to the processes")
    # Down, Enter: the other process.
    t.keys("Down", "Enter")
    t.wait_screen(lambda s: f"buffers of {pid_b}" in s, "the second process's buffers")
    t.keys("Escape")
    t.wait_screen(lambda s: "buffers of" not in s, "Esc closes the buffer view")

    # Right: device 1 is selected, its processes listed.
    t.keys("Right")
    screen = t.wait_screen(lambda s: "> device 1" in s, "device 1 selected")
    assert "history of device 1" in screen
    t.wait_screen(lambda s: order(s) == [pid_a], "device 1's one process")
    t.keys("Left")
    t.wait_screen(lambda s: "> device 0" in s, "device 0 selected again")

    # p pauses: new allocations do not show until resumed.
    t.keys("p")
    t.wait_screen(lambda s: "PAUSED" in s, "the pause")
    big_l1.alloc(2, "dram", 0x10000, BH_DRAM // 2)
    big_l1.flush()
    # The server has it (a fresh --once frame shows it) but the paused view does not.
    once = subprocess.run([binary("src/monitor/tt-alloc-monitor"), "--once"],
                          env=rig.server.client_env(TT_SYSROOT=rig.root),
                          capture_output=True, text=True, timeout=20)
    assert "50.0%" in once.stdout
    assert "50.0%" not in t.screen()
    t.keys("p")
    t.wait_screen(lambda s: "50.0%" in s and "PAUSED" not in s, "figures after resuming")

    # + and - change the refresh rate (50 -> 20 -> 50 -> 100).
    t.keys("+")
    t.wait_screen(lambda s: "refresh 20 ms" in s, "a faster refresh")
    t.keys("-", "-")
    t.wait_screen(lambda s: "refresh 100 ms" in s, "a slower refresh")

    # h shows the help; any key closes it.
    t.keys("h")
    t.wait_screen(lambda s: "tt-alloc-monitor keys" in s, "the help")
    t.keys("x")
    t.wait_screen(lambda s: "tt-alloc-monitor keys" not in s, "the help to close")
    quit_cleanly(t)


def test_resize_and_tiny_terminals(rig):
    c = rig.client()
    c.alloc(0, "dram", 0x1000, 3 * GIB)
    c.flush()
    t = rig.monitor("-r", "100")
    t.wait_screen(lambda s: "25.0%" in s, "the first frame")
    t.resize(50, 10)
    screen = t.wait_screen(lambda s: "25.0%" in s and len(s.splitlines()[0]) <= 50,
                           "the small frame")
    assert "server:" in screen.splitlines()[-1] or "server:" in screen
    t.resize(15, 2)
    t.wait_screen(lambda s: "terminal too small"[:15] in s, "the too-small notice")
    t.resize(20, 3)  # title, one line, status
    t.wait_screen(lambda s: "tt-alloc-monitor" in s and "server" in s, "a three-line frame")
    t.resize(132, 40)
    t.wait_screen(lambda s: "device 2  p150a" in s and "25.0%" in s, "the full frame again")
    quit_cleanly(t)


def test_server_goes_away_and_comes_back(rig):
    c = rig.client()
    c.alloc(0, "dram", 0x1000, 3 * GIB)
    c.flush()
    t = rig.monitor("-r", "100")
    t.wait_screen(lambda s: "25.0%" in s and "server: connected" in s, "the figures")
    rig.server.kill()
    screen = t.wait_screen(lambda s: "server: lost" in s, "the lost-server message")
    assert "25.0%" not in screen  # no stale figures presented as live
    assert "device 0  n150" in screen  # tt-kmd's devices are still shown
    assert t.dead() is None
    rig.server.start()
    # The client library reconnects and replays; the monitor reconnects too.
    t.wait_screen(lambda s: "25.0%" in s and "server: connected" in s, "the figures back")
    quit_cleanly(t)


def leak_rows(screen, pid):
    """The LEAK table rows of pid: [LEAK, time, pid, user, name, label, device, ...]."""
    return [l.split() for l in screen.splitlines()
            if l.split()[:1] == ["LEAK"] and l.split()[2:3] == [str(pid)]]


def test_leak_report_and_history(rig):
    leaker = rig.client()
    leaker.cmd("label nightly-eval")
    leaker.alloc(1, "dram", 0x1000, 256 * MIB)
    leaker.flush()
    t = rig.monitor("-r", "100", "-C")
    t.wait_screen(lambda s: str(leaker.pid) in s or "256 MiB" in s, "the leaker's memory")
    os.kill(leaker.pid, signal.SIGKILL)
    screen = t.wait_screen(lambda s: leak_rows(s, leaker.pid), "the leak report")
    [row] = leak_rows(screen, leaker.pid)
    # LEAK ENDED PID USER NAME LABEL DEVICE DRAM L1 OTHER BUFFERS: the column table
    assert row[4:7] == ["ttalloc-testcli", "nightly-eval", "1"], row
    assert row[7:9] == ["256", "MiB"] and row[-1] == "1", row
    assert "l: all" in screen
    # l: the leak history replaces the process list; l again: back.
    t.keys("l")
    screen = t.wait_screen(lambda s: "leak history: 1 process ended" in s, "the leak history")
    header = next(l for l in screen.splitlines() if "ENDED" in l).split()
    assert header == ["ENDED", "PID", "USER", "NAME", "LABEL", "DEVICE", "DRAM", "L1", "OTHER",
                      "BUFFERS"]
    assert leak_rows(screen, leaker.pid)
    assert "*DRAM" not in screen  # the process list is replaced
    t.keys("l")
    t.wait_screen(lambda s: "leak history" not in s and "*DRAM" in s, "the process list again")
    t.keys("l")
    t.wait_screen(lambda s: "leak history" in s, "the leak history again")
    t.keys("Escape")
    t.wait_screen(lambda s: "leak history" not in s and "*DRAM" in s, "Esc closes it")
    quit_cleanly(t)


def proc_rows(screen, pids):
    """The process-list rows of these pids, in screen order (split in words)."""
    pids = {str(p) for p in pids}
    return [l.split() for l in screen.splitlines() if l.split()[:1] and l.split()[0] in pids]


def test_filter_reverse_sort_and_kill(rig):
    a, b, c = rig.client(), rig.client(), rig.client()
    a.cmd("label alpha-run")
    b.cmd("label beta-run")
    a.alloc(0, "dram", 0x1000, 3 * GIB)
    b.alloc(0, "dram", 0x1000, 2 * GIB)
    c.alloc(0, "dram", 0x1000, 1 * GIB)
    for p in (a, b, c):
        p.flush()
    t = rig.monitor("-r", "100", width=140)
    all3 = [a.pid, b.pid, c.pid]
    screen = t.wait_screen(lambda s: len(proc_rows(s, all3)) == 3, "three processes")
    assert [int(r[0]) for r in proc_rows(screen, all3)] == all3  # DRAM, largest first
    # Labels have their own column.
    rows = {int(r[0]): r for r in proc_rows(screen, all3)}
    assert rows[a.pid][3] == "alpha-run" and rows[b.pid][3] == "beta-run"
    assert rows[a.pid][-1] == "server"

    # r reverses the order, I (htop's key) too; the status line says so.
    t.keys("r")
    screen = t.wait_screen(lambda s: "reversed" in s, "the reversed sort")
    assert [int(r[0]) for r in proc_rows(screen, all3)] == all3[::-1]
    t.keys("I")
    screen = t.wait_screen(lambda s: "reversed" not in s and
                           [int(r[0]) for r in proc_rows(s, all3)] == all3, "the sort back")

    # / filters by label (case-insensitive), Esc clears.
    t.keys("/")
    t.wait_screen(lambda s: "filter (name, label or PID)" in s, "the filter line")
    t.keys("B", "E", "T", "A")
    screen = t.wait_screen(lambda s: len(proc_rows(s, all3)) == 1, "only beta")
    assert int(proc_rows(screen, all3)[0][0]) == b.pid
    t.keys("Enter")
    t.wait_screen(lambda s: 'filter "BETA"' in s, "the filter kept in the status line")
    t.keys("Escape")
    t.wait_screen(lambda s: len(proc_rows(s, all3)) == 3 and 'filter "' not in s, "filter cleared")
    # ... by PID, and by name (every one is ttalloc-testcli).
    t.keys("/", *str(c.pid), "Enter")
    screen = t.wait_screen(lambda s: len(proc_rows(s, all3)) == 1, "only c by PID")
    assert int(proc_rows(screen, all3)[0][0]) == c.pid
    t.keys("Escape")
    t.keys("/", *"testcli", "Enter")
    t.wait_screen(lambda s: len(proc_rows(s, all3)) == 3 and 'filter "testcli"' in s, "by name")
    t.keys("Escape")
    t.keys("/", *"nomatch", "Enter")
    t.wait_screen(lambda s: "no process matches the filter" in s, "an empty result")
    t.keys("Escape")
    t.wait_screen(lambda s: len(proc_rows(s, all3)) == 3, "all three again")

    # k asks; n refuses: nothing is sent.
    t.keys("/", *"beta", "Enter")
    t.wait_screen(lambda s: len(proc_rows(s, all3)) == 1, "only beta")
    t.keys("k")
    t.wait_screen(lambda s: f"Send SIGTERM to {b.pid} (ttalloc-testcli)? y/n" in s, "the question")
    t.keys("n")
    t.wait_screen(lambda s: f"SIGTERM not sent to {b.pid}" in s, "the refusal")
    assert b.proc.poll() is None
    # k, y: the process gets SIGTERM and dies of it.
    t.keys("k")
    t.wait_screen(lambda s: "y/n" in s, "the question again")
    t.keys("y")
    t.wait_screen(lambda s: f"SIGTERM sent to {b.pid} (ttalloc-testcli)" in s, "the result")
    assert b.proc.wait(timeout=20) == -signal.SIGTERM
    assert a.proc.poll() is None and c.proc.poll() is None
    quit_cleanly(t)


def test_columns_fit_the_terminal(rig):
    c = rig.client()
    label = "llama-3.1-70b-instruct-tp8-batch32"
    c.cmd(f"label {label}")
    c.alloc(0, "dram", 0x1000, 3 * GIB)
    c.alloc(0, "l1", 0x2000, MIB)
    c.flush()

    def header(screen):
        return next(l for l in screen.splitlines() if "*DRAM" in l).split()
    t = rig.monitor("-r", "100", width=200, height=40)
    screen = t.wait_screen(lambda s: str(c.pid) in s and label in s, "the wide list")
    assert header(screen) == ["PID", "USER", "NAME", "LABEL", "*DRAM", "L1", "OTHER", "BUFFERS",
                              "FROM"]
    [row] = proc_rows(screen, [c.pid])
    assert row[2] == "ttalloc-testcli" and row[3] == label  # nothing cut
    # Narrower: the least needed columns go first (BUFFERS, OTHER, USER), and
    # what is left is cut to its column, never spilling into the next.
    t.resize(60, 30)
    screen = t.wait_screen(lambda s: "USER" not in s and str(c.pid) in s, "the narrow list")
    assert header(screen) == ["PID", "NAME", "LABEL", "*DRAM", "L1", "FROM"]
    [row] = proc_rows(screen, [c.pid])
    assert row[1:3] == ["ttalloc-test", label[:8]] and row[3:] == ["3.00", "GiB", "1.00", "MiB",
                                                                   "server"], row
    assert all(len(l) <= 60 for l in screen.splitlines())
    t.resize(40, 30)
    screen = t.wait_screen(lambda s: "LABEL" not in s and str(c.pid) in s, "the narrowest list")
    assert header(screen) == ["PID", "NAME", "*DRAM"]
    [row] = proc_rows(screen, [c.pid])
    assert row[1:] == ["ttalloc-testcli", "3.00", "GiB"], row  # the name has room again
    t.resize(90, 30)
    screen = t.wait_screen(lambda s: "LABEL" in s, "a middle width")
    assert header(screen) == ["PID", "USER", "NAME", "LABEL", "*DRAM", "L1", "OTHER", "BUFFERS",
                              "FROM"]
    assert all(len(l) <= 90 for l in screen.splitlines())
    quit_cleanly(t)


def test_hostile_and_utf8_labels(rig):
    """Labels are any user's bytes: an ESC sequence that would clear the
    screen and set the window title shows as '?' text, and a UTF-8 label is
    cut at whole characters, its columns still lined up."""
    evil, wide = rig.client(), rig.client()
    evil.cmd("label \x1b[2J\x1b]0;owned\x07\u009b31mX")
    wide.cmd("label " + "\u00e9" * 30)
    for c in (evil, wide):
        c.alloc(0, "dram", 0x1000, MIB)
        c.flush()
    t = rig.monitor("-r", "100", width=100, height=30)
    screen = t.wait_screen(lambda s: str(evil.pid) in s and str(wide.pid) in s, "both rows")
    assert "?[2J?]0;owned??31mX"[:10] in screen, screen
    assert "owned" not in t.tmux("display-message", "-p", "#{pane_title}").stdout
    header = next(l for l in screen.splitlines() if "*DRAM" in l)
    rows = {pid: next(l for l in screen.splitlines() if l.split() and l.split()[0] == str(pid))
            for pid in (evil.pid, wide.pid)}
    # DRAM is right-aligned: "1.00 MiB" ends where "*DRAM" does, in both rows
    end = header.index("*DRAM") + len("*DRAM")
    for row in rows.values():
        assert row.index(" MiB") + len(" MiB") == end, (header, row)
    assert "\u00e9" * 5 in rows[wide.pid]
    assert all(len(l) <= 100 for l in screen.splitlines())
    quit_cleanly(t)


def test_no_server_processes_from_pids_and_shm(tmp_path):
    """Without a server, tt-smi's sources: pids files and TT-Metal's SHM."""
    root = make_sysroot(tmp_path, "n150,n300")
    holder = subprocess.Popen(["sleep", "600"])
    # a Wormhole has no tt_asic_id: UMD names its region by a board id (tt_serial here)
    asic = int((tmp_path / "root/sys/class/tenstorrent/tenstorrent!0/tt_serial")
               .read_text().strip(), 16)
    (tmp_path / "root/dev/shm").mkdir(exist_ok=True)
    writer = subprocess.Popen([binary("src/shm/tt-alloc-shm"), "write", "--dir",
                               str(tmp_path / "root/dev/shm"), "--chip-id", str(asic),
                               "--device", "0", "--alloc", f"dram:{GIB}"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, **SANITIZER_ENV))
    t = Tmux(tmp_path)
    srv = Server(tmp_path, extra_args=["--sysroot", root])
    try:
        assert writer.stdout.readline().startswith("ready")
        (tmp_path / "root/proc/driver/tenstorrent/1/pids").write_text(f"{holder.pid}\n")
        env = dict(SANITIZER_ENV, TERM="xterm", LANG="C.UTF-8", TT_ALLOC_SOCKET=srv.socket,
                   TT_SYSROOT=root)
        t.start(["-r", "100"], env, 130, 40)
        screen = t.wait_screen(lambda s: proc_rows(s, [writer.pid]), "the SHM process")
        [row] = proc_rows(screen, [writer.pid])
        assert row[-1] == "shm" and "1.00" in row and row[-2] == "-", row  # no buffer count
        assert "no server: memory from TT-Metal's SHM" in screen
        assert "1.00 GiB / 12.0 GiB" in screen and "server: not reachable" in screen
        t.keys("Right")
        screen = t.wait_screen(lambda s: proc_rows(s, [holder.pid]), "the pids-file process")
        [row] = proc_rows(screen, [holder.pid])
        assert row[1:3] == ["root", "sleep"] and row[-1] == "pids"
        assert row[-5:-1] == ["-", "-", "-", "-"], row  # holds the device, figures unknown
        t.keys("Left")
        # A server comes: its figures (it reads the same SHM); then it goes again.
        srv.start()
        screen = t.wait_screen(lambda s: "server: connected" in s and proc_rows(s, [writer.pid]),
                               "the server's view")
        assert proc_rows(screen, [writer.pid])[0][-1] == "shm"
        srv.kill()
        t.wait_screen(lambda s: "server: lost" in s and proc_rows(s, [writer.pid]),
                      "lost, and the SHM process found again")
        assert t.dead() is None
        quit_cleanly(t)
    finally:
        t.kill()
        srv.stop()
        writer.stdin.close()
        writer.wait(timeout=20)
        holder.kill()
        holder.wait()


def test_tmux_killed_ends_the_monitor(rig):
    """The pane (and its tmux server) killed under a running monitor: it ends."""
    t = rig.monitor("-r", "100")
    t.wait_screen(lambda s: "server: connected" in s, "the first frame")
    pid = t.pid
    t.tmux("kill-server", check=False)

    def gone():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    wait_for(gone, timeout=10, interval=0.02, what="the monitor to end with its pane")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the monitor as another user")
def test_kill_refused_by_the_kernel(tmp_path):
    """The monitor as `nobody` asks to SIGTERM root's process: the kernel says EPERM."""
    base = tempfile.mkdtemp(prefix="ttmon-")
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "root")
        subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", root, "--devices", "n150"],
                       check=True, capture_output=True)
        holder = subprocess.Popen(["sleep", "600"])
        with open(os.path.join(root, "proc/driver/tenstorrent/0/pids"), "w") as f:
            f.write(f"{holder.pid}\n")
        t = Tmux(tmp_path)
        try:
            env = dict(SANITIZER_ENV, TERM="xterm", LANG="C.UTF-8",
                       TT_ALLOC_SOCKET=os.path.join(base, "nobody.sock"), TT_SYSROOT=root)
            t.start(["-r", "100"], env, 120, 30,
                    prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
            t.wait_screen(lambda s: proc_rows(s, [holder.pid]), "root's process")
            t.keys("k")
            t.wait_screen(lambda s: f"Send SIGTERM to {holder.pid} (sleep)? y/n" in s,
                          "the question")
            t.keys("y")
            t.wait_screen(lambda s: "Operation not permitted (EPERM)" in s, "the kernel's refusal")
            assert holder.poll() is None
            quit_cleanly(t)
        finally:
            t.kill()
            holder.kill()
            holder.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_no_colour(rig):
    c = rig.client()
    c.alloc(0, "dram", 0x1000, 11 * GIB)  # red if coloured
    c.flush()
    t = rig.monitor("-r", "100", extra_env={"NO_COLOR": "1"})
    t.wait_screen(lambda s: "91.7%" in s, "the figures")
    colour = t.screen(escapes=True)
    for sgr in ("\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m", "\x1b[41m"):
        assert sgr not in colour
    quit_cleanly(t)


def test_many_devices_scroll(tmp_path):
    root = make_sysroot(tmp_path, ",".join(["n150"] * 32))
    srv = Server(tmp_path, extra_args=["--sysroot", root]).start()
    t = Tmux(tmp_path)
    try:
        env = dict(SANITIZER_ENV, TERM="xterm", LANG="C.UTF-8", TT_ALLOC_SOCKET=srv.socket,
                   TT_SYSROOT=root)
        t.start(["-r", "100"], env, 100, 30)
        t.wait_screen(lambda s: "of 32" in s and "device 0  n150" in s, "the first devices")
        t.keys(*["Right"] * 31)
        screen = t.wait_screen(lambda s: "history of device 31" in s, "device 31 selected")
        assert "device 31  n150" in screen and "of 32" in screen
        quit_cleanly(t)
    finally:
        t.kill()
        srv.stop()


def test_no_devices_no_server(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    t = Tmux(tmp_path)
    try:
        env = dict(SANITIZER_ENV, TERM="xterm", LANG="C.UTF-8",
                   TT_ALLOC_SOCKET=str(tmp_path / "nobody.sock"), TT_SYSROOT=str(empty))
        t.start([], env, 100, 20)
        screen = t.wait_screen(lambda s: "no Tenstorrent devices" in s, "the no-device message")
        assert "not reachable" in screen
        quit_cleanly(t)
    finally:
        t.kill()
